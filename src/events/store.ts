// The EventStore: an in-memory, indexed copy of the cluster's core/v1 Events, fed by the
// resilient informer, read by the HTTP API (which never asks the API server per request).
//
// Each event is kept as a compact EventRecord (no managedFields, no unused metadata). Records
// live in one list ordered by `last_timestamp` and in one list per value of every filtered
// field (namespace, type, reason, involved kind and name, organization, vdc, actor, owner), all
// in the same order, so a query walks only the smallest matching list and a page of an
// unfiltered or namespace-only query is a slice. A count bump replaces the event's record in
// place (same id, moved to its new position, never duplicated); a deletion (the API server's
// TTL) removes it; past `maxEvents` the oldest go first. Records are immutable once indexed.
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { InformerSpec } from '../kube/factory.js';
import type { ObjectMeta } from '../kube/meta.js';
import { NamespaceOwners } from './owners.js';
import { MAX_ANNOTATION_LENGTH, truncateMessage } from './redact.js';
import { EVENT_ANNOTATIONS } from './types.js';
import {
  CLUSTER_EVENTS_NAMESPACE,
  TRUSTED_ORGANIZATION_EVENT_COMPONENT,
  compareEvents,
  componentMatcher,
  isHomeNamespaceOf,
  orgNamespace,
  scopeMatcher,
  vdcNamespacePrefix,
  type EventFilters,
  type EventRecord,
  type PageRequest,
  type QueryResult,
  type Scope,
} from './query.js';


export const DEFAULT_MAX_EVENTS = 100_000;
/** No namespace may hold more than this share of the store (a flood evicts its own oldest). */
export const DEFAULT_NAMESPACE_SHARE = 0.1;
/** Timestamps further than this in the future are taken as "now" (30 s of clock skew allowed). */
export const MAX_FUTURE_SKEW_MS = 30_000;

/**
 * An Event as the API server sends it over JSON, which is what the informers hand over (lists
 * and watches both go through KubeClient): timestamps are RFC 3339 strings, never Dates.
 */
export type EventObject = Omit<CoreV1Event, 'metadata' | 'eventTime' | 'firstTimestamp' | 'lastTimestamp' | 'series'> & {
  metadata: ObjectMeta;
  eventTime?: string;
  firstTimestamp?: string;
  lastTimestamp?: string;
  series?: { count?: number; lastObservedTime?: string };
};

