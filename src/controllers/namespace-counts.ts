// Per-namespace counts of an informer's objects, kept up to date from its add/update/delete
// events, so that a VDC's counts cost O(1) and its members O(namespace) instead of a scan of
// the whole cache per reconcile. Pure bookkeeping: no I/O.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface Counts {
  total: number;
  running: number;
}

/** How an object counts: not at all (e.g. a finished pod), in the total, or also as running. */
export type Standing = 0 | 1 | 2;
export const NOT_COUNTED: Standing = 0;
export const COUNTED: Standing = 1;
export const RUNNING: Standing = 2;

interface Bucket {
  members: Map<string, Standing>;
  total: number;
  running: number;
}

/** What NamespaceCounts needs from an informer (ResilientInformer fits). */
export interface CountFeed<T> {
  on(event: 'add' | 'update' | 'delete', handler: (obj: T, old?: T) => void): unknown;
}

export class NamespaceCounts<T extends KubernetesObject> {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly standing: (obj: T) => Standing) {}

  /** Follows an informer from now on (attach before it starts, so its first list is seen). */
  follow(feed: CountFeed<T>): this {
    feed.on('add', (o) => this.set(o));
    feed.on('update', (o) => this.set(o));
    feed.on('delete', (o) => this.remove(o));
    return this;
  }

  set(obj: T): void {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name;
    if (ns === undefined || name === undefined) return;
    let bucket = this.buckets.get(ns);
    if (!bucket) this.buckets.set(ns, (bucket = { members: new Map(), total: 0, running: 0 }));
    const before = bucket.members.get(name);
    const now = this.standing(obj);
    if (before !== undefined) this.tally(bucket, before, -1);
    bucket.members.set(name, now);
    this.tally(bucket, now, 1);
  }

  remove(obj: T): void {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name;
    if (ns === undefined || name === undefined) return;
    const bucket = this.buckets.get(ns);
    const before = bucket?.members.get(name);
    if (!bucket || before === undefined) return;
    this.tally(bucket, before, -1);
    bucket.members.delete(name);
    if (bucket.members.size === 0) this.buckets.delete(ns);
  }

  counts(namespace: string): Counts {
    const b = this.buckets.get(namespace);
    return { total: b?.total ?? 0, running: b?.running ?? 0 };
  }

  /** The names of the namespace's objects (counted or not). */
  names(namespace: string): Iterable<string> {
    return this.buckets.get(namespace)?.members.keys() ?? [];
  }

  private tally(bucket: Bucket, s: Standing, sign: 1 | -1): void {
    if (s >= COUNTED) bucket.total += sign;
    if (s === RUNNING) bucket.running += sign;
  }
}
