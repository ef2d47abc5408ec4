// One delivery queue per route: a bounded backlog (overflow counted, never blocking the event
// stream), one delivery in flight, retries with exponential backoff and full jitter. A slow or
// dead sink only ever delays its own route.
import type { Delivery } from './format.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseMs: 500, capMs: 30_000 };

/** Delay before attempt `attempt + 1` (attempt ≥ 1): base·2^(attempt-1), capped, jittered in [½, 1]. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** What one attempt came to. `retry: false` ends the delivery at once (4xx, refused address). */
export type AttemptOutcome = { ok: true } | { ok: false; error: string; retry: boolean; retryAfterMs?: number };

export interface QueueHandlers {
  attempt(d: Delivery): Promise<AttemptOutcome>;
  delivered(d: Delivery): void;
  failed(d: Delivery, error: string, attempts: number): void;
  /** The backlog was full; called for each dropped delivery. */
  dropped(d: Delivery): void;
}

export class RouteQueue {
  private readonly backlog: Delivery[] = [];
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handlers: QueueHandlers,
    private readonly maxBacklog: number,
    public retry: RetryPolicy = DEFAULT_RETRY,
    private readonly random: () => number = Math.random,
  ) {}

  get length(): number {
    return this.backlog.length + (this.running ? 1 : 0);
  }

  push(d: Delivery): boolean {
    if (this.closed) return false;
    if (this.backlog.length >= this.maxBacklog) {
      this.handlers.dropped(d);
      return false;
    }
    this.backlog.push(d);
    if (!this.running) void this.run();
    return true;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let d = this.backlog.shift(); d && !this.closed; d = this.backlog.shift()) await this.deliver(d);
    } finally {
      this.running = false;
      if (this.backlog.length === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async deliver(d: Delivery): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let outcome: AttemptOutcome;
      try {
        outcome = await this.handlers.attempt(d);
      } catch (err) {
        outcome = { ok: false, error: err instanceof Error ? err.message : String(err), retry: true };
      }
      if (outcome.ok) return this.handlers.delivered(d);
      if (!outcome.retry || attempt >= this.retry.maxAttempts || this.closed) return this.handlers.failed(d, outcome.error, attempt);
      const delay = Math.max(backoffDelay(this.retry, attempt, this.random), Math.min(outcome.retryAfterMs ?? 0, this.retry.capMs));
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, delay);
      });
      this.wake = undefined;
      if (this.closed) return;
    }
  }

  /** Resolves when nothing is queued or in flight (true), or at the timeout (false). */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Drops the backlog and ends a pending backoff; the attempt in flight finishes. */
  close(): void {
    this.closed = true;
    this.backlog.length = 0;
    clearTimeout(this.timer);
    this.wake?.();
  }
}