function toMillis(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

// Anyone who may create Events writes these fields: each is cut before it is kept, so that a
// record stays small whatever an Event says (messages to the catalog's 1024 characters).
const bounded = (value: string): string => (value.length > MAX_ANNOTATION_LENGTH ? value.slice(0, MAX_ANNOTATION_LENGTH) : value);

const nonEmpty = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? bounded(value) : undefined;

/** A timestamp, with one more than 30 s in the future taken as `now` (it would sort first forever). */
function notFuture(ms: number | undefined, now: number): number | undefined {
  return ms !== undefined && ms > now + MAX_FUTURE_SKEW_MS ? now : ms;
}

/** The compact record of an Event (pure). Undefined for objects that are not usable events. */
export function compactEvent(event: EventObject, now = Date.now()): EventRecord | undefined {
  const meta = event.metadata;
  const name = meta?.name;
  if (!name) return undefined;
  const namespace = meta.namespace ?? CLUSTER_EVENTS_NAMESPACE;
  const annotations = meta.annotations ?? {};
  const involved = event.involvedObject ?? {};
  const kind = bounded(involved.kind ?? '');
  const objectName = bounded(involved.name ?? '');
  const created = notFuture(toMillis(meta.creationTimestamp), now);
  const eventTime = notFuture(toMillis(event.eventTime), now);
  const last =
    notFuture(toMillis(event.lastTimestamp), now) ??
    notFuture(toMillis(event.series?.lastObservedTime), now) ??
    eventTime ??
    created ??
    now;
  const first = notFuture(toMillis(event.firstTimestamp), now) ?? eventTime ?? created ?? last;
  const count = Math.max(event.count ?? 0, event.series?.count ?? 0) || 1;
  let organization = nonEmpty(annotations[EVENT_ANNOTATIONS.organization]);
  if (organization === undefined) {
    if (namespace.startsWith('org-') && namespace.length > 4) organization = bounded(namespace.slice(4));
    else if (kind === 'Organization' && objectName) organization = objectName;
  }
  let vdc = nonEmpty(annotations[EVENT_ANNOTATIONS.vdc]);
  if (vdc === undefined && kind === 'VirtualDataCenter' && objectName) vdc = objectName;
  return {
    uid: meta.uid || `${namespace}/${name}`,
    name,
    namespace,
    type: bounded(event.type ?? ''),
    reason: bounded(event.reason ?? ''),
    message: truncateMessage(event.message ?? ''),
    component: bounded(event.source?.component || event.reportingComponent || ''),
    kind,
    objectName,
    firstTimestamp: first,
    lastTimestamp: last,
    count,
    organization,
    vdc,
    actor: nonEmpty(annotations[EVENT_ANNOTATIONS.actor]),
    owner: nonEmpty(annotations[EVENT_ANNOTATIONS.owner]),
    actorVerified: annotations[EVENT_ANNOTATIONS.actorVerified] === 'true',
    ownerVerified: annotations[EVENT_ANNOTATIONS.ownerVerified] === 'true',
  };
}

/**
 * Records in store order: oldest first internally (so new events append and evictions pop the
 * head), i.e. the reverse of the API's order. Removal at the head is O(1) (a moving offset).
 */
export class OrderedList {
  private items: (EventRecord | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  /** The i-th record in API order (0 = newest). */
  nth(i: number): EventRecord {
    return this.items[this.items.length - 1 - i] as EventRecord;
  }

  oldest(): EventRecord | undefined {
    return this.items[this.head];
  }

  /** Number of records with lastTimestamp >= since (they are the first ones in API order). */
  countSince(since: number): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.items[mid] as EventRecord).lastTimestamp < since) lo = mid + 1;
      else hi = mid;
    }
    return this.items.length - lo;
  }

  /** Internal index where `record` is or would go (API order reversed). */
  private position(record: EventRecord): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      // Internal order is the API order reversed: an element that the API lists after `record`
      // sits before it here.
      if (compareEvents(this.items[mid] as EventRecord, record) > 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(record: EventRecord): void {
    const items = this.items;
    const last = items[items.length - 1];
    if (items.length === this.head || compareEvents(last as EventRecord, record) > 0) {
      items.push(record);
      return;
    }
    items.splice(this.position(record), 0, record);
  }

  remove(record: EventRecord): boolean {
    const at = this.position(record);
    if (this.items[at] !== record) return false;
    if (at === this.head) {
      this.items[at] = undefined;
      this.head++;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
    } else if (at === this.items.length - 1) {
      this.items.pop();
    } else {
      this.items.splice(at, 1);
    }
    return true;
  }
}

const trustedOrganizationEvent = (r: EventRecord): boolean => r.component === TRUSTED_ORGANIZATION_EVENT_COMPONENT;

/** One value of an indexed field: its records, and the canonical (interned) string. */
interface Posting {
  key: string;
  list: OrderedList;
}

type IndexedField = 'namespace' | 'type' | 'reason' | 'kind' | 'objectName' | 'organization' | 'vdc' | 'actor' | 'owner';

const INDEXED_FIELDS: readonly IndexedField[] = [
  'namespace',
  'type',
  'reason',
  'kind',
  'objectName',
  'organization',
  'vdc',
  'actor',
  'owner',
];

/** Which index answers each equality filter. */
const FILTER_FIELDS: readonly [keyof EventFilters, IndexedField][] = [
  ['namespace', 'namespace'],
  ['type', 'type'],
  ['reason', 'reason'],
  ['kind', 'kind'],
  ['name', 'objectName'],
  ['organization', 'organization'],
  ['vdc', 'vdc'],
];

/** A list walked by a query, with a filter when the list holds more than the scope allows. */
interface Source {
  list: OrderedList;
  filter?: (r: EventRecord) => boolean;
}

interface Plan {
  sources: Source[];
  /** No record appears in two sources. */
  disjoint: boolean;
  /** Checked on every candidate; undefined when the sources are exactly the answer. */
  residual?: (r: EventRecord) => boolean;
}

/** What the store needs from an informer (ResilientInformer<EventObject> fits). */
export interface EventFeed {
  on(event: 'add' | 'update' | 'delete', handler: (obj: EventObject, old?: EventObject) => void): unknown;
}

