// Small helpers the newer benchmarks share: the machine's load line, a markdown table, a
// percentile, a bounded-concurrency pool and a settled heap reading.
import { availableParallelism, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_CONFIG, type OperatorConfig } from '../src/config.js';
import { loadApiConfig } from '../src/http/config.js';
import { createLogger } from '../src/log.js';
import { startOvim, type Ovim } from '../src/main.js';

/** "2 CPUs, load average 1.2 0.9 0.9": printed at a bench's start and end (the machine is shared). */
export function loadLine(): string {
  return `${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

/** A markdown table, the first column left-aligned and the others right-aligned. */
export function table(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((v, c) => (c === 0 ? v.padEnd(widths[c] ?? 0) : v.padStart(widths[c] ?? 0))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [`\n${title}`, line(header), rule, ...cells.slice(1).map(line)].join('\n');
}

/** The p-th percentile of ascending values (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Runs `work` over the items with at most `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i] as T, i);
      }
    }),
  );
}

/** The garbage collector as a function (without --expose-gc on the command line). */
export function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Heap and RSS after a few full collections: what the process keeps, not what it is collecting. */
export function settledMemory(gc: () => void): { heapUsed: number; rss: number } {
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

/** A positive integer from the environment, or the default. */
/** A positive integer from `--flag N`, else the environment variable, else the fallback. */
export function option(flag: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(flag);
  const text = i >= 0 ? process.argv[i + 1] : process.env[env];
  if (text === undefined) return fallback;
  const n = Number.parseInt(text, 10);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} / ${env} must be a positive integer, got '${text}'`);
  return n;
}

export function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number.parseInt(text, 10);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${text}'`);
  return n;
}

export const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/**
 * The whole program in-process as deployed, minus the archive: the admission webhook on loopback
 * (`webhookPort`), no periodic resync (a bench starts its own), the API on a free port.
 */
export function startProgram(kc: KubeConfig, webhookPort: number, jwtSecret: string): Promise<Ovim> {
  const config: OperatorConfig = {
    ...DEFAULT_CONFIG,
    resyncPeriodMs: 0,
    history: { ...DEFAULT_CONFIG.history, path: null },
    webhook: { ...DEFAULT_CONFIG.webhook, port: webhookPort, host: '127.0.0.1', url: `https://127.0.0.1:${webhookPort}` },
  };
  // Probes and /metrics on the API's own (ephemeral) listener: the defaults :8081 and :8082
  // would collide with any other program on the machine, a second bench included.
  const api = { ...loadApiConfig({ OVIM_JWT_SECRET: jwtSecret }), address: '127.0.0.1:0', healthProbeAddress: undefined, metricsAddress: undefined };
  return startOvim(kc, config, api, createLogger('error', true));
}
