// The archive (DESIGN.md section 7): keeps every Event the store sees past the API server's TTL.
// Fed by the same Event informer as the EventStore (one watch), it buffers rows (bounded), writes
// them in batches (one transaction per batch, at most `flushDelayMs` after they arrive), retries
// with backoff when the database fails, and answers the API's history queries. Reads, writes and
// retention run in the engine (off the main event loop for the embedded one).
import type { Kysely } from 'kysely';
import type { Logger } from 'winston';
import type { NamespaceOwnership } from '../events/query.js';
import { LABELS } from '../resources/types.js';
import { compactEvent, type EventFeed, type EventObject } from '../events/store.js';
import { HistoryUnavailableError, type HistoryEngine } from './engine.js';
import { RetentionEnforcer, type RetentionReport } from './enforce.js';
import { defaultPolicies, validatePolicy, type RetentionPolicy } from './retention.js';
import { archivedByDefault, isMirrorOfApplicationEvent, mergeRows, rowOfRecord, tenantOf } from './rows.js';
import { rollupTotalQuery } from './totals.js';
import { TotalCache, type TotalWindow } from './total-cache.js';
import {
  MIGRATIONS,
  SCHEMA_VERSION,
  SchemaTooNewError,
  appliedVersionQuery,
  createVersionTable,
  versionRow,
  type ArchiveDatabase,
  type ArchiveRow,
} from './schema.js';
import {
  cappedCountQuery,
  compiler,
  listQuery,
  rememberOwnerQueries,
  rollupStatsQuery,
  rowParams,
  timestampAtQuery,
  statsQuery,
  upsertSql,
  type CursorKey,
  type HistorySelection,
  type ItemRow,
  type StatsGroup,
} from './sql.js';

const MAX_IN_FLIGHT = 2;

/** `total_count` is exact up to this many matches; above, an estimate (flagged). */
export const EXACT_COUNT_LIMIT = 100_000;

export interface HistoryArchiveOptions {
  engine: HistoryEngine;
  /** The live namespace owners (the namespace informer's); the archive remembers them too. */
  owners?: NamespaceOwnership;
  /** Archive every Event, not only OVIM's kinds and managed namespaces. */
  archiveAllEvents?: boolean;
  /** Rows waiting for the database, at most (default 10,000); more are dropped and counted. */
  bufferSize?: number;
  /** A row waits at most this long before its batch is written (default 250 ms). */
  flushDelayMs?: number;
  /** Rows per transaction (default 1,000). */
  batchSize?: number;
  /** Totals are exact up to this many counted rows, estimated above (default EXACT_COUNT_LIMIT). */
  exactCountLimit?: number;
  /** Retries after a failed write: from `retryMinMs` doubling to `retryMaxMs`. */
  retryMinMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
  now?: () => number;
  /**
   * Remember totals per selection until the next write (default on): deep paging through one
   * selection counts once. Benchmarks turn it off to measure the count itself.
   */
  countCache?: boolean;
  /**
   * How often a database server is probed (engines with `probe`, i.e. PostgreSQL; default
   * 15 s, 0 turns it off): an idle replica whose database is down reports degraded too.
   */
  probeIntervalMs?: number;
}

export interface HistoryHealth {
  status: 'ok' | 'degraded';
  reason?: string;
  buffered: number;
}

export interface HistoryCounters {
  ingested: number;
  buffered: number;
  overflowed: number;
  writeFailures: number;
  skipped: number;
  /** Rows deleted by retention, by category, type and cause (age | count). */
  deleted: { category: string; type: string; cause: string; count: number }[];
}

export interface HistoryPage {
  items: ItemRow[];
  total: number;
  totalExact: boolean;
  /** The position after the last item, when more matches follow. */
  next?: CursorKey;
}

export interface StatsRow {
  bucket: number;
  key: string | null;
  n: number;
}

/** Owners as the scopes see them: the live label first, else what the archive remembers. */
class RememberedOwners implements NamespaceOwnership {
  readonly remembered = new Map<string, string>();
  constructor(private readonly live: NamespaceOwnership | undefined) {}
  ownerOf(namespace: string): string | undefined {
    return this.live?.ownerOf(namespace) ?? this.remembered.get(namespace);
  }
}

/** What the archive needs from a namespace informer. */
export interface OwnerFeed {
  on(
    event: 'add' | 'update' | 'delete',
    handler: (obj: { metadata?: { name?: string; labels?: Record<string, string> } }) => void,
  ): unknown;
}

