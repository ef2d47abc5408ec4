// Delivery of correlated events to the API server: creates and count patches through
// the keep-alive KubeClient, a few at a time, each with a request timeout; transient failures (network, 429,
// 5xx) retry with exponential backoff and jitter a bounded number of times, without holding a
// worker while waiting; a 404 on patch (the Event expired) falls back to create; other 4xx are
// dropped and counted; a terminating or deleted namespace drops quietly.
//
// Every write carries absolute values (the whole Event, or count/lastTimestamp/message) and the
// Event's name is chosen before the first try, so a retry after a lost response cannot count
// twice: a create that already landed answers 409 and is recognized as ours.
import type { CoreV1Event, KubeConfig } from '@kubernetes/client-node';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'winston';
import { backoffDelay, type BackoffOptions } from '../kube/backoff.js';
import { apiErrorMessage, apiStatusCode } from '../kube/errors.js';
import { KubeClient } from '../kube/rest.js';
import { SpamFilter, type EventSeries } from './correlator.js';
import { EVENT_ANNOTATIONS, type DeliveryCallback, type DropCause } from './types.js';


/** What a count bump changes on an existing Event (a JSON merge patch). */
export interface EventPatch {
  count: number;
  lastTimestamp: string;
  message: string;
  metadata?: { annotations: Record<string, string | null> };
}

/** The three calls the sink makes (`ClientEventApi` in production, in-memory ones in tests). */
export interface EventApi {
  create(namespace: string, event: CoreV1Event, signal: AbortSignal): Promise<CoreV1Event>;
  patch(namespace: string, name: string, patch: EventPatch, signal: AbortSignal): Promise<CoreV1Event>;
  read(namespace: string, name: string, signal: AbortSignal): Promise<CoreV1Event>;
  /** Releases what the API holds (its connection pool); called by the recorder's stop(). */
  close?(): void;
}

/**
 * core/v1 Events through a KubeClient: one keep-alive connection pool instead of a new TLS
 * connection per event (client-node's typed API builds a new agent for every call).
 */
export class ClientEventApi implements EventApi {
  constructor(private readonly client: KubeClient) {}

  /** Events through a pool of their own for the cluster of `kc`, closed by close(). */
  static forCluster(kc: KubeConfig): EventApi {
    const pool = KubeClient.create(kc, { userAgent: 'ovim-operator/events', maxSockets: 8 });
    const api = pool.then((client) => new ClientEventApi(client));
    return {
      create: async (ns, event, signal) => (await api).create(ns, event, signal),
      patch: async (ns, name, patch, signal) => (await api).patch(ns, name, patch, signal),
      read: async (ns, name, signal) => (await api).read(ns, name, signal),
      close: () => void pool.then((client) => client.close(), () => undefined),
    };
  }

  create(namespace: string, event: CoreV1Event, signal: AbortSignal): Promise<CoreV1Event> {
    return this.client.create<CoreV1Event>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, event, undefined, signal);
  }

  patch(namespace: string, name: string, patch: EventPatch, signal: AbortSignal): Promise<CoreV1Event> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/events/${encodeURIComponent(name)}`;
    return this.client.patch<CoreV1Event>(path, patch, 'merge', undefined, signal);
  }

  read(namespace: string, name: string, signal: AbortSignal): Promise<CoreV1Event> {
    return this.client.get<CoreV1Event>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events/${encodeURIComponent(name)}`, undefined, signal);
  }
}

/** What a failed write means for the event. */
export type WriteErrorClass =
  | 'transient' // network error, timeout, 408, 429, 5xx: try again later
  | 'event_not_found' // patch of an Event that expired or was deleted: create it
  | 'already_exists' // create of a name that exists: maybe our own earlier try
  | 'namespace_gone' // the namespace is terminating or deleted: drop quietly
  | 'rejected'; // any other 4xx: the request itself is wrong, drop

interface StatusDetails {
  reason?: string;
  details?: { kind?: string; causes?: { type?: string; reason?: string }[] };
  message?: string;
}

function statusBody(err: unknown): StatusDetails | undefined {
  const body: unknown = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusDetails;
    } catch {
      return undefined;
    }
  }
  return body && typeof body === 'object' ? (body as StatusDetails) : undefined;
}

