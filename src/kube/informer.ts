// A list-watch cache that keeps going. client-node's informer stops on any error but 410 and
// never backs off; this one relists or rewatches on every failure with exponential backoff and
// jitter, asks the server to end each watch after `watchTimeoutSeconds` (so a dead connection
// cannot hang forever), and relists when nothing at all arrived for too long.
import type { Logger } from 'winston';
import { Backoff, sleep } from './backoff.js';
import { apiStatusCode } from './errors.js';
import type { AnyKubeObject, ListObject } from './meta.js';
import type { WatchCallbacks } from './rest.js';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface ListOptions {
  resourceVersion?: string;
  limit?: number;
  _continue?: string;
}

export interface WatchOptions {
  resourceVersion: string;
  allowWatchBookmarks: boolean;
  timeoutSeconds: number;
}

export interface ResilientInformerOptions<T extends AnyKubeObject> {
  /** The resource's path, e.g. `/api/v1/events` (for logs). */
  path: string;
  /** One page of the list call for the resource and selectors. */
  list: (options: ListOptions) => Promise<ListObject<T>>;
  /**
   * One watch of the same resource and selectors (KubeClient.watch): resolves when the server
   * ends it or `signal` aborts, rejects on a failure (HTTP status in `code`).
   */
  watch: (options: WatchOptions, callbacks: WatchCallbacks<T>, signal: AbortSignal) => Promise<void>;
  /** Server-side watch timeout (default 300 s, spread by up to 20% so watches don't align). */
  watchTimeoutSeconds?: number;
  /** Relist when nothing (not even a bookmark) arrived for this long (default 2 x watch timeout). */
  staleAfterMs?: number;
  /** Page size of the list call (default 500). */
  pageSize?: number;
  backoff?: { initialMs: number; maxMs: number };
  logger?: Logger;
  /**
   * Applied to every object before it is cached and handed to the handlers (client-go's
   * SetTransform): drop what nobody reads, so the cache does not hold whole objects. It must
   * keep metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: T) => T;
}

type Handler<T> = (obj: T, old?: T) => void;

/** The values an object is indexed under (client-go's IndexFunc). */
export type IndexFunc<T> = (obj: T) => readonly string[];

/** The index inNamespace() builds on first use: an object's namespace. */
export const NAMESPACE_INDEX = 'namespace';
const namespaceOf: IndexFunc<AnyKubeObject> = (obj) => (obj.metadata?.namespace ? [obj.metadata.namespace] : []);

/** One secondary index: value -> cache key -> object (kept in step with the cache). */
interface Index<T> {
  of: IndexFunc<T>;
  buckets: Map<string, Map<string, T>>;
}

/**
 * Retry delays of a failed list or watch: 500 ms doubling, capped at 4 s (jitter included), so
 * that an informer follows the server again at most 4 s after it answers again, however long
 * the outage was. (An uncapped 30 s backoff kept the caches stale for 16-18 s after an outage
 * while /health already said ok.)
 */
export const INFORMER_BACKOFF = { initialMs: 500, maxMs: 4_000 } as const;

export function objectKey(obj: AnyKubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : (obj.metadata?.name ?? '');
}

export class ResilientInformer<T extends AnyKubeObject> {
  private readonly cache = new Map<string, T>();
  /** Secondary indexes (client-go's Indexer), so that a lookup by namespace is not a scan. */
  private readonly indexes = new Map<string, Index<T>>();
  private readonly handlers: Record<InformerEvent, Handler<T>[]> = { add: [], update: [], delete: [] };
  private readonly syncWaiters: (() => void)[] = [];
  private readonly backoff: Backoff;
  private abort: AbortController | undefined;
  private resourceVersion = '';
  private synced = false;
  /** A list answered and no list or watch failed since: the cache follows the server. */
  private watching = false;
  private lastActivity = Date.now();
  /** Counted for metrics and tests. */
  readonly stats = { lists: 0, watches: 0, restarts: 0, relistsOn410: 0, staleRelists: 0 };

  constructor(private readonly options: ResilientInformerOptions<T>) {
    this.backoff = new Backoff(options.backoff ?? INFORMER_BACKOFF);
  }

  on(event: InformerEvent, handler: Handler<T>): this {
    this.handlers[event].push(handler);
    return this;
  }

  /** When the list or watch last delivered anything (ms since the epoch): watch staleness. */
  get lastActivityAt(): number {
    return this.lastActivity;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /**
   * Whether the cache follows the server now: false from a failed list or watch until the next
   * list or watch connection succeeds (hasSynced() stays true: the cache is still served).
   */
  isWatching(): boolean {
    return this.watching && this.abort !== undefined;
  }

  /** Resolves once the first list has been delivered to the handlers. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /**
   * Adds a secondary index `name` (built from the cache now, kept up to date from then on); a
   * second call with the same name keeps the first. Informers are shared: indexes are too.
   */
  addIndex(name: string, of: IndexFunc<T>): this {
    if (this.indexes.has(name)) return this;
    const index: Index<T> = { of, buckets: new Map() };
    this.indexes.set(name, index);
    for (const [key, obj] of this.cache) indexAdd(index, key, obj);
    return this;
  }

  /** The cached objects whose index `name` holds `value` (the same objects a scan would find). */
  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`informer ${this.options.path} has no index '${name}'`);
    const bucket = index.buckets.get(value);
    return bucket ? [...bucket.values()] : [];
  }

  /** The cached objects of one namespace: O(objects there), not O(cache) (index made on first use). */
  inNamespace(namespace: string): T[] {
    return this.addIndex(NAMESPACE_INDEX, namespaceOf).byIndex(NAMESPACE_INDEX, namespace);
  }

