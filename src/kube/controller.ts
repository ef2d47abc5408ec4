// The controller loop: informer events → keys in a work queue → N workers calling reconcile.
// A key is never reconciled by two workers at once (the queue guarantees it); errors requeue
// with per-key backoff; results may ask for a requeue after a delay. Reconcile counts, errors,
// durations and active workers go to the controller-runtime metrics.
import { setMaxListeners } from 'node:events';
import type { Logger } from 'winston';
import type { Metrics } from '../metrics.js';
import { objectKey, type InformerEvent } from './informer.js';
import { ReconcileStepError } from './errors.js';
import { requestScope } from './rest.js';
import type { Debounce } from './debounce.js';
import { WorkQueue, type RateLimiter } from './workqueue.js';
import type { AnyKubeObject } from './meta.js';
import { reconcileFields, runInReconcile, type ReconcileContext } from '../observability/reconcile-context.js';
import { controllerSeries, isPanic, type ControllerSeries } from '../observability/runtime-metrics.js';
import { SLOW_RECONCILE_THRESHOLD_MS, SlowReconcileEpisodes, type SlowReconcile } from '../observability/slow-reconcile.js';

export interface ReconcileResult {
  /** Reconcile again after this many ms (the key is forgotten by the rate limiter first). */
  requeueAfter?: number;
  /** Reconcile again with rate-limited backoff, without counting an error. */
  requeue?: boolean;
}

/**
 * Reconciles one key. `signal` aborts when the controller stops without waiting (a lost lease,
 * or a drain that ran out of time); every KubeClient request made inside carries it anyway
 * (requestScope), so in-flight writes are cancelled, not only the next step.
 */
export type Reconciler = (key: string, signal: AbortSignal) => Promise<ReconcileResult | void>;

/** Maps an object of a watched kind to the keys of the controller's primary objects. */
export type KeyMapper<T> = (obj: T, old?: T) => string[] | string | undefined;

/** What the controller needs of an informer (ResilientInformer has it). */
export interface EventSource<T> {
  on(event: InformerEvent, handler: (obj: T, old?: T) => void): unknown;
  list(): T[];
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  workers?: number;
  metrics?: Metrics;
  logger?: Logger;
  rateLimiter?: RateLimiter;
  /**
   * Called once when a key has kept failing for `persistentAfterMs` (the streak ends on the
   * first success): the place to report a persistent error, e.g. as a Warning event. A count
   * of fast retries is no measure: five failures at the 5 ms base backoff last 75 ms.
   */
  onPersistentError?: (key: string, err: unknown, failure: FailureStreak) => void;
  /** How long a key must keep failing before it is reported (default 60 s). */
  persistentAfterMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Period of the full resync (re-enqueues every primary key); 0 disables it. */
  resyncPeriodMs?: number;
  /** The kind of the primary objects (the `controllerKind` log field). */
  kind?: string;
  /** A reconcile slower than this is slow (default 10 s; 0 turns it off). */
  slowReconcileThresholdMs?: number;
  /** Called once per slow episode of a key (see src/observability/slow-reconcile.ts). */
  onSlowReconcile?: (key: string, slow: SlowReconcile) => void;
}

/** A key's failures in a row: since when, how many. */
export interface FailureStreak {
  sinceMs: number;
  failures: number;
  /** How long it has been failing when reported. */
  failingForMs: number;
}

/** The default time a failure must last before it counts as persistent (ReconcileFailed). */
export const PERSISTENT_FAILURE_MS = 60_000;

export interface ControllerStats {
  reconciles: number;
  errors: number;
  requeues: number;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly stats: ControllerStats = { reconciles: 0, errors: 0, requeues: 0 };
  private readonly workers: number;
  private readonly running: Promise<void>[] = [];
  private primaryKeys: (() => string[]) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private active = 0;
  private started = false;
  /** Aborted when running reconciles must stop (see stop()). */
  private readonly lifetime = new AbortController();
  /** Keys failing now: when their streak began, how often, whether it was reported. */
  private readonly failing = new Map<string, { sinceMs: number; failures: number; reported: boolean }>();
  private readonly series: ControllerSeries | undefined;
  private readonly slow: SlowReconcileEpisodes;
  private readonly debounces: Debounce[] = [];

