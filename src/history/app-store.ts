// Application-level events in the archive (DESIGN.md section 7): posted rows written at once (one
// transaction per call, so a bulk is all or nothing), Idempotency-Keys remembered in the same
// transaction, reads by id under the caller's scope, soft deletes and policy changes each
// recorded as a security event in the same transaction as the change.
import { sql, type CompiledQuery, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { Scope } from '../events/query.js';
import { securityRow } from './app-events.js';
import { earliestFirst, type HistoryArchive } from './archive.js';
import { HistoryUnavailableError } from './engine.js';
import type { RetentionReport } from './enforce.js';
import { validatePolicy, type RetentionPolicy } from './retention.js';
import type { ArchiveDatabase, ArchiveRow, EngineDialect } from './schema.js';
import { ROW_COLUMNS, compiler, scopePredicate } from './sql.js';

/** An Idempotency-Key's answer is replayed for this long. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

/** Every column of a row, as GET /api/v1/events/{id} shows it. */
export type FullRow = ArchiveRow;

export interface Remembered {
  fingerprint: string;
  status: number;
  /** The uids the first answer named. */
  uids: string[];
}

/** Another request already used this key (→ 422, the backend's convention for a reused key). */
export class IdempotencyConflict extends Error {
  readonly statusCode = 422;
}

export class NotFound extends Error {
  readonly statusCode = 404;
}

export class Forbidden extends Error {
  readonly statusCode = 403;
}

const FULL_COLUMNS = [...ROW_COLUMNS, 'requested_via', 'object_namespace', 'object_uid'] as const;

/** Rows of one uid folded (a bulk may repeat an occurrence): counts add up. Pure. */
export function foldRows(rows: readonly ArchiveRow[]): ArchiveRow[] {
  const byUid = new Map<string, ArchiveRow>();
  for (const row of rows) {
    const seen = byUid.get(row.uid);
    if (!seen) {
      byUid.set(row.uid, { ...row });
      continue;
    }
    seen.count += row.count;
    if (row.last_timestamp >= seen.last_timestamp) {
      seen.last_timestamp = row.last_timestamp;
      seen.message = row.message;
    }
  }
  return [...byUid.values()];
}

/**
 * Posted rows' upsert, one statement for all of them (distinct uids: see foldRows): a first
 * occurrence inserts, a repeat of the same (name, event_time) adds its count; a deletion is never
 * cleared (deleted_at is not in the update).
 */
export function appUpsert(db: Kysely<ArchiveDatabase>, dialect: EngineDialect, rows: readonly ArchiveRow[]): CompiledQuery {
  // Compiling the statement costs more than the rest of a bulk's main-thread work: rows of one
  // shape (appEventRow's) reuse the SQL compiled for their number, with their values in order.
  const columns = definedKeys(rows[0] as ArchiveRow);
  const shaped = rows.every((r) => sameShape(r, columns));
  const key = `${dialect}\n${rows.length}\n${columns.join(',')}`;
  const known = shaped ? compiledUpserts.get(key) : undefined;
  if (known) {
    const parameters: unknown[] = [];
    for (const row of rows) for (const c of columns) parameters.push(row[c as keyof ArchiveRow]);
    return { ...known, parameters };
  }
  const compiled = compileAppUpsert(db, dialect, rows);
  if (shaped) {
    if (compiledUpserts.size >= 256) compiledUpserts.clear();
    compiledUpserts.set(key, compiled);
  }
  return compiled;
}

const compiledUpserts = new Map<string, CompiledQuery>();

/** The keys Kysely inserts (it leaves undefined values out), in order. */
function definedKeys(row: ArchiveRow): string[] {
  return Object.keys(row).filter((k) => row[k as keyof ArchiveRow] !== undefined);
}

function sameShape(row: ArchiveRow, columns: readonly string[]): boolean {
  const keys = definedKeys(row);
  return keys.length === columns.length && keys.every((k, i) => k === columns[i]);
}

export function compileAppUpsert(db: Kysely<ArchiveDatabase>, dialect: EngineDialect, rows: readonly ArchiveRow[]): CompiledQuery {
  const newer = sql`excluded.last_timestamp >= events.last_timestamp`;
  return db
    .insertInto('events')
    .values([...rows])
    .onConflict((oc) =>
      // PostgreSQL partitions by first_timestamp: its unique key includes it (the event time here).
      oc.columns(dialect === 'postgres' ? ['uid', 'first_timestamp'] : ['uid']).doUpdateSet({
        count: sql`events.count + excluded.count`,
        last_timestamp: sql`case when excluded.last_timestamp > events.last_timestamp then excluded.last_timestamp else events.last_timestamp end`,
        message: sql`case when ${newer} then excluded.message else events.message end`,
      }),
    )
    .compile();
}

export class AppEventStore {
  private readonly db: Kysely<ArchiveDatabase>;
  readonly dialect: EngineDialect;

  constructor(
    private readonly archive: HistoryArchive,
    private readonly now: () => number = Date.now,
  ) {
    this.dialect = archive.engine.dialect;
    this.db = compiler(this.dialect);
  }

  /** The answer a key was first given, if it is still remembered. */
  async remembered(key: string): Promise<Remembered | undefined> {
    const rows = await this.read<{ fingerprint: string; status: number; body: string; created_at: number }>(
      this.db.selectFrom('app_idempotency').select(['fingerprint', 'status', 'body', 'created_at']).where('key', '=', key).compile(),
    );
    const r = rows[0];
    if (!r || Number(r.created_at) < this.now() - IDEMPOTENCY_TTL_MS) return undefined;
    return { fingerprint: r.fingerprint, status: Number(r.status), uids: JSON.parse(r.body) as string[] };
  }

  /**
   * Writes the rows in one transaction, with the key's answer when there is a key: a concurrent
   * request with the same key fails on the key's primary key and writes nothing.
   */
  async insert(rows: readonly ArchiveRow[], idempotency?: { key: string; fingerprint: string; status: number }): Promise<void> {
    const now = this.now();
    const queries: CompiledQuery[] = [];
    if (idempotency) {
      queries.push(this.db.deleteFrom('app_idempotency').where('created_at', '<', now - IDEMPOTENCY_TTL_MS).compile());
      queries.push(
        this.db
          .insertInto('app_idempotency')
          .values({ ...idempotency, body: JSON.stringify(rows.map((r) => r.uid)), created_at: now })
          .compile(),
      );
    }
    queries.push(appUpsert(this.db, this.dialect, foldRows(rows)));
    // A posted row's uid holds its event time: a repeat folds into a row of that same time.
    await this.write(queries, earliestFirst(rows));
  }

  /** Rows by uid under a scope (deleted ones only with `includeDeleted`). */
  async get(uids: readonly string[], scope: Scope, includeDeleted = false): Promise<FullRow[]> {
    if (uids.length === 0) return [];
    const rows = await this.read<FullRow>(
      this.db
        .selectFrom('events')
        .select([...FULL_COLUMNS])
        .where((eb) => {
          const parts: Expression<SqlBool>[] = [eb('uid', 'in', [...uids])];
          const scoped = scopePredicate(eb, scope);
          if (scoped) parts.push(scoped);
          if (!includeDeleted) parts.push(eb('deleted_at', 'is', null));
          return eb.and(parts);
        })
        .compile(),
    );
    const order = new Map(uids.map((u, i) => [u, i]));
    return rows.sort((a, b) => (order.get(a.uid) ?? 0) - (order.get(b.uid) ?? 0));
  }

  /**
   * Soft-deletes a row and records who did it as a security event, in one transaction. Security
   * events cannot be deleted (403); a row deleted already answers as deleted, with no new record.
   */
  async softDelete(uid: string, actor: string, securityNamespace: string): Promise<{ alreadyDeleted: boolean; securityEventId?: string }> {
    const [row] = await this.get([uid], { kind: 'all' }, true);
    if (!row) throw new NotFound(`event ${JSON.stringify(uid)} not found`);
    if (row.category === 'security') throw new Forbidden('security events cannot be deleted');
    if (row.deleted_at !== null) return { alreadyDeleted: true };
    const now = this.now();
    const record = securityRow(
      'EventDeleted',
      `Event ${uid} (${row.type} ${row.reason} on ${row.kind || 'no object'} ${row.object_name}, category ${row.category}) deleted by ${actor}`,
      actor,
      securityNamespace,
      now,
    );
    const [changed] = await this.write([
      this.db.updateTable('events').set({ deleted_at: now }).where('uid', '=', uid).where('deleted_at', 'is', null).compile(),
      appUpsert(this.db, this.dialect, [record]),
    ]);
    return changed === 0 ? { alreadyDeleted: true } : { alreadyDeleted: false, securityEventId: record.uid };
  }

  /**
   * Stores policy changes (each within the floors, or nothing is stored) and records what
   * changed and who changed it as one security event, in the same transaction.
   */
  async setPolicies(changes: readonly RetentionPolicy[], actor: string, securityNamespace: string): Promise<RetentionPolicy[]> {
    const valid = changes.map(validatePolicy);
    const before = new Map((await this.archive.policies()).map((p) => [`${p.category}/${p.type}`, p]));
    const now = this.now();
    const described = valid.map((p) => {
      const old = before.get(`${p.category}/${p.type}`);
      const max = (n: number | null | undefined) => (n === null || n === undefined ? 'none' : String(n));
      return `${p.category}/${p.type}: retention_days ${old?.retentionDays ?? '?'} -> ${p.retentionDays}, max_events ${max(old?.maxEvents)} -> ${max(p.maxEvents)}`;
    });
    const queries = valid.map((p) =>
      this.db
        .insertInto('retention_policies')
        .values({ category: p.category, type: p.type, retention_days: p.retentionDays, max_events: p.maxEvents, updated_at: now })
        .onConflict((oc) => oc.columns(['category', 'type']).doUpdateSet({ retention_days: p.retentionDays, max_events: p.maxEvents, updated_at: now }))
        .compile(),
    );
    const record = securityRow('PolicyChanged', `Retention policies changed by ${actor}: ${described.join('; ')}`, actor, securityNamespace, now);
    queries.push(appUpsert(this.db, this.dialect, [record]));
    await this.write(queries, record.first_timestamp);
    return this.archive.policies();
  }

  /** Runs retention now (the same pass as the periodic one). */
  cleanup(): Promise<RetentionReport> {
    return this.archive.enforceRetention();
  }

  /** `earliest`: see TotalCache.noteWrite (undefined: the write may change any row). */
  private async write(queries: CompiledQuery[], earliest?: number): Promise<number[]> {
    try {
      const changed = await this.archive.engine.write(queries);
      this.archive.noteWrite(earliest);
      return changed;
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdempotencyConflict('this Idempotency-Key is being used by a concurrent request; retry');
      if (err instanceof HistoryUnavailableError) throw err;
      throw new HistoryUnavailableError(`history write failed: ${(err as Error).message}`);
    }
  }

  private async read<R>(query: CompiledQuery): Promise<R[]> {
    try {
      return await this.archive.engine.read<R>(query);
    } catch (err) {
      if (err instanceof HistoryUnavailableError) throw err;
      throw new HistoryUnavailableError(`history query failed: ${(err as Error).message}`);
    }
  }
}

/** A unique-key violation (SQLite's SQLITE_CONSTRAINT_PRIMARYKEY, PostgreSQL's 23505). */
function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint failed: app_idempotency/.test(e.message ?? '');
}