/** Classifies a failed create/patch/read by its HTTP status and metav1.Status body. */
export function classifyWriteError(err: unknown): WriteErrorClass {
  const code = apiStatusCode(err);
  if (code === undefined) return 'transient';
  if (code === 408 || code === 429 || code >= 500) return 'transient';
  const status = statusBody(err);
  if (code === 404) return status?.details?.kind === 'namespaces' ? 'namespace_gone' : 'event_not_found';
  if (code === 409) return 'already_exists';
  const terminating =
    status?.details?.causes?.some((c) => c.type === 'NamespaceTerminating' || c.reason === 'NamespaceTerminating') ||
    /because it is being terminated/.test(status?.message ?? '');
  if (terminating) return 'namespace_gone';
  return 'rejected';
}

/** The counters the sink moves; the recorder owns them and adds its own. */
export interface DeliveryCounters {
  written: number;
  patched: number;
  delivered: number;
  spamFiltered: number;
  writeFailures: number;
  dropped: Record<DropCause, number>;
}

export function emptyDeliveryCounters(): DeliveryCounters {
  return {
    written: 0,
    patched: 0,
    delivered: 0,
    spamFiltered: 0,
    writeFailures: 0,
    dropped: { queue_full: 0, no_object: 0, rejected: 0, namespace_terminating: 0, retries_exhausted: 0, shutdown: 0 },
  };
}

export interface EventSinkOptions {
  /** Writes in flight at once (default 4). */
  concurrency?: number;
  /** Tries per write before it is dropped (default 12, as client-go). */
  maxTries?: number;
  /** Delay between tries (default 200 ms doubling up to 15 s, 20% jitter: ~85 s in all). */
  backoff?: BackoffOptions;
  /** A request that takes longer is aborted and retried (default 10 s). */
  requestTimeoutMs?: number;
  logger?: Logger;
  /** The spam filter's tuning (client-go's defaults otherwise). */
  spam?: { burst?: number; refillMs?: number; cacheSize?: number; clock?: () => number };
  /** Called when a write is dropped for good (the recorder forgets the series). */
  onDropped?: (series: EventSeries, cause: DropCause) => void;
  counters?: DeliveryCounters;
}

type DeliveryState = 'ready' | 'waiting' | 'writing';

interface Delivery {
  state: DeliveryState;
  /** New records arrived while writing: write again afterwards. */
  dirty: boolean;
  /** Failed tries of the current write. */
  attempt: number;
  /** The current write passed the token bucket (retries do not pay again). */
  admitted: boolean;
  timer?: NodeJS.Timeout;
}

type Outcome = 'done' | 'retry';

class DropError extends Error {
  constructor(
    readonly dropCause: DropCause,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Request timeouts without an AbortController per request (costly when writes are many):
 * requests started within the same slice of time share one signal, aborted `timeoutMs` after
 * the slice ends. A request thus gets between `timeoutMs` and `timeoutMs + sliceMs`; aborting
 * a signal whose requests have finished does nothing.
 */
export class RequestDeadlines {
  private readonly live = new Set<AbortController>();
  private current: { controller: AbortController; endsAt: number } | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly sliceMs = Math.min(1_000, Math.max(1, Math.floor(timeoutMs / 4))),
  ) {}

  signal(now = Date.now()): AbortSignal {
    if (!this.current || now >= this.current.endsAt) {
      const controller = new AbortController();
      // Many requests listen to one signal at once; that is expected, not a leak.
      setMaxListeners(0, controller.signal);
      const endsAt = now + this.sliceMs;
      this.current = { controller, endsAt };
      this.live.add(controller);
      const timer = setTimeout(() => {
        this.live.delete(controller);
        controller.abort(new Error(`request timed out after ${this.timeoutMs} ms`));
      }, endsAt - now + this.timeoutMs);
      timer.unref(); // a deadline alone must not keep the process alive
    }
    return this.current.controller.signal;
  }

  abortAll(reason: Error): void {
    for (const controller of this.live) controller.abort(reason);
    this.live.clear();
    this.current = undefined;
  }
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 15_000, factor: 2, jitter: 0.2 };

/** What the sink knows of one Event on the API server (the correlator's series says what it should say). */
export interface SeriesState {
  /** The count the API server has; 0 while the Event was never created. */
  deliveredCount: number;
  /** Records submitted since the last successful write. */
  unsentRecords: number;
  /** The Event's name on the server: the correlator's, unless a foreign Event held it. */
  name: string;
}

/** Delivers EventSeries to the API server; one pending write per series, however many records. */
export class EventSink {
  readonly counters: DeliveryCounters;
  /** Delivery state per series; goes with the series when the correlator's cache evicts it. */
  /** The token bucket per object and type that every API write must pass. */
  readonly spam: SpamFilter;
  private readonly pending = new Map<EventSeries, Delivery>();
  /** Who waits for a series to reach a count on the API server (the durable "reported" markers). */
  private readonly confirmations = new Map<EventSeries, { count: number; callback: DeliveryCallback }[]>();
  private readonly ready: EventSeries[] = [];
  private readonly idleWaiters = new Set<() => void>();
  private readonly deadlines: RequestDeadlines;
  private readonly concurrency: number;
  private readonly maxTries: number;
  private readonly backoff: BackoffOptions;
  private active = 0;
  private pumpScheduled = false;
  private stopped = false;