export class HistoryArchive {
  readonly engine: HistoryEngine;
  /** Namespace owners for the history API: live, else remembered (a deleted VDC's namespace). */
  readonly owners: RememberedOwners;
  private readonly db: Kysely<ArchiveDatabase>;
  private readonly upsert: string;
  private readonly buffer = new Map<string, ArchiveRow>();
  private readonly ownerWrites = new Map<string, string>();
  private readonly bufferSize: number;
  private readonly flushDelayMs: number;
  private readonly batchSize: number;
  private readonly exactCountLimit: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly archiveAll: boolean;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Batches being written (two at most: the next is sent while one is written). */
  private inFlight = 0;
  private closed = false;
  private failures = 0;
  private lastError: string | undefined;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private lastOverflowLog = 0;
  private readonly counters = { ingested: 0, overflowed: 0, writeFailures: 0, skipped: 0 };
  readonly retention: RetentionEnforcer;
  /** Cached totals, invalidated in proportion to what each write can change (total-cache.ts). */
  private readonly totals: TotalCache;
  private readonly countCache: boolean;
  private readonly probeIntervalMs: number;
  private probeTimer: NodeJS.Timeout | undefined;
  /** Why the last probe failed (cleared by a probe or a write that succeeds). */
  private probeFailure: string | undefined;

  private constructor(options: HistoryArchiveOptions) {
    this.engine = options.engine;
    this.owners = new RememberedOwners(options.owners);
    this.db = compiler(options.engine.dialect);
    this.upsert = upsertSql(this.db);
    this.bufferSize = Math.max(1, options.bufferSize ?? 10_000);
    this.flushDelayMs = options.flushDelayMs ?? 250;
    this.batchSize = Math.max(1, options.batchSize ?? 1_000);
    this.exactCountLimit = Math.max(1, options.exactCountLimit ?? EXACT_COUNT_LIMIT);
    this.retryMinMs = options.retryMinMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.archiveAll = options.archiveAllEvents ?? false;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.countCache = options.countCache ?? true;
    this.totals = new TotalCache(this.now);
    this.probeIntervalMs = options.probeIntervalMs ?? 15_000;
    this.retention = new RetentionEnforcer(this.engine, this.db, {
      logger: this.logger,
      now: this.now,
      onDeleted: () => this.totals.noteWrite(),
    });
  }

  /**
   * Opens the database: refuses (naming it) a file it cannot read, refuses a schema newer than
   * this code knows before writing anything, applies the pending migrations, seeds the default
   * retention policies, and loads the remembered namespace owners.
   */
  static async open(options: HistoryArchiveOptions): Promise<HistoryArchive> {
    const archive = new HistoryArchive(options);
    const { engine, db } = archive;
    await engine.open();
    try {
      await engine.lockSchema?.();
      await engine.write([createVersionTable(db, engine.dialect)]);
      const [row] = await engine.readPrimary<{ v: number | null }>(appliedVersionQuery(db));
      const applied = Number(row?.v ?? 0);
      if (applied > SCHEMA_VERSION) {
        throw new SchemaTooNewError(
          `history database ${engine.location} has schema version ${applied}, newer than this operator knows (${SCHEMA_VERSION}): ` +
            'upgrade the operator or point --history-path elsewhere; nothing was written',
        );
      }
      await engine.configure();
      const now = archive.now();
      for (const m of MIGRATIONS) {
        if (m.version <= applied) continue;
        await engine.write([...m.up(db, engine.dialect), versionRow(db, m.version, now)]);
        archive.logger?.info(`history: applied schema migration ${m.version} (${m.description})`);
      }
      await engine.write(
        defaultPolicies().map((p) =>
          db
            .insertInto('retention_policies')
            .values({ category: p.category, type: p.type, retention_days: p.retentionDays, max_events: p.maxEvents, updated_at: now })
            .onConflict((oc) => oc.columns(['category', 'type']).doNothing())
            .compile(),
        ),
      );
      const owners = await engine.readPrimary<{ namespace: string; organization: string }>(
        db.selectFrom('namespace_owners').select(['namespace', 'organization']).compile(),
      );
      for (const o of owners) archive.owners.remembered.set(o.namespace, o.organization);
      await engine.ready?.();
    } catch (err) {
      await engine.close();
      throw err;
    }
    archive.startProbing();
    return archive;
  }

  /** Follows the Event informer the EventStore follows: adds and updates; deletions are kept. */
  follow(feed: EventFeed): this {
    feed.on('add', (e) => this.ingest(e));
    feed.on('update', (e) => this.ingest(e));
    return this;
  }

