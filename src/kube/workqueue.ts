// A rate-limited work queue with client-go / controller-runtime semantics:
// - a key waiting in the queue is there once (duplicates collapse);
// - a key being processed is never handed out again until done(); an add in the meantime marks
//   it dirty and it is queued again when done() is called;
// - addRateLimited() delays by max(per-key exponential backoff, overall token bucket), the
//   default controller rate limiter (5 ms .. 1000 s per key; 10 qps with a burst of 100);
// - addAfter() delays an add (requeueAfter); the earliest pending delay of a key wins.
import type { Metrics } from '../metrics.js';

export interface RateLimiter {
  /** How long to wait before the key may be processed again. */
  when(key: string): number;
  forget(key: string): void;
  numRequeues(key: string): number;
}

/** Per-key exponential backoff: base * 2^failures, capped. */
export class ItemExponentialFailureRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1_000_000,
  ) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = this.baseMs * Math.pow(2, n);
    return Math.min(delay, this.maxMs);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/** An overall token bucket (golang.org/x/time/rate semantics: reservations may go negative). */
export class BucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps = 10,
    private readonly burst = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  when(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(): void {}

  numRequeues(): number {
    return 0;
  }
}

/** The worst (longest) delay of several limiters; requeue counts from the first. */
export class MaxOfRateLimiter implements RateLimiter {
  constructor(private readonly limiters: RateLimiter[]) {}

  when(key: string): number {
    return Math.max(...this.limiters.map((l) => l.when(key)));
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: string): number {
    return Math.max(...this.limiters.map((l) => l.numRequeues(key)));
  }
}

export function defaultControllerRateLimiter(): RateLimiter {
  return new MaxOfRateLimiter([new ItemExponentialFailureRateLimiter(5, 1_000_000), new BucketRateLimiter(10, 100)]);
}

export interface WorkQueueOptions {
  /** Name for the workqueue_* metrics. */
  name: string;
  rateLimiter?: RateLimiter;
  metrics?: Metrics;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private readonly waiting = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private shuttingDown = false;
  private discarding = false;
  readonly rateLimiter: RateLimiter;
  readonly name: string;
  private readonly metrics: Metrics | undefined;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter();
    this.metrics = options.metrics;
  }

  /** Keys waiting to be handed out. */
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Keys waiting, being processed, or scheduled for later. */
  get pending(): number {
    return this.length + this.processing.size + this.waiting.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) return;
    this.metrics?.workqueueAdds.inc({ name: this.name });
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds the key after `delayMs`; a pending earlier add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const existing = this.waiting.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
      this.notifyIdle();
    }, delayMs);
    timer.unref();
    this.waiting.set(key, { at, timer });
  }

  addRateLimited(key: string): void {
    this.metrics?.workqueueRetries.inc({ name: this.name });
    this.addAfter(key, this.rateLimiter.when(key));
  }

  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }

  /** The next key, or undefined once the queue is shut down and empty. */
  get(): Promise<string | undefined> {
    if (this.length > 0) return Promise.resolve(this.take());
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined) {
      this.metrics?.workqueueWorkDuration.observe({ name: this.name }, (performance.now() - started) / 1000);
      this.startedAt.delete(key);
    }
    if (this.dirty.has(key)) this.push(key);
    this.notifyIdle();
  }

  /**
   * Stops handing out new keys once empty; waiting getters receive undefined. Pending delays are
   * dropped. With `discardQueued` the queued keys are dropped too, so only reconciles already
   * running finish (a replica that lost its lease must stop writing at once).
   */
  shutDown(options: { discardQueued?: boolean } = {}): void {
    this.shuttingDown = true;
    if (options.discardQueued) {
      this.discarding = true;
      this.queue.length = 0;
      this.head = 0;
      this.dirty.clear();
      this.addedAt.clear();
      this.metrics?.workqueueDepth.set({ name: this.name }, 0);
    }
    for (const { timer } of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
    if (this.length === 0) for (const g of this.getters.splice(0)) g(undefined);
    this.notifyIdle();
  }

  /** Like shutDown(), then resolves when every key being processed is done (or after timeoutMs). */
  shutDownWithDrain(timeoutMs = 30_000, options: { discardQueued?: boolean } = {}): Promise<boolean> {
    this.shutDown(options);
    return this.waitIdle(timeoutMs);
  }

  /** Resolves when nothing is queued or being processed (delayed adds are not waited for). */
  async waitIdle(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.length > 0 || this.processing.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const waiter = () => {
          clearTimeout(t);
          resolve();
        };
        // A waiter whose timer fired is taken out again, so long waits do not pile them up.
        const t = setTimeout(() => {
          const i = this.idleWaiters.indexOf(waiter);
          if (i >= 0) this.idleWaiters.splice(i, 1);
          resolve();
        }, Math.min(left, 1_000));
        this.idleWaiters.push(waiter);
      });
    }
    return true;
  }

  // --- Observation (tests, diagnostics): read-only, kept apart from the queue's logic. ---

  /** Keys handed out and not yet done(). */
  get processingCount(): number {
    return this.processing.size;
  }

  /** Seconds of work in progress: summed over the keys being processed, and the longest. */
  unfinishedWork(now = performance.now()): { total: number; longest: number } {
    let total = 0;
    let longest = 0;
    for (const started of this.startedAt.values()) {
      const s = (now - started) / 1000;
      total += s;
      if (s > longest) longest = s;
    }
    return { total, longest };
  }

  /** Delayed adds (addAfter, addRateLimited) that fire within `horizonMs` from now. */
  delayedWithin(horizonMs: number): number {
    const limit = Date.now() + horizonMs;
    let n = 0;
    for (const { at } of this.waiting.values()) if (at <= limit) n++;
    return n;
  }

  private push(key: string): void {
    if (this.discarding) return;
    this.queue.push(key);
    this.addedAt.set(key, performance.now());
    this.metrics?.workqueueDepth.set({ name: this.name }, this.length);
    const getter = this.getters.shift();
    if (getter) getter(this.take());
  }

  private take(): string {
    // Only called while length > 0: the slot holds a key.
    const key = this.queue[this.head++] as string;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    const added = this.addedAt.get(key);
    if (added !== undefined) {
      this.metrics?.workqueueQueueDuration.observe({ name: this.name }, (performance.now() - added) / 1000);
      this.addedAt.delete(key);
    }
    this.startedAt.set(key, performance.now());
    this.metrics?.workqueueDepth.set({ name: this.name }, this.length);
    if (this.shuttingDown && this.length === 0) for (const g of this.getters.splice(0)) g(undefined);
    return key;
  }

  private notifyIdle(): void {
    if (this.processing.size === 0 && this.length === 0) for (const w of this.idleWaiters.splice(0)) w();
    else if (this.shuttingDown) for (const w of this.idleWaiters.splice(0)) w();
  }
}