  /** Objects in the cache. */
  get size(): number {
    return this.cache.size;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  start(): void {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    void this.run(abort.signal);
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
  }

  private log(level: 'debug' | 'info' | 'warn', message: string): void {
    this.options.logger?.log(level, message, { path: this.options.path });
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    while (!signal.aborted) {
      let listing: boolean = needList;
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        listing = false;
        const outcome = await this.watchOnce(signal);
        if (outcome === 'gone') {
          this.expired();
          needList = true;
        } else if (outcome === 'stale') {
          this.stats.staleRelists++;
          this.log('warn', 'no watch activity for too long; relisting');
          needList = true;
        }
        // 'closed': the server ended the watch (its timeout); watch again from where we were.
      } catch (err) {
        if (signal.aborted) break;
        this.watching = false;
        this.stats.restarts++;
        const status = apiStatusCode(err);
        if (status === 410) {
          this.expired();
          needList = true;
          continue;
        }
        // As client-go's reflector: a watch that could not connect or was cut (the API server
        // restarting or overloaded) is retried from the same resourceVersion; the server then
        // replays what was missed or answers 410 and we relist. Any other failure relists.
        needList = listing || !(status === undefined || status === 429 || status >= 500);
        const delay = this.backoff.next();
        this.log('warn', `${listing ? 'list' : 'watch'} failed (${status ?? (err instanceof Error ? err.message : String(err))}); ${needList ? 'relisting' : 'watching again'} in ${Math.round(delay)} ms`);
        await sleep(delay, signal);
      }
    }
  }

  /** The server no longer has our resourceVersion's history (410 Gone: compacted): relist. */
  private expired(): void {
    this.stats.relistsOn410++;
    this.log('info', 'watch expired (410); relisting');
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.options.list({ limit: this.options.pageSize ?? 500, _continue: cont });
      for (const item of page.items) fresh.set(objectKey(item), this.options.transform?.(item) ?? item);
      cont = page.metadata?._continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);

    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.remove(key, old);
        this.emit('delete', old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.put(key, obj, old);
      if (!old) this.emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
    }
    this.resourceVersion = rv;
    this.lastActivity = Date.now();
    this.backoff.reset();
    this.watching = true;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(signal: AbortSignal): Promise<'closed' | 'gone' | 'stale'> {
    this.stats.watches++;
    const base = this.options.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.max(1, Math.round(base * (1 + 0.2 * Math.random())));
    const staleAfterMs = this.options.staleAfterMs ?? base * 2_000;
    const watch = new AbortController();
    const onAbort = () => watch.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let gone = false;
    let stale = false;
    this.lastActivity = Date.now();
    const staleTimer: NodeJS.Timeout = setInterval(() => {
      if (Date.now() - this.lastActivity > staleAfterMs) {
        stale = true;
        watch.abort();
      }
    }, Math.min(staleAfterMs, 5_000));
    staleTimer.unref();
    try {
      await this.options.watch(
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        {
          onOpen: () => {
            // The server answered the watch request: the cache follows the server again.
            this.watching = true;
            this.backoff.reset();
          },
          onEvent: ({ type, object }) => {
            this.lastActivity = Date.now();
            if (type === 'ERROR') {
              const code = (object as unknown as { code?: number }).code;
              if (code === 410) gone = true;
              else this.log('warn', `watch error event: ${JSON.stringify(object).slice(0, 200)}`);
              return;
            }
            this.handleWatchEvent(type, object);
          },
        },
        watch.signal,
      );
    } finally {
      clearInterval(staleTimer);
      signal.removeEventListener('abort', onAbort);
    }
    return stale ? 'stale' : gone ? 'gone' : 'closed';
  }

  private handleWatchEvent(phase: string, raw: T): void {
    const rv = raw.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (phase === 'BOOKMARK') return;
    const obj = this.options.transform?.(raw) ?? raw;
    this.backoff.reset();
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (phase === 'DELETED') {
      if (old) this.remove(key, old);
      this.emit('delete', old ?? obj);
    } else if (phase === 'ADDED' || phase === 'MODIFIED') {
      this.put(key, obj, old);
      if (old) this.emit('update', obj, old);
      else this.emit('add', obj);
    }
  }

  /** Caches `obj` under `key` (replacing `old`) and moves it in every index. */
  private put(key: string, obj: T, old: T | undefined): void {
    this.cache.set(key, obj);
    for (const index of this.indexes.values()) {
      if (old) indexRemove(index, key, old, obj);
      indexAdd(index, key, obj);
    }
  }

  private remove(key: string, old: T): void {
    this.cache.delete(key);
    for (const index of this.indexes.values()) indexRemove(index, key, old);
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers[event]) {
      try {
        h(obj, old);
      } catch (err) {
        // A handler bug must not stop the cache from following the server.
        this.log('warn', `informer ${event} handler threw: ${(err as Error).message}`);
      }
    }
  }
}

function indexAdd<T>(index: Index<T>, key: string, obj: T): void {
  for (const value of index.of(obj)) {
    let bucket = index.buckets.get(value);
    if (!bucket) index.buckets.set(value, (bucket = new Map()));
    bucket.set(key, obj);
  }
}

/** Takes `key` out of the buckets of `old`'s values, except those `next` keeps (their order stays). */
function indexRemove<T>(index: Index<T>, key: string, old: T, next?: T): void {
  const keep = next ? index.of(next) : [];
  for (const value of index.of(old)) {
    if (keep.includes(value)) continue;
    const bucket = index.buckets.get(value);
    if (!bucket) continue;
    bucket.delete(key);
    if (bucket.size === 0) index.buckets.delete(value);
  }
}