  /** Remembers each managed namespace's organization (its label), for good. */
  followNamespaces(feed: OwnerFeed, organizationLabel: string = LABELS.organization): this {
    const seen = (ns: { metadata?: { name?: string; labels?: Record<string, string> } }) => {
      const name = ns.metadata?.name;
      const org = ns.metadata?.labels?.[organizationLabel];
      if (name && org) this.rememberOwner(name, org);
    };
    feed.on('add', seen);
    feed.on('update', seen);
    return this;
  }

  rememberOwner(namespace: string, organization: string): void {
    if (this.owners.remembered.get(namespace) === organization) return;
    this.owners.remembered.set(namespace, organization);
    this.ownerWrites.set(namespace, organization);
    this.schedule();
  }

  /** Queues an Event (never blocks, never throws). */
  ingest(event: EventObject): void {
    // The Kubernetes copy of an application-level event: its row is the application's (one row).
    if (isMirrorOfApplicationEvent(event)) {
      this.counters.skipped++;
      return;
    }
    const now = this.now();
    const record = compactEvent(event, now);
    if (!record) return;
    if (!this.archiveAll && !archivedByDefault(record, this.owners)) {
      this.counters.skipped++;
      return;
    }
    this.ingestRow(rowOfRecord(record, this.owners, now));
  }

  /** Queues a row (bounded: past `bufferSize` new rows are dropped and counted). */
  ingestRow(row: ArchiveRow): void {
    if (this.closed) return;
    const queued = this.buffer.get(row.uid);
    if (queued) {
      this.buffer.set(row.uid, mergeRows(queued, row));
    } else if (this.buffer.size >= this.bufferSize) {
      this.counters.overflowed++;
      const now = Date.now();
      if (now - this.lastOverflowLog >= 60_000) {
        this.lastOverflowLog = now;
        this.logger?.warn(
          `history: buffer full (${this.bufferSize} events waiting for the database): dropping new events; ${this.counters.overflowed} dropped so far`,
        );
      }
      return;
    } else {
      this.buffer.set(row.uid, row);
    }
    this.schedule();
  }

  /** Resolves once every queued row is written; rejects when a write fails meanwhile. */
  async flush(): Promise<void> {
    while (this.buffer.size > 0 || this.ownerWrites.size > 0 || this.inFlight > 0) {
      const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
      if (this.inFlight === 0) {
        clearTimeout(this.timer);
        this.timer = undefined;
        void this.write();
      }
      await done;
    }
  }

  health(): HistoryHealth {
    const buffered = this.buffer.size;
    if (this.closed) return { status: 'degraded', reason: 'history archive is closed', buffered };
    if (this.failures > 0) {
      return {
        status: 'degraded',
        reason: `history writes failing (${this.failures} attempts): ${this.lastError ?? 'unknown error'}; ${buffered} events buffered`,
        buffered,
      };
    }
    if (this.probeFailure !== undefined) return { status: 'degraded', reason: `history database unreachable: ${this.probeFailure}`, buffered };
    return { status: 'ok', buffered };
  }

  stats(): HistoryCounters {
    return { ...this.counters, buffered: this.buffer.size, deleted: this.retention.deletedCounts() };
  }

  /**
   * Another writer changed rows (application-level events): the cached totals it can change are
   * stale. `earliest`: see TotalCache.noteWrite (undefined: any row).
   */
  noteWrite(earliest?: number): void {
    this.totals.noteWrite(earliest);
  }

  /** One page of a selection, its total (exact up to the exact-count limit), and the next cursor. */
  async list(selection: HistorySelection, page: { limit: number; offset: number; after?: CursorKey }): Promise<HistoryPage> {
    // The page and its total at once (two connections on PostgreSQL): the answer waits for the slower.
    const [rows, { total, exact: totalExact }] = await Promise.all([
      this.read<ItemRow>(listQuery(this.db, selection, { ...page, limit: page.limit + 1 })),
      this.total(selection),
    ]);
    const more = rows.length > page.limit;
    const items = more ? rows.slice(0, page.limit) : rows;
    const last = items[items.length - 1];
    const result: HistoryPage = { items, total, totalExact };
    if (more && last) {
      result.next = { lastTimestamp: last.last_timestamp, name: last.name, namespace: last.namespace, uid: last.uid };
    }
    return result;
  }

  /** The number of matches: exact up to the exact-count limit (at any size from the rollup), else an estimate. */
  private async total(selection: HistorySelection): Promise<{ total: number; exact: boolean }> {
    if (!this.countCache) return this.count(selection);
    const key = JSON.stringify([selection.scope, selection.filters, selection.includeDeleted ?? false, selection.vocabulary]);
    return this.totals.total(key, rollupTotalQuery(this.db, selection) !== undefined, (window) => this.count(window ? windowed(selection, window) : selection));
  }