  constructor(
    private readonly api: EventApi,
    private readonly options: EventSinkOptions = {},
  ) {
    this.counters = options.counters ?? emptyDeliveryCounters();
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxTries = Math.max(1, options.maxTries ?? 12);
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.deadlines = new RequestDeadlines(options.requestTimeoutMs ?? 10_000);
    this.spam = new SpamFilter(options.spam ?? {});
  }

  private state(series: EventSeries): SeriesState {
    // Kept on the series (not in a WeakMap): a lookup per record, and no ephemeron for the GC.
    return (series.delivery ??= { deliveredCount: 0, unsentRecords: 0, name: series.name });
  }

  /** The count the API server holds for the series (0: never created). */
  deliveredCount(series: EventSeries): number {
    return series.delivery?.deliveredCount ?? 0;
  }

  /** Distinct Events waiting to be written (queued, in flight or waiting for a retry). */
  get pendingCount(): number {
    return this.pending.size;
  }

  isPending(series: EventSeries): boolean {
    return this.pending.has(series);
  }

  /** One record of the series: schedules a write of its current state; cheap, never does I/O itself. */
  submit(series: EventSeries): void {
    this.state(series).unsentRecords += 1;
    const delivery = this.pending.get(series);
    if (delivery) {
      // Queued or waiting: that write will carry the new state. Writing: write once more after.
      if (delivery.state === 'writing') delivery.dirty = true;
      return;
    }
    if (this.stopped) {
      this.drop(series, 'shutdown', 'the recorder is stopped');
      return;
    }
    this.pending.set(series, { state: 'ready', dirty: false, attempt: 0, admitted: false });
    this.ready.push(series);
    this.schedulePump();
  }

  /**
   * Calls `callback(true)` once the API server holds the series at `count` or more, or
   * `callback(false)` when the series is given up first (dropped for any cause, spam-filtered).
   * Always asynchronous, never from inside this call.
   */
  whenDelivered(series: EventSeries, count: number, callback: DeliveryCallback): void {
    if (this.deliveredCount(series) >= count) {
      queueMicrotask(() => callback(true));
      return;
    }
    let list = this.confirmations.get(series);
    if (!list) this.confirmations.set(series, (list = []));
    list.push({ count, callback });
  }

  private confirm(series: EventSeries, delivered: boolean): void {
    const list = this.confirmations.get(series);
    if (!list) return;
    const at = this.deliveredCount(series);
    const due = delivered ? list.filter((w) => w.count <= at) : list;
    const left = delivered ? list.filter((w) => w.count > at) : [];
    if (left.length > 0) this.confirmations.set(series, left);
    else this.confirmations.delete(series);
    for (const w of due) {
      try {
        w.callback(delivered);
      } catch (err) {
        this.options.logger?.warn('delivery callback failed', { error: String(err) });
      }
    }
  }