export interface EventStoreStats {
  size: number;
  maxEvents: number;
  /** Every event evicted to stay within the bounds. */
  evictions: number;
  /** Of those, the ones evicted because their namespace held its maximum share. */
  namespaceEvictions?: number;
}

export interface EventStoreOptions {
  /** At most this many events are kept; the oldest (by last timestamp) are evicted first. */
  maxEvents?: number;
  /**
   * The largest share of `maxEvents` one namespace may hold (default 0.1): past it, the
   * namespace's own oldest events go first, so that a flood in one namespace cannot push the
   * other namespaces' events out.
   */
  namespaceShare?: number;
  logger?: Logger;
  /**
   * Who owns each managed namespace (fed by the namespace informer): the only source for which
   * organization a `vdc-*` namespace belongs to. Default: a new, empty map (no vdc-* namespace is
   * any organization's until it is fed).
   */
  namespaceOwners?: NamespaceOwners;
}

export class EventStore {
  readonly maxEvents: number;
  /** At most this many events per namespace. */
  readonly maxPerNamespace: number;
  private readonly all = new OrderedList();
  private readonly byUid = new Map<string, EventRecord>();
  private readonly indexes = new Map<IndexedField, Map<string, Posting>>();
  /** Events about Organization objects in `default`, by organization name (for org admins). */
  private readonly organizationObjects = new Map<string, Posting>();
  private evictions = 0;
  private namespaceEvictions = 0;
  /** Bumped whenever a namespace gains its first event or loses its last. */
  private namespaceGeneration = 0;
  private readonly vdcNamespaceCache = new Map<
    string,
    { generation: number; ownersGeneration: number; postings: Posting[] }
  >();
  private readonly logger: Logger | undefined;
  /** Which organization owns each managed namespace (read by scopes and the API's 403 check). */
  readonly namespaceOwners: NamespaceOwners;
  /** Told of every added or replaced record (the live stream); never allowed to break the store. */
  private readonly changeListeners = new Set<(record: EventRecord) => void>();

  constructor(options: EventStoreOptions = {}) {
    this.maxEvents = Math.max(1, options.maxEvents ?? DEFAULT_MAX_EVENTS);
    const share = Math.min(1, Math.max(0, options.namespaceShare ?? DEFAULT_NAMESPACE_SHARE));
    this.maxPerNamespace = Math.max(1, Math.floor(this.maxEvents * share));
    this.logger = options.logger;
    this.namespaceOwners = options.namespaceOwners ?? new NamespaceOwners();
    for (const field of INDEXED_FIELDS) this.indexes.set(field, new Map());
  }

  get size(): number {
    return this.byUid.size;
  }

  stats(): EventStoreStats {
    return {
      size: this.byUid.size,
      maxEvents: this.maxEvents,
      evictions: this.evictions,
      namespaceEvictions: this.namespaceEvictions,
    };
  }

  get(uid: string): EventRecord | undefined {
    return this.byUid.get(uid);
  }

  /** Adds an event, or replaces the record of the same uid (count bumps, new last timestamp). */
  upsert(event: EventObject): void {
    const fresh = compactEvent(event);
    if (!fresh) return;
    const existing = this.byUid.get(fresh.uid);
    if (existing) {
      // The new record takes the old one's place (a record is never changed once indexed, so
      // readers may cache what they derive from one, e.g. its JSON).
      this.unindex(existing);
      this.byUid.set(fresh.uid, fresh);
      this.index(fresh);
    } else {
      this.byUid.set(fresh.uid, fresh);
      this.index(fresh);
      // (With a share of 1 the store's own bound is the namespace's: nothing to count apart.)
      const sameNamespace = this.maxPerNamespace < this.maxEvents ? this.posting('namespace', fresh.namespace)?.list : undefined;
      while (sameNamespace && sameNamespace.size > this.maxPerNamespace) {
        this.evict(sameNamespace.oldest());
        this.namespaceEvictions++;
      }
      while (this.byUid.size > this.maxEvents) this.evict(this.all.oldest());
    }
    for (const listener of this.changeListeners) {
      try {
        listener(fresh);
      } catch (err) {
        this.logger?.error('event store change listener failed', { error: (err as Error).message });
      }
    }
  }

