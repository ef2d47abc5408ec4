// Event correlation with client-go's `tools/record` defaults as the reference, as plain data in
// and out with an injectable clock (no I/O):
//  - aggregation: 10 distinct messages of one object+type+reason, each within 10 minutes of the
//    previous one, turn into one "(combined from similar events): <latest>" Event;
//  - dedup: the same object, type, reason, message, source (and annotations) within the window
//    is one Event whose count and lastTimestamp grow (a patch, not a new object);
//  - both caches are LRUs of 4096 entries, so memory does not grow with the objects seen.
//
// What it returns is a decision (create a new Event, patch the count of one, or skip a record a
// full queue has no room for) and what the Event should say (count, message, timestamps); it
// keeps no delivery state. The sink (src/events/sink.ts) owns that: what the API
// server has, what is still to be written, the Event's final name, and the spam filter (a token
// bucket per object+type charged per API write, not per record: records that arrive while a
// write of the same Event is pending fold into that write).
import type { SeriesState } from './sink.js';
import type { EventType } from './types.js';
import { MAX_MESSAGE_LENGTH, truncateMessage } from './redact.js';

export const AGGREGATE_PREFIX = '(combined from similar events): ';

/** What an Event says about the object it concerns (core/v1 ObjectReference). */
export interface InvolvedObject {
  apiVersion?: string;
  kind?: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

/** One record, ready to correlate: the message is already redacted and cut. */
export interface EventInput {
  /** Namespace of the Event object (the object's, or `default` for cluster-scoped objects). */
  namespace: string;
  involvedObject: InvolvedObject;
  type: EventType;
  reason: string;
  message: string;
  /** source.component and reportingComponent. */
  component: string;
  /** source.host, usually empty for controllers. */
  host?: string;
  reportingInstance: string;
  /** Annotations of the Event (organization, vdc, actor, owner), in a fixed key order. */
  annotations: Readonly<Record<string, string>>;
}

export interface CorrelatorOptions {
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
  /** Entries per LRU cache (default 4096, as client-go). */
  cacheSize?: number;
  /** Identical records closer than this to the previous one patch the same Event (default 10 min). */
  dedupWindowMs?: number;
  /** Distinct messages per object+type+reason that trigger aggregation (default 10). */
  aggregateMaxEvents?: number;
  /** Aggregation forgets the distinct messages after this long without one (default 10 min). */
  aggregateWindowMs?: number;
  /** The random part of new Event names; injectable for tests. */
  random?: () => number;
}

export const CORRELATOR_DEFAULTS = {
  cacheSize: 4096,
  dedupWindowMs: 10 * 60_000,
  aggregateMaxEvents: 10,
  aggregateWindowMs: 10 * 60_000,
} as const;

/** The spam filter's defaults (client-go's): 25 writes per object+type, one more per 5 minutes. */
export const SPAM_DEFAULTS = { burst: 25, refillMs: 5 * 60_000 } as const;

/**
 * One Event object as the correlator describes it: what it says. Only the correlator changes it
 * (a record folding in); the sink reads it and keeps its delivery state apart.
 */
export class EventSeries {
  message: string;
  count = 1;
  lastTimestamp: number;
  annotations: Readonly<Record<string, string>>;
  /** What the API server holds of this Event: the sink's, only the sink reads or writes it. */
  delivery: SeriesState | undefined = undefined;

  constructor(
    readonly key: string,
    readonly spamKey: string,
    /** Name of the Event object, chosen here so that a retried create is recognizable. */
    readonly name: string,
    readonly input: EventInput,
    message: string,
    readonly firstTimestamp: number,
    readonly aggregated: boolean,
  ) {
    this.message = message;
    this.lastTimestamp = firstTimestamp;
    this.annotations = input.annotations;
  }