  constructor(private readonly options: ControllerOptions) {
    // Every request of every running reconcile listens to this one signal: expected, not a leak.
    setMaxListeners(0, this.lifetime.signal);
    this.name = options.name;
    this.workers = Math.max(1, options.workers ?? 1);
    this.queue = new WorkQueue({ name: options.name, rateLimiter: options.rateLimiter, metrics: options.metrics });
    this.series = options.metrics && controllerSeries(options.metrics, this.name, this.workers, this.queue);
    this.slow = new SlowReconcileEpisodes(options.slowReconcileThresholdMs ?? SLOW_RECONCILE_THRESHOLD_MS);
  }

  /** The primary kind: every add/update/delete enqueues the object's own key; resyncs list it. */
  watchPrimary<T extends AnyKubeObject>(informer: EventSource<T>): this {
    this.primaryKeys = () => informer.list().map(objectKey);
    return this.watch(informer, (obj) => objectKey(obj));
  }

  /**
   * A related kind: `map` turns each event into the keys to reconcile (e.g. owner lookups).
   * With `delayMs`, the keys are added after that delay, so that a burst of related events
   * collapses into one reconcile.
   */
  watch<T extends AnyKubeObject>(informer: EventSource<T>, map: KeyMapper<T>, options: { delayMs?: number } = {}): this {
    const enqueue = (obj: T, old?: T) => {
      let keys: string[] | string | undefined;
      try {
        keys = map(obj, old);
      } catch (err) {
        this.options.logger?.warn(`key mapping failed: ${(err as Error).message}`, { controller: this.name });
        return;
      }
      for (const key of typeof keys === 'string' ? [keys] : (keys ?? [])) {
        if (!key) continue;
        if (options.delayMs) this.queue.addAfter(key, options.delayMs);
        else this.queue.add(key);
      }
    };
    informer.on('add', (obj) => enqueue(obj));
    informer.on('update', (obj, old) => enqueue(obj, old));
    informer.on('delete', (obj) => enqueue(obj));
    return this;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /**
   * Makes a debounce that enqueues into this controller part of its pending work: counted by
   * `debouncing` (so "nothing left to do" also waits for it) and stopped with the controller.
   */
  track(debounce: Debounce): this {
    this.debounces.push(debounce);
    return this;
  }

  /** Keys whose debounced enqueue is still to come. */
  get debouncing(): number {
    return this.debounces.reduce((n, d) => n + d.size, 0);
  }

  /** Enqueues every primary key (what a periodic resync does). */
  resyncAll(): number {
    const keys = this.primaryKeys?.() ?? [];
    for (const key of keys) this.queue.add(key);
    return keys.length;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (let i = 0; i < this.workers; i++) this.running.push(this.worker());
    const period = this.options.resyncPeriodMs ?? 0;
    if (period > 0) {
      this.resyncTimer = setInterval(() => this.resyncAll(), period);
      this.resyncTimer.unref();
    }
  }

  /** Resolves when the queue is empty and no worker is busy. */
  waitIdle(timeoutMs = 30_000): Promise<boolean> {
    return this.queue.waitIdle(timeoutMs);
  }

  /**
   * Stops taking new work, lets running reconciles finish (up to timeoutMs), then returns. Keys
   * still queued are reconciled first unless `discardQueued` (lost leadership): then the running
   * reconciles are aborted at once, since another replica may be writing already. A drain that
   * runs out of time aborts what still runs.
   */
  async stop(timeoutMs = 30_000, options: { discardQueued?: boolean } = {}): Promise<boolean> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const d of this.debounces) d.stop();
    if (!this.started) {
      // Never started (a follower under leader election): nothing runs, nothing to drain.
      this.queue.shutDown();
      return true;
    }
    if (options.discardQueued) this.lifetime.abort(new Error(`controller ${this.name} stopped: the lease was lost`));
    let drained = await this.queue.shutDownWithDrain(timeoutMs, options);
    if (!drained) {
      this.lifetime.abort(new Error(`controller ${this.name} stopped: the drain timed out`));
      // Aborted requests fail promptly; give the reconciles a moment to unwind.
      drained = await this.queue.waitIdle(5_000);
    }
    if (drained) await Promise.all(this.running);
    return drained;
  }

  private reportSlow(key: string, elapsedMs: number, context: ReconcileContext, logger: Logger | undefined): void {
    if (elapsedMs >= this.slow.thresholdMs && this.slow.thresholdMs > 0) this.series?.slowReconciles.inc({ controller: this.name });
    const slow = this.slow.finished(key, elapsedMs, context.steps);
    if (!slow) return;
    logger?.warn(`slow reconcile: ${Math.round(elapsedMs)} ms`, { ms: Math.round(elapsedMs), slowestStep: slow.slowest?.step });
    try {
      this.options.onSlowReconcile?.(key, slow);
    } catch {
      // Reporting must never break the loop.
    }
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    const { metrics } = this.options;
    const labels = { controller: this.name };
    // controller-runtime's fields on every line of this reconcile (src/log.ts adds them to the
    // reconciler's own lines too).
    const context: ReconcileContext = { fields: reconcileFields(this.name, this.options.kind, key), steps: new Map() };
    const logger = this.options.logger?.child({ ...context.fields });
    this.active++;
    metrics?.activeWorkers.set(labels, this.active);
    const started = performance.now();
    let result: 'success' | 'error' | 'requeue' | 'requeue_after' = 'success';
    try {
      const signal = this.lifetime.signal;
      const outcome = await runInReconcile(context, () => requestScope.run(signal, () => this.options.reconcile(key, signal)));
      this.failing.delete(key);
      if (outcome?.requeueAfter && outcome.requeueAfter > 0) {
        result = 'requeue_after';
        this.queue.forget(key);
        this.queue.addAfter(key, outcome.requeueAfter);
      } else if (outcome?.requeue) {
        result = 'requeue';
        this.stats.requeues++;
        this.queue.addRateLimited(key);
      } else {
        this.queue.forget(key);
      }
    } catch (err) {
      result = 'error';
      this.stats.errors++;
      metrics?.reconcileErrors.inc(labels);
      if (isPanic(err)) this.series?.panics.inc(labels);
      this.queue.addRateLimited(key);
      const now = this.options.now?.() ?? Date.now();
      let streak = this.failing.get(key);
      if (!streak) this.failing.set(key, (streak = { sinceMs: now, failures: 0, reported: false }));
      streak.failures++;
      const failingForMs = now - streak.sinceMs;
      const persistent = failingForMs >= (this.options.persistentAfterMs ?? PERSISTENT_FAILURE_MS);
      logger?.log(persistent ? 'warn' : 'debug', `reconcile of ${key} failed (attempt ${streak.failures}, failing for ${Math.round(failingForMs / 1000)} s): ${(err as Error)?.message ?? String(err)}`, {
        step: err instanceof ReconcileStepError ? err.step : undefined,
        error: (err as Error)?.message ?? String(err),
      });
      if (persistent && !streak.reported) {
        streak.reported = true;
        try {
          this.options.onPersistentError?.(key, err, { sinceMs: streak.sinceMs, failures: streak.failures, failingForMs });
        } catch {
          // Reporting must never break the loop.
        }
      }
    } finally {
      const elapsedMs = performance.now() - started;
      this.stats.reconciles++;
      metrics?.reconcileTotal.inc({ controller: this.name, result });
      metrics?.reconcileTime.observe(labels, elapsedMs / 1000);
      logger?.debug('reconcile finished', { result, ms: Math.round(elapsedMs) });
      this.reportSlow(key, elapsedMs, context, logger);
      this.active--;
      metrics?.activeWorkers.set(labels, this.active);
      this.queue.done(key);
    }
  }
}