  /** Calls `listener` with each added or replaced record; returns the unsubscribe function. */
  onChange(listener: (record: EventRecord) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Removes an event (deleted on the API server, e.g. by its TTL). */
  remove(event: EventObject): boolean {
    const meta = event.metadata;
    if (!meta?.name) return false;
    const uid = meta.uid || `${meta.namespace ?? CLUSTER_EVENTS_NAMESPACE}/${meta.name}`;
    const existing = this.byUid.get(uid);
    if (!existing) return false;
    this.unindex(existing);
    this.byUid.delete(uid);
    return true;
  }

  /** Follows an informer's add/update/delete. */
  follow(informer: EventFeed): this {
    informer.on('add', (e) => this.upsert(e));
    informer.on('update', (e, old) => {
      // A relist can report a deleted-and-recreated Event (same name, new uid) as an update.
      if (old?.metadata?.uid && old.metadata.uid !== e.metadata?.uid) this.remove(old);
      this.upsert(e);
    });
    informer.on('delete', (e) => this.remove(e));
    return this;
  }

  /** Every record in API order (newest first); for tests and diagnostics. */
  *records(): IterableIterator<EventRecord> {
    for (let i = 0; i < this.all.size; i++) yield this.all.nth(i);
  }

  /**
   * One page of the events the scope allows that match the filters, in API order, and the
   * number of all such events. The same answer as `runQuery` over all records.
   */
  query(filters: EventFilters, scope: Scope, page: PageRequest): QueryResult {
    const plan = this.plan(filters, scope);
    if (!plan) return { items: [], total: 0 };
    const offset = (page.page - 1) * page.limit;
    const result = this.execute(plan, filters.since, offset, page.limit);
    // Defence in depth: whatever the plan, nothing outside the scope leaves the store.
    const visible = scopeMatcher(scope, this.namespaceOwners);
    if (scope.kind !== 'all' && !result.items.every(visible)) {
      this.logger?.error('event store query plan returned events outside the scope; filtering them out');
      result.items = result.items.filter(visible);
    }
    return result;
  }

  /** The newest `limit` events the scope allows. */
  recent(scope: Scope, limit: number): EventRecord[] {
    return this.query({}, scope, { page: 1, limit }).items;
  }

  private posting(field: IndexedField, key: string): Posting | undefined {
    return this.indexes.get(field)?.get(key);
  }

  private index(record: EventRecord): void {
    this.all.insert(record);
    for (const field of INDEXED_FIELDS) {
      const key = record[field];
      if (key === undefined || key === '') continue;
      const index = this.indexes.get(field) as Map<string, Posting>;
      let posting = index.get(key);
      if (!posting) {
        posting = { key, list: new OrderedList() };
        if (field === 'namespace') this.namespaceGeneration++;
        index.set(key, posting);
      }
      // Interning: equal values share one string.
      record[field] = posting.key;
      posting.list.insert(record);
    }
    if (record.namespace === CLUSTER_EVENTS_NAMESPACE && record.kind === 'Organization' && record.objectName) {
      let posting = this.organizationObjects.get(record.objectName);
      if (!posting) {
        posting = { key: record.objectName, list: new OrderedList() };
        this.organizationObjects.set(record.objectName, posting);
      }
      posting.list.insert(record);
    }
  }

  private unindex(record: EventRecord): void {
    this.all.remove(record);
    for (const field of INDEXED_FIELDS) {
      const key = record[field];
      if (key === undefined || key === '') continue;
      const index = this.indexes.get(field) as Map<string, Posting>;
      const posting = index.get(key);
      if (!posting) continue;
      posting.list.remove(record);
      if (posting.list.size === 0) {
        index.delete(key);
        if (field === 'namespace') this.namespaceGeneration++;
      }
    }
    if (record.namespace === CLUSTER_EVENTS_NAMESPACE && record.kind === 'Organization' && record.objectName) {
      const posting = this.organizationObjects.get(record.objectName);
      if (posting) {
        posting.list.remove(record);
        if (posting.list.size === 0) this.organizationObjects.delete(record.objectName);
      }
    }
  }

  private evict(oldest: EventRecord | undefined): void {
    if (!oldest) return;
    this.unindex(oldest);
    this.byUid.delete(oldest.uid);
    this.evictions++;
  }

  /**
   * The organization's VDC namespaces (labelled as its own, named `vdc-<org>-*`) that hold
   * events, remembered until the set of namespaces with events or the owners change.
   */
  private vdcNamespaces(org: string): Posting[] {
    const owners = this.namespaceOwners;
    const cached = this.vdcNamespaceCache.get(org);
    if (cached && cached.generation === this.namespaceGeneration && cached.ownersGeneration === owners.generation) {
      return cached.postings;
    }
    const prefix = vdcNamespacePrefix(org);
    const byNamespace = this.indexes.get('namespace') as Map<string, Posting>;
    const postings: Posting[] = [];
    for (const ns of owners.namespacesOf(org)) {
      if (!ns.startsWith(prefix)) continue;
      const posting = byNamespace.get(ns);
      if (posting) postings.push(posting);
    }
    if (this.vdcNamespaceCache.size >= 10_000) this.vdcNamespaceCache.clear();
    this.vdcNamespaceCache.set(org, {
      generation: this.namespaceGeneration,
      ownersGeneration: owners.generation,
      postings,
    });
    return postings;
  }

  /** The lists that hold a scope's events, or undefined for `all`. */
  private scopeSources(scope: Scope, visible: (r: EventRecord) => boolean): Plan | undefined {
    if (scope.kind === 'all') return undefined;
    const org = scope.organization;
    if (scope.kind === 'own') {
      const sources: Source[] = [];
      const byActor = this.posting('actor', scope.username);
      const byOwner = this.posting('owner', scope.username);
      if (byActor) sources.push({ list: byActor.list });
      if (byOwner) sources.push({ list: byOwner.list });
      return { sources, disjoint: false, residual: visible };
    }
    const sources: Source[] = [];
    // org-<org> only when labelled as the organization's (a same-named foreign namespace is not).
    const home = isHomeNamespaceOf(orgNamespace(org), org, this.namespaceOwners)
      ? this.posting('namespace', orgNamespace(org))
      : undefined;
    if (home) sources.push({ list: home.list });
    // Every event in a namespace the organization owns is the organization's (annotations or not).
    for (const posting of this.vdcNamespaces(org)) sources.push({ list: posting.list });
    const own = this.organizationObjects.get(org);
    if (own) sources.push({ list: own.list, filter: trustedOrganizationEvent });
    return { sources, disjoint: true };
  }

  /** Picks the smallest set of lists to walk; undefined when nothing can match. */
  private plan(filters: EventFilters, scope: Scope): Plan | undefined {
    const checks: ((r: EventRecord) => boolean)[] = [];
    let best: Plan = { sources: [{ list: this.all }], disjoint: true };
    let bestSize = this.all.size;
    let bestFilter: keyof EventFilters | 'scope' | undefined;

    for (const [filter, field] of FILTER_FIELDS) {
      const value = filters[filter];
      if (value === undefined) continue;
      const posting = this.posting(field, String(value));
      if (!posting) return undefined;
      if (posting.list.size < bestSize) {
        best = { sources: [{ list: posting.list }], disjoint: true };
        bestSize = posting.list.size;
        bestFilter = filter;
      }
    }
    const visible = scopeMatcher(scope, this.namespaceOwners);
    // A namespace filter (already checked against the scope) beats walking the scope's lists.
    const scoped = filters.namespace === undefined ? this.scopeSources(scope, visible) : undefined;
    if (scope.kind !== 'all' && !scoped) checks.push(visible);
    if (scoped) {
      const size = scoped.sources.reduce((n, s) => n + s.list.size, 0);
      if (size <= bestSize) {
        best = scoped;
        bestFilter = 'scope';
      } else {
        checks.push(visible);
      }
      if (size === 0) return undefined;
    }
    if (bestFilter === 'scope' && scoped?.residual) checks.push(scoped.residual);

    for (const [filter, field] of FILTER_FIELDS) {
      const value = filters[filter];
      if (value === undefined || filter === bestFilter) continue;
      checks.push((r) => r[field] === value);
    }
    if (filters.component !== undefined) checks.push(componentMatcher(filters.component));
    // `since` is not a check: every walk stops at the first record older than it.

    if (checks.length === 1) best.residual = checks[0];
    else if (checks.length > 1) {
      best.residual = (r) => {
        for (const check of checks) if (!check(r)) return false;
        return true;
      };
    }
    return best;
  }

  private execute(plan: Plan, since: number | undefined, offset: number, limit: number): QueryResult {
    const { sources, disjoint, residual } = plan;
    const bounds = sources.map((s) => (since === undefined ? s.list.size : s.list.countSince(since)));
    const exact = disjoint && !residual && sources.every((s) => !s.filter);
    const items: EventRecord[] = [];
    const end = offset + limit;

    if (exact) {
      const total = bounds.reduce((n, b) => n + b, 0);
      if (offset >= total) return { items, total };
      if (sources.length === 1) {
        const list = (sources[0] as Source).list;
        for (let i = offset; i < Math.min(end, total); i++) items.push(list.nth(i));
        return { items, total };
      }
      let seen = 0;
      for (const r of merge(sources, bounds)) {
        if (seen >= offset) items.push(r);
        if (++seen >= end) break;
      }
      return { items, total };
    }

    let total = 0;
    let previous: EventRecord | undefined;
    const walk =
      sources.length === 1 ? single(sources[0] as Source, bounds[0] as number) : merge(sources, bounds);
    for (const r of walk) {
      if (!disjoint && r === previous) continue;
      previous = r;
      if (residual && !residual(r)) continue;
      if (total >= offset && total < end) items.push(r);
      total++;
    }
    return { items, total };
  }
}

function* single(source: Source, bound: number): Generator<EventRecord> {
  const { list, filter } = source;
  for (let i = 0; i < bound; i++) {
    const r = list.nth(i);
    if (!filter || filter(r)) yield r;
  }
}

/** K-way merge of lists in API order (a binary heap of cursors); equal records stay adjacent. */
function* merge(sources: Source[], bounds: number[]): Generator<EventRecord> {
  interface Cursor {
    source: Source;
    index: number;
    bound: number;
    current: EventRecord;
  }
  const heap: Cursor[] = [];
  const advance = (c: Cursor): boolean => {
    const { list, filter } = c.source;
    while (c.index < c.bound) {
      const r = list.nth(c.index++);
      if (!filter || filter(r)) {
        c.current = r;
        return true;
      }
    }
    return false;
  };
  const less = (a: Cursor, b: Cursor) => compareEvents(a.current, b.current) < 0;
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l] as Cursor, heap[m] as Cursor)) m = l;
      if (r < heap.length && less(heap[r] as Cursor, heap[m] as Cursor)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m] as Cursor, heap[i] as Cursor];
      i = m;
    }
  };
  sources.forEach((source, i) => {
    const cursor = { source, index: 0, bound: bounds[i] as number, current: undefined as unknown as EventRecord };
    if (advance(cursor)) heap.push(cursor);
  });
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  while (heap.length > 0) {
    const top = heap[0] as Cursor;
    yield top.current;
    if (!advance(top)) {
      const last = heap.pop() as Cursor;
      if (heap.length === 0) break;
      heap[0] = last;
    }
    down(0);
  }
}

/**
 * An Event reduced to what compactEvent reads: the informer's cache then holds a fraction of
 * each Event (no managedFields, no foreign annotations) instead of a second full copy.
 */
export function slimEvent(event: EventObject): EventObject {
  const meta = event.metadata ?? {};
  const annotations: Record<string, string> = {};
  for (const key of Object.values(EVENT_ANNOTATIONS)) {
    const value = meta.annotations?.[key];
    if (value !== undefined) annotations[key] = value;
  }
  return {
    metadata: {
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      creationTimestamp: meta.creationTimestamp,
      annotations,
    },
    involvedObject: { kind: event.involvedObject?.kind, name: event.involvedObject?.name },
    type: event.type,
    reason: event.reason,
    message: event.message,
    source: { component: event.source?.component },
    reportingComponent: event.reportingComponent,
    firstTimestamp: event.firstTimestamp,
    lastTimestamp: event.lastTimestamp,
    eventTime: event.eventTime,
    series: event.series,
    count: event.count,
  };
}

/** The informer on core/v1 Events in all namespaces that feeds the store (ask the InformerFactory). */
export const EVENTS_INFORMER: InformerSpec<EventObject> = { apiVersion: 'v1', kind: 'Event', plural: 'events', transform: slimEvent };
