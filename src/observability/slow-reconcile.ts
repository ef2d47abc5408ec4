// SlowReconcile (DESIGN.md section 4): a reconcile slower than the threshold records one Warning
// on its object naming the slowest step, once per episode: the episode lasts while the key's
// reconciles stay slow and ends with the first one under the threshold, so a resync of a slow
// object does not repeat it. Pure decision logic; the Controller measures, setup.ts records.
import { slowestStep } from './reconcile-context.js';

/** The default --slow-reconcile-threshold. */
export const SLOW_RECONCILE_THRESHOLD_MS = 10_000;

export interface SlowReconcile {
  durationMs: number;
  thresholdMs: number;
  /** The slowest named step and its time; undefined when the time went outside any step. */
  slowest?: { step: string; ms: number };
}

export class SlowReconcileEpisodes {
  private readonly slow = new Set<string>();

  constructor(readonly thresholdMs: number) {}

  /** A reconcile of `key` finished: the SlowReconcile to report, or undefined. */
  finished(key: string, durationMs: number, steps: ReadonlyMap<string, number>): SlowReconcile | undefined {
    if (!(this.thresholdMs > 0) || durationMs < this.thresholdMs) {
      this.slow.delete(key);
      return undefined;
    }
    if (this.slow.has(key)) return undefined;
    this.slow.add(key);
    return { durationMs, thresholdMs: this.thresholdMs, slowest: slowestStep(steps) };
  }

  /** Keys in a slow episode now (tests, diagnostics). */
  get size(): number {
    return this.slow.size;
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** The event message: how long, the threshold, the slowest step. */
export function slowReconcileMessage(kind: string, name: string, slow: SlowReconcile): string {
  const step = slow.slowest ? `slowest step: ${slow.slowest.step} (${seconds(slow.slowest.ms)})` : 'slowest step: none named (time spent outside the named steps)';
  return `Reconcile of ${kind} '${name}' took ${seconds(slow.durationMs)} (threshold ${seconds(slow.thresholdMs)}); ${step}`.slice(0, 1024);
}

/** Parses a duration: `500ms`, `10s`, `2m`, or a number of seconds. */
export function parseDurationMs(what: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(text);
  if (!m) throw new Error(`${what} must be a duration like 500ms, 10s or 2m, got '${text.slice(0, 40)}'`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (!Number.isFinite(n) || n > 3_600_000) throw new Error(`${what} must be at most 1 h, got '${text.slice(0, 40)}'`);
  return Math.round(n);
}