  /**
   * Waits until nothing is pending. True when that happened within `timeoutMs` and nothing
   * was given up meanwhile (rejected, namespace gone, out of tries); false otherwise.
   */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.pending.size === 0) return Promise.resolve(true);
    const dropsBefore = this.givenUp();
    return new Promise((resolve) => {
      const done = (drained: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(onIdle);
        resolve(drained && this.givenUp() === dropsBefore);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(this.pending.size === 0), Math.max(0, timeoutMs));
      this.idleWaiters.add(onIdle);
    });
  }

  /** Records given up after they were accepted (all drop causes but queue_full and no_object). */
  private givenUp(): number {
    const d = this.counters.dropped;
    return d.rejected + d.namespace_terminating + d.retries_exhausted + d.shutdown;
  }

  /**
   * Delivers what is pending within `timeoutMs`, then aborts what is still in flight and drops
   * the rest (counted as `shutdown`). Safe to call twice.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    const delivered = await this.flush(timeoutMs);
    this.stopped = true;
    this.deadlines.abortAll(new Error('the event recorder stopped'));
    for (const [series, delivery] of [...this.pending]) {
      if (delivery.state === 'writing') continue; // settles promptly now that it is aborted
      clearTimeout(delivery.timer);
      this.pending.delete(series);
      this.drop(series, 'shutdown', 'the recorder stopped before the event was written');
    }
    this.ready.length = 0;
    if (this.pending.size > 0) await this.flush(5_000);
    this.notifyIfIdle();
    return delivered;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Deferred so that record() returns before any request work starts, and so that a burst
    // of records in one tick folds into one write.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.active < this.concurrency && this.ready.length > 0) {
      const series = this.ready.shift() as EventSeries;
      const delivery = this.pending.get(series);
      if (!delivery || delivery.state !== 'ready') continue;
      delivery.state = 'writing';
      this.active += 1;
      this.deliver(series, delivery)
        .catch((err: unknown) => {
          // deliver() handles API errors itself; this is a bug guard, so nothing stays pending.
          this.options.logger?.error('event delivery failed unexpectedly', { error: String(err) });
          return 'done' as Outcome;
        })
        .then((outcome) => {
          this.active -= 1;
          this.settle(series, delivery, outcome);
          this.pump();
        });
    }
  }

  private settle(series: EventSeries, delivery: Delivery, outcome: Outcome): void {
    if (outcome === 'retry' && !this.stopped) {
      delivery.state = 'waiting';
      delivery.dirty = false; // the retry writes the latest state anyway
      const delay = backoffDelay(delivery.attempt - 1, this.backoff);
      delivery.timer = setTimeout(() => {
        delivery.timer = undefined;
        if (this.pending.get(series) !== delivery) return;
        delivery.state = 'ready';
        this.ready.push(series);
        this.pump();
      }, delay);
      // Pending retries alone must not keep a finished process alive; stop() flushes first.
      delivery.timer.unref();
      return;
    }
    if (outcome === 'retry') {
      this.pending.delete(series);
      this.drop(series, 'shutdown', 'the recorder stopped while the write was retrying');
    } else if (delivery.dirty && !this.stopped && this.pending.get(series) === delivery) {
      delivery.dirty = false;
      delivery.attempt = 0;
      delivery.admitted = false;
      delivery.state = 'ready';
      this.ready.push(series);
      return;
    } else {
      this.pending.delete(series);
    }
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.pending.size > 0) return;
    for (const waiter of [...this.idleWaiters]) waiter();
  }

  /** One try of the series' current state; the outcome says whether to try again. */
  private async deliver(series: EventSeries, delivery: Delivery): Promise<Outcome> {
    const state = this.state(series);
    if (!delivery.admitted) {
      if (!this.spam.admit(series)) {
        this.counters.spamFiltered += state.unsentRecords;
        state.unsentRecords = 0;
        this.confirm(series, false);
        return 'done';
      }
      delivery.admitted = true;
    }
    const sent = { count: series.count, records: state.unsentRecords };
    const signal = this.deadlines.signal();
    try {
      const action = await this.writeOnce(series, signal);
      if (action === 'created') this.counters.written += 1;
      else if (action === 'patched') this.counters.patched += 1;
      this.counters.delivered += sent.records;
      state.unsentRecords -= sent.records;
      state.deliveredCount = Math.max(state.deliveredCount, sent.count);
      delivery.attempt = 0;
      this.confirm(series, true);
      return 'done';
    } catch (err) {
      this.counters.writeFailures += 1;
      if (err instanceof DropError) {
        this.drop(series, err.dropCause, err.message);
        return 'done';
      }
      if (this.stopped) {
        this.drop(series, 'shutdown', 'the recorder stopped during the write');
        return 'done';
      }
      delivery.attempt += 1;
      const message = apiErrorMessage(err);
      if (delivery.attempt >= this.maxTries) {
        this.drop(series, 'retries_exhausted', `gave up after ${delivery.attempt} tries: ${message}`);
        return 'done';
      }
      this.options.logger?.debug('event write failed, will retry', {
        event: `${series.namespace}/${state.name}`,
        attempt: delivery.attempt,
        status: apiStatusCode(err),
        error: message,
      });
      return 'retry';
    }
  }

  /**
   * Creates the Event, or patches its count when the server has it. Throws DropError for
   * failures that retrying cannot fix, anything else for failures worth retrying.
   */
  private async writeOnce(series: EventSeries, signal: AbortSignal): Promise<'created' | 'patched' | 'none'> {
    const state = this.state(series);
    if (state.deliveredCount > 0) {
      try {
        await this.api.patch(series.namespace, state.name, this.patchBody(series), signal);
        return 'patched';
      } catch (err) {
        const cls = classifyWriteError(err);
        if (cls !== 'event_not_found') throw this.permanent(err, cls);
        // The Event expired (--event-ttl) or was deleted: create it again with the full count.
      }
    }
    return this.create(series, signal);
  }

  private async create(series: EventSeries, signal: AbortSignal): Promise<'created' | 'patched' | 'none'> {
    const state = this.state(series);
    // Two tries at most: a name taken by a foreign Event gets a fresh name once.
    for (let round = 0; round < 2; round += 1) {
      try {
        await this.api.create(series.namespace, this.eventBody(series), signal);
        return 'created';
      } catch (err) {
        const cls = classifyWriteError(err);
        if (cls !== 'already_exists') throw this.permanent(err, cls);
      }
      // 409: either our own earlier try landed (its answer was lost), or a name clash.
      const existing = await this.api.read(series.namespace, state.name, signal).catch((err: unknown) => {
        throw this.permanent(err, classifyWriteError(err));
      });
      if (this.isOurs(series, existing)) {
        this.counters.written += 1; // the earlier try created it; count that create now
        if ((existing.count ?? 1) >= series.count) return 'none';
        await this.api.patch(series.namespace, state.name, this.patchBody(series), signal).catch((err: unknown) => {
          throw this.permanent(err, classifyWriteError(err));
        });
        return 'patched';
      }
      state.name = `${state.name}${Math.floor(Math.random() * 0xfff).toString(16)}`;
    }
    throw new DropError('rejected', 'event name clashes with existing events');
  }

  /** Wraps failures that are final into DropError; transient ones pass through for a retry. */
  private permanent(err: unknown, cls: WriteErrorClass): unknown {
    if (cls === 'transient') return err;
    if (cls === 'namespace_gone') return new DropError('namespace_terminating', apiErrorMessage(err));
    return new DropError('rejected', apiErrorMessage(err));
  }

  private isOurs(series: EventSeries, existing: CoreV1Event): boolean {
    const o = series.input.involvedObject;
    return (
      existing.involvedObject?.name === o.name &&
      (existing.involvedObject?.uid ?? '') === (o.uid ?? '') &&
      existing.reason === series.input.reason &&
      existing.source?.component === series.input.component &&
      (existing.reportingInstance ?? '') === series.input.reportingInstance
    );
  }

  private drop(series: EventSeries, cause: DropCause, why: string): void {
    const state = this.state(series);
    this.counters.dropped[cause] += state.unsentRecords;
    const records = state.unsentRecords;
    state.unsentRecords = 0;
    const level = cause === 'namespace_terminating' || cause === 'shutdown' ? 'debug' : 'warn';
    this.options.logger?.log(level, 'event dropped', {
      cause,
      reason: series.input.reason,
      object: `${series.input.involvedObject.kind ?? ''}/${series.input.involvedObject.namespace ?? ''}/${series.input.involvedObject.name}`,
      records,
      why,
    });
    this.options.onDropped?.(series, cause);
    this.confirm(series, false);
  }

  private eventBody(series: EventSeries): CoreV1Event {
    const input = series.input;
    const annotations = Object.keys(series.annotations).length > 0 ? { ...series.annotations } : undefined;
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: this.state(series).name, namespace: series.namespace, annotations },
      involvedObject: { ...input.involvedObject },
      reason: input.reason,
      message: series.message,
      type: input.type,
      count: series.count,
      // client-node serializes Date-typed fields only from Date objects.
      firstTimestamp: new Date(series.firstTimestamp),
      lastTimestamp: new Date(series.lastTimestamp),
      source: input.host ? { component: input.component, host: input.host } : { component: input.component },
      reportingComponent: input.component,
      reportingInstance: input.reportingInstance,
    };
  }

  private patchBody(series: EventSeries): EventPatch {
    const patch: EventPatch = {
      count: series.count,
      lastTimestamp: new Date(series.lastTimestamp).toISOString(),
      message: series.message,
    };
    if (series.aggregated) {
      // A combined Event speaks for its latest record: its context goes with the message.
      const annotations: Record<string, string | null> = {};
      for (const name of Object.values(EVENT_ANNOTATIONS)) annotations[name] = series.annotations[name] ?? null;
      patch.metadata = { annotations };
    }
    return patch;
  }
}