  private async count(selection: HistorySelection): Promise<{ total: number; exact: boolean }> {
    if (selection.filters.since !== undefined && selection.filters.until !== undefined && selection.filters.since > selection.filters.until) {
      return { total: 0, exact: true };
    }
    // The rollup's sum where it holds the selection (exact at any size, see totals.ts), else the
    // rows counted up to the limit and an estimate above it.
    const fromRollup = rollupTotalQuery(this.db, selection);
    const [count] = await this.read<{ n: number }>(fromRollup ?? cappedCountQuery(this.db, selection, this.exactCountLimit));
    const n = Number(count?.n ?? 0);
    return n > this.exactCountLimit && !fromRollup ? { total: await this.estimate(selection, n), exact: false } : { total: n, exact: true };
  }

  /** Every match, in the API's order, in pages of `pageSize` rows (keyset: constant memory). */
  async *exportRows(selection: HistorySelection, pageSize = 1_000): AsyncGenerator<ItemRow[]> {
    let after: CursorKey | undefined;
    for (;;) {
      const rows = await this.read<ItemRow>(listQuery(this.db, selection, { limit: pageSize, offset: 0, after }));
      if (rows.length > 0) yield rows;
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1] as ItemRow;
      after = { lastTimestamp: last.last_timestamp, name: last.name, namespace: last.namespace, uid: last.uid };
    }
  }

  /** Matches per time bucket and group value. */
  async countStats(selection: HistorySelection, bucketMs: number, group: StatsGroup): Promise<StatsRow[]> {
    // Whole hours on the rollup's dimensions come from the rollup; the rest from the rows.
    const rows = await this.read<StatsRow>(rollupStatsQuery(this.db, selection, bucketMs, group) ?? statsQuery(this.db, selection, bucketMs, group));
    return rows.map((r) => ({ bucket: Number(r.bucket), key: r.key, n: Number(r.n) }));
  }

  async policies(): Promise<RetentionPolicy[]> {
    return this.retention.policies();
  }

  async setPolicy(policy: RetentionPolicy): Promise<void> {
    const p = validatePolicy(policy);
    await this.engine.write([
      this.db
        .insertInto('retention_policies')
        .values({ category: p.category, type: p.type, retention_days: p.retentionDays, max_events: p.maxEvents, updated_at: this.now() })
        .onConflict((oc) =>
          oc.columns(['category', 'type']).doUpdateSet({ retention_days: p.retentionDays, max_events: p.maxEvents, updated_at: this.now() }),
        )
        .compile(),
    ]);
  }

  /** One retention pass over every policy, in small batches. */
  enforceRetention(): Promise<RetentionReport> {
    return this.retention.run();
  }

  /** Flushes what it can (briefly) and closes the engine. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.retention.stop();
    clearTimeout(this.probeTimer);
    try {
      if (this.failures === 0) await this.flush();
    } catch (err) {
      this.logger?.warn(`history: could not write the last ${this.buffer.size} events before closing: ${(err as Error).message}`);
    }
    this.closed = true;
    clearTimeout(this.timer);
    await this.engine.close();
  }

  private async read<R>(query: Parameters<HistoryEngine['read']>[0]): Promise<R[]> {
    if (this.closed) throw new HistoryUnavailableError('history archive is closed');
    try {
      return await this.engine.read<R>(query);
    } catch (err) {
      if (err instanceof HistoryUnavailableError) throw err;
      throw new HistoryUnavailableError(`history query failed: ${(err as Error).message}`);
    }
  }

  /**
   * Above the exact limit: the rate of matches over the newest `counted` of them, extrapolated
   * to the selection's whole time span (three index lookups where an index covers the filters).
   */
  private async estimate(selection: HistorySelection, counted: number): Promise<number> {
    const at = async (direction: 'asc' | 'desc', offset = 0) =>
      (await this.read<{ t: number }>(timestampAtQuery(this.db, selection, direction, offset)))[0]?.t;
    const newest = await at('desc');
    const oldest = await at('asc');
    const oldestCounted = await at('desc', counted - 1);
    if (newest === undefined || oldest === undefined || oldestCounted === undefined) return counted;
    const covered = newest - oldestCounted;
    if (covered <= 0) return counted;
    return Math.max(counted, Math.round((counted * (newest - oldest)) / covered));
  }

  /** Probes the database every `probeIntervalMs` (one probe at a time), for health(). */
  private startProbing(): void {
    const probe = this.engine.probe?.bind(this.engine);
    if (!probe || this.probeIntervalMs <= 0) return;
    const tick = () => {
      this.probeTimer = setTimeout(() => {
        probe(Math.max(1_000, Math.min(5_000, this.probeIntervalMs)))
          .then(
            () => {
              if (this.probeFailure !== undefined) this.logger?.info('history: database reachable again');
              this.probeFailure = undefined;
            },
            (err: unknown) => {
              if (this.probeFailure === undefined) this.logger?.warn(`history: database probe failed: ${(err as Error).message}`);
              this.probeFailure = (err as Error).message;
            },
          )
          .finally(() => {
            if (!this.closed) tick();
          });
      }, this.probeIntervalMs);
      this.probeTimer.unref();
    };
    tick();
  }

  private schedule(): void {
    if (this.timer || this.inFlight >= MAX_IN_FLIGHT || this.closed) return;
    const delay = this.failures > 0 ? this.backoff() : this.buffer.size >= this.batchSize ? 0 : this.flushDelayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, delay);
    this.timer.unref();
  }

  private backoff(): number {
    return Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(20, this.failures - 1));
  }

  private async write(): Promise<void> {
    // While writes fail, one attempt at a time (with backoff).
    if (this.inFlight >= MAX_IN_FLIGHT || (this.failures > 0 && this.inFlight > 0) || this.closed) return;
    const owners = [...this.ownerWrites];
    this.ownerWrites.clear();
    const batch: ArchiveRow[] = [];
    for (const [uid, row] of this.buffer) {
      batch.push(row);
      this.buffer.delete(uid);
      if (batch.length >= this.batchSize) break;
    }
    if (batch.length === 0 && owners.length === 0) return;
    this.inFlight++;
    // Pipelining: the next full batch is prepared and sent while this one is written (the
    // engine applies them in order; upserts never move a row backwards, so a retry of an older
    // batch after a newer one is harmless).
    if (this.failures === 0 && this.buffer.size >= this.batchSize) setImmediate(() => void this.write());
    let error: Error | undefined;
    try {
      const now = this.now();
      if (owners.length > 0) await this.engine.write(owners.flatMap(([ns, org]) => rememberOwnerQueries(this.db, ns, org, now)));
      if (batch.length > 0) {
        // A row's tenant may have become known while it waited.
        for (const row of batch) {
          if (row.org_id === null) row.org_id = tenantOf({ namespace: row.namespace, kind: row.kind, objectName: row.object_name, component: row.component }, this.owners) ?? null;
        }
        await this.engine.writeMany(this.upsert, batch.map(rowParams));
      }
      this.counters.ingested += batch.length;
      // Remembered owners may give older rows a tenant: any total may change.
      this.totals.noteWrite(owners.length > 0 ? undefined : earliestFirst(batch));
      if (this.failures > 0) this.logger?.info(`history: writes recovered after ${this.failures} failed attempts`);
      this.failures = 0;
      this.lastError = undefined;
      this.probeFailure = undefined;
    } catch (err) {
      error = err as Error;
      this.failures++;
      this.counters.writeFailures++;
      this.lastError = error.message;
      if (this.failures === 1 || this.failures % 10 === 0) {
        this.logger?.warn(`history: write failed (attempt ${this.failures}), retrying: ${error.message}`);
      }
      // Back into the buffer, merged with what arrived meanwhile (may briefly exceed the bound).
      for (const [ns, org] of owners) if (!this.ownerWrites.has(ns)) this.ownerWrites.set(ns, org);
      for (const row of batch) {
        const newer = this.buffer.get(row.uid);
        this.buffer.set(row.uid, newer ? mergeRows(row, newer) : row);
      }
    } finally {
      this.inFlight--;
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (error) w.reject(error);
      else w.resolve();
    }
    if (this.buffer.size > 0 || this.ownerWrites.size > 0) {
      if (!error && this.waiters.length === 0) {
        // Rows that arrived during the write have waited already: write them now.
        this.timer = setTimeout(() => {
          this.timer = undefined;
          void this.write();
        }, 0);
        this.timer.unref();
      } else {
        this.schedule();
      }
    }
  }
}

/** The smallest first_timestamp of rows (no row's last_timestamp precedes it). */
export function earliestFirst(rows: readonly { first_timestamp: number }[]): number {
  let min = Infinity;
  for (const r of rows) if (r.first_timestamp < min) min = r.first_timestamp;
  return min;
}

/** The selection within a window at an hour boundary (the split of TotalCache). */
function windowed(selection: HistorySelection, window: TotalWindow): HistorySelection {
  const f = { ...selection.filters };
  if ('before' in window) f.until = Math.min(f.until ?? Infinity, window.before - 1);
  else f.since = Math.max(f.since ?? -Infinity, window.from);
  return { ...selection, filters: f };
}