  get namespace(): string {
    return this.input.namespace;
  }
}

/** What one record means for the API server: a new Event or a count bump of one. */
export interface Observation {
  /** `create`: a new Event; `patch`: the record folds into an existing one (count + 1). */
  action: 'create' | 'patch';
  series: EventSeries;
  /** The record went into a "(combined from similar events)" Event. */
  aggregated: boolean;
}

/**
 * The correlator's answer for a record offered to a full queue: an Observation, or `skip` when
 * it would start a new write (client-go's spam filter answers skip there; here the sink owns
 * that bucket, so skip means "no room").
 */
export type Correlation = Observation | { action: 'skip' };

/**
 * The decision, pure: a record folds into the Event `existing` (the series its key maps to)
 * when that one's last record is within the dedup window; with the queue full it gets in only
 * by folding into an Event whose write is still queued (it then costs no extra write).
 */
export function decide(
  existing: { lastTimestamp: number; pending: boolean } | undefined,
  now: number,
  dedupWindowMs: number,
  queueFull: boolean,
): 'create' | 'patch' | 'skip' {
  const folds = existing !== undefined && now - existing.lastTimestamp <= dedupWindowMs;
  if (queueFull && !(folds && existing.pending)) return 'skip';
  return folds ? 'patch' : 'create';
}

interface LruNode<K, V> {
  key: K;
  value: V;
  newer: LruNode<K, V> | undefined;
  older: LruNode<K, V> | undefined;
}

/**
 * A least-recently-used cache: a Map for lookups and a linked list for the order. (A Map's own
 * insertion order is no substitute: evicting its first key scans past every deleted slot.)
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, LruNode<K, V>>();
  private newest: LruNode<K, V> | undefined;
  private oldest: LruNode<K, V> | undefined;

  constructor(readonly maxEntries: number) {
    if (!(maxEntries >= 1)) throw new Error('LRU cache needs at least one entry');
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const node = this.map.get(key);
    if (!node) return undefined;
    this.touch(node);
    return node.value;
  }

  /** Reads without refreshing the entry's age. */
  peek(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  set(key: K, value: V): void {
    const existing = this.map.get(key);
    if (existing) {
      existing.value = value;
      this.touch(existing);
      return;
    }
    const node: LruNode<K, V> = { key, value, newer: undefined, older: this.newest };
    if (this.newest) this.newest.newer = node;
    this.newest = node;
    this.oldest ??= node;
    this.map.set(key, node);
    if (this.map.size > this.maxEntries && this.oldest) this.remove(this.oldest);
  }

  delete(key: K): boolean {
    const node = this.map.get(key);
    if (!node) return false;
    this.remove(node);
    return true;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  private touch(node: LruNode<K, V>): void {
    if (node === this.newest) return;
    this.unlink(node);
    node.older = this.newest;
    node.newer = undefined;
    if (this.newest) this.newest.newer = node;
    this.newest = node;
    this.oldest ??= node;
  }

  private remove(node: LruNode<K, V>): void {
    this.unlink(node);
    this.map.delete(node.key);
  }

  private unlink(node: LruNode<K, V>): void {
    if (node.newer) node.newer.older = node.older;
    else this.newest = node.older;
    if (node.older) node.older.newer = node.newer;
    else this.oldest = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }
}

interface AggregateRecord {
  /** The first distinct message; a Set only from the second one (most reasons never get one). */
  first: string;
  others: Set<string> | undefined;
  /** Distinct messages seen, never more than the aggregation threshold. */
  distinct: number;
  lastTimestamp: number;
  aggregated: boolean;
}

/** client-go's token bucket: `burst` tokens, refilled continuously at one per `refillMs`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  available(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.refillMs);
      this.last = now;
    }
  }
}

const SEP = '\u001f';

/**
 * Source and object. client-go joins every field of the reference but resourceVersion (which
 * changes on every write); a uid alone already names one object, so when there is one the key
 * is that much shorter (cheaper to hash on every record).
 */
export function objectKey(input: EventInput): string {
  const o = input.involvedObject;
  const source = input.host ? input.component + SEP + input.host : input.component;
  if (o.uid) return [source, o.uid].join(SEP);
  return [source, o.kind ?? '', o.namespace ?? '', o.name, o.apiVersion ?? ''].join(SEP);
}

function annotationsKey(annotations: Readonly<Record<string, string>>): string {
  const parts: string[] = [];
  for (const name in annotations) parts.push(name + '=' + annotations[name]);
  return parts.join(SEP);
}

/** A valid Event name for the object: `<object name>.<hex>` as client-go makes them. */
export function eventName(objectName: string, nowMs: number, random: () => number): string {
  const suffix = nowMs.toString(16) + Math.floor(random() * 0x1000000).toString(16).padStart(6, '0');
  let base = (objectName || 'event').toLowerCase();
  if (base.length > 253 - suffix.length - 1) base = base.slice(0, 253 - suffix.length - 1).replace(/[^a-z0-9]+$/, '') || 'event';
  return `${base}.${suffix}`;
}

const NOT_FULL = { full: false, isPending: () => false };

export class EventCorrelator {
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly options: Required<Omit<CorrelatorOptions, 'clock' | 'random'>>;
  private readonly aggregates: LruCache<string, AggregateRecord>;
  private readonly series: LruCache<string, EventSeries>;

  constructor(options: CorrelatorOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.options = {
      cacheSize: options.cacheSize ?? CORRELATOR_DEFAULTS.cacheSize,
      dedupWindowMs: options.dedupWindowMs ?? CORRELATOR_DEFAULTS.dedupWindowMs,
      aggregateMaxEvents: options.aggregateMaxEvents ?? CORRELATOR_DEFAULTS.aggregateMaxEvents,
      aggregateWindowMs: options.aggregateWindowMs ?? CORRELATOR_DEFAULTS.aggregateWindowMs,
    };
    this.aggregates = new LruCache(this.options.cacheSize);
    this.series = new LruCache(this.options.cacheSize);
  }

  now(): number {
    return this.clock();
  }

  /** Sizes of the caches (bounded by `cacheSize`). */
  cacheSizes(): { aggregates: number; series: number } {
    return { aggregates: this.aggregates.size, series: this.series.size };
  }

  /**
   * Correlates one record: finds or starts the Event it belongs to and updates what that Event
   * says (count, lastTimestamp, message).
   */
  observe(input: EventInput): Observation {
    return this.correlate(input, NOT_FULL) as Observation;
  }

  /**
   * As observe(), for a queue that may be full: `skip` (changing nothing) when the record
   * cannot fold into a series whose write is still queued (`queue.isPending`).
   */
  correlate(input: EventInput, queue: { full: boolean; isPending: (series: EventSeries) => boolean }): Correlation {
    const now = this.clock();
    const objKey = objectKey(input);
    const aggKey = [objKey, input.type, input.reason].join(SEP);
    const window = this.options.dedupWindowMs;
    if (queue.full) {
      const target = this.series.peek(this.seriesKey(aggKey, input, this.aggregate(aggKey, input, now, false)));
      if (decide(target && { lastTimestamp: target.lastTimestamp, pending: queue.isPending(target) }, now, window, true) === 'skip') return { action: 'skip' };
    }
    const aggregated = this.aggregate(aggKey, input, now, true);
    const key = this.seriesKey(aggKey, input, aggregated);
    const message = aggregated ? truncateMessage(AGGREGATE_PREFIX + input.message, MAX_MESSAGE_LENGTH) : input.message;

    const existing = this.series.get(key);
    if (existing && decide({ lastTimestamp: existing.lastTimestamp, pending: false }, now, window, false) === 'patch') {
      existing.count += 1;
      existing.lastTimestamp = Math.max(existing.lastTimestamp, now);
      existing.message = message;
      existing.annotations = input.annotations;
      return { action: 'patch', series: existing, aggregated };
    }
    const series = new EventSeries(
      key,
      [objKey, input.type].join(SEP),
      eventName(input.involvedObject.name, now, this.random),
      input,
      message,
      now,
      aggregated,
    );
    this.series.set(key, series);
    return { action: 'create', series, aggregated };
  }

  /** Forgets a series (its Event was rejected): the next identical record starts a new one. */
  forget(series: EventSeries): void {
    if (this.series.peek(series.key) === series) this.series.delete(series.key);
  }

  /** `aggKey`: object, type and reason (the aggregation's key, built once per record). */
  private seriesKey(aggKey: string, input: EventInput, aggregated: boolean): string {
    const base = aggKey;
    // The combined Event is one per object+type+reason; others are one per message and context.
    return aggregated ? [base, '(aggregate)'].join(SEP) : [base, input.message, annotationsKey(input.annotations)].join(SEP);
  }

  private aggregate(aggKey: string, input: EventInput, now: number, mutate: boolean): boolean {
    const max = this.options.aggregateMaxEvents;
    let record = mutate ? this.aggregates.get(aggKey) : this.aggregates.peek(aggKey);
    if (record && now - record.lastTimestamp > this.options.aggregateWindowMs) record = undefined;
    const seen = record !== undefined && (record.first === input.message || record.others?.has(input.message) === true);
    if (!mutate) return record?.aggregated === true || (record?.distinct ?? 0) + (seen ? 0 : 1) >= max;
    if (!record) {
      record = { first: input.message, others: undefined, distinct: 1, lastTimestamp: now, aggregated: false };
      this.aggregates.set(aggKey, record);
    } else {
      record.lastTimestamp = Math.max(record.lastTimestamp, now);
      if (!record.aggregated && !seen) {
        (record.others ??= new Set()).add(input.message);
        record.distinct += 1;
      }
    }
    if (!record.aggregated && record.distinct >= max) {
      record.aggregated = true;
      record.others = undefined; // no longer needed: everything of this reason is combined now
    }
    return record.aggregated;
  }
}

/**
 * client-go's spam filter: a token bucket per object+type (`spamKey`), `burst` tokens refilled at
 * one per `refillMs`, in an LRU of `cacheSize` buckets. Owned by the sink, charged per API write.
 */
export class SpamFilter {
  private readonly buckets: LruCache<string, TokenBucket>;
  private readonly burst: number;
  private readonly refillMs: number;

  constructor(options: { burst?: number; refillMs?: number; cacheSize?: number; clock?: () => number } = {}, private readonly clock: () => number = options.clock ?? Date.now) {
    this.burst = options.burst ?? SPAM_DEFAULTS.burst;
    this.refillMs = options.refillMs ?? SPAM_DEFAULTS.refillMs;
    this.buckets = new LruCache(options.cacheSize ?? CORRELATOR_DEFAULTS.cacheSize);
  }

  /** Takes a token for one API write about the series' object and type; false = spam. */
  admit(series: EventSeries): boolean {
    const now = this.clock();
    let bucket = this.buckets.get(series.spamKey);
    if (!bucket) {
      bucket = new TokenBucket(this.burst, this.refillMs, now);
      this.buckets.set(series.spamKey, bucket);
    }
    return bucket.tryTake(now);
  }

  /** Tokens left for the series' object and type (for tests and diagnostics). */
  tokensLeft(series: EventSeries): number {
    return this.buckets.peek(series.spamKey)?.available(this.clock()) ?? this.burst;
  }

  get size(): number {
    return this.buckets.size;
  }
}
