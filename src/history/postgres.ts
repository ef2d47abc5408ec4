// The PostgreSQL engine (DESIGN.md section 7): for several replicas and for scale. Two bounded
// pools (writes: ingestion, retention, migrations; reads: the API's queries, with a statement
// timeout), TLS options passed through (the URL's sslmode/sslrootcert/sslcert/sslkey, or `ssl`).
// Every write transaction takes one advisory lock, so replicas ingesting the same stream apply
// their batches one after another (no duplicate, no deadlock); migrations hold another advisory
// lock from the version check until they are applied. Connection failures answer
// HistoryUnavailableError (the API's 503); no message carries the password.
import type { CompiledQuery } from 'kysely';
import pg from 'pg';
import type { Logger } from 'winston';
import { HistoryUnavailableError, type HistoryEngine, type PartitionDrop, type SqlParam } from './engine.js';
import { droppableCandidates, monthOf, monthsAhead, parsePartition, type MonthPartition } from './postgres-partitions.js';
import {
  FIRST_TIMESTAMP_PARAM,
  LIST_PARTITIONS_SQL,
  ROW_UPSERT_SQL,
  batchUpsertParams,
  batchUpsertSql,
  createPartitionSql,
  partitionCountsQuery,
  rollupSubtractQuery,
  survivorQuery,
} from './postgres-sql.js';
import { parseDatabaseUrl, type DatabaseUrl } from './postgres-url.js';
import { ROLLUP_LEVELS } from './rollup-levels.js';
import type { RetentionPolicy } from './retention.js';
import { compiler } from './sql.js';

/** Advisory lock keys (two-int form: the archive's namespace, then the purpose). */
const LOCK_SPACE = 0x0717;
const SCHEMA_LOCK = 1;
const WRITE_LOCK = 2;
/** A partition drop's wait for the table lock, per attempt; attempts; the pause between them. */
const DROP_LOCK_WAIT_MS = 50;
const DROP_ATTEMPTS = 40;
const DROP_RETRY_PAUSE_MS = 250;

export interface PostgresEngineOptions {
  /** Connections at most, reads and writes together (default 10; at least 2). */
  maxConnections?: number;
  /** TLS options for the driver; the URL's sslmode/sslrootcert/sslcert/sslkey take precedence. */
  ssl?: pg.PoolConfig['ssl'];
  /** Giving up on a connection attempt after this long (default 5 s). */
  connectTimeoutMs?: number;
  /** A read running longer than this is cancelled by the server and answers 503 (default 30 s). */
  readTimeoutMs?: number;
  /** Monthly partitions created ahead of the current month (default 3). */
  monthsAhead?: number;
  logger?: Logger;
}

/** bigint (count(*), timestamps) and numeric (sum) as JS numbers: ms timestamps fit exactly. */
const NUMBER_TYPES: ReadonlySet<number> = new Set([20, 1700]);
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMBER_TYPES.has(oid) ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Errors that mean "the database cannot be reached now" rather than "this statement is wrong". */
function isUnavailable(err: Error & { code?: string }): boolean {
  const code = err.code ?? '';
  if (/^(08|57P|53|40P01|55P03|57014)/.test(code)) return true;
  if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH…
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONN|not queryable/i.test(err.message);
}

export class PostgresEngine implements HistoryEngine {
  readonly dialect = 'postgres' as const;
  readonly location: string;
  private readonly url: DatabaseUrl;
  private readonly db = compiler('postgres');
  private readonly upsert = batchUpsertSql();
  private readonly writePool: pg.Pool;
  private readonly readPool: pg.Pool;
  private readonly monthsAheadCount: number;
  private readonly logger: Logger | undefined;
  /** Months whose partition exists (or could not be made: their rows go to the default one). */
  private readonly months = new Set<string>();
  private schemaLock: pg.PoolClient | undefined;
  private lastPoolError = 0;
  /** The pools' connection settings, for the health probe's own connection. */
  private readonly clientConfig: pg.ClientConfig;

  constructor(connectionString: string, options: PostgresEngineOptions = {}) {
    this.url = parseDatabaseUrl(connectionString);
    this.location = this.url.location;
    this.logger = options.logger;
    this.monthsAheadCount = options.monthsAhead ?? 3;
    const max = Math.max(2, options.maxConnections ?? 10);
    const writers = Math.min(3, max - 1);
    const common: pg.PoolConfig = {
      connectionString,
      ssl: options.ssl,
      types,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'ovim-operator',
      allowExitOnIdle: true,
    };
    this.clientConfig = common;
    this.writePool = new pg.Pool({ ...common, max: writers });
    this.readPool = new pg.Pool({ ...common, max: max - writers, statement_timeout: options.readTimeoutMs ?? 30_000 });
    // An idle connection that breaks (server restarted) must not crash the process.
    for (const pool of [this.writePool, this.readPool]) pool.on('error', (err) => this.poolError(err));
  }

  async open(): Promise<void> {
    await this.run(this.writePool, (c) => c.query('select 1'), 'connect');
  }

  async configure(): Promise<void> {
    // Nothing to set per database: durability is the server's (synchronous_commit, replicas).
  }

  /** Held from before the version check until the migrations are applied (see ready()). */
  async lockSchema(): Promise<void> {
    if (this.schemaLock) return;
    const client = await this.connect(this.writePool, 'lock the schema');
    try {
      await client.query('select pg_advisory_lock($1, $2)', [LOCK_SPACE, SCHEMA_LOCK]);
    } catch (err) {
      client.release(true);
      throw this.wrap(err, 'lock the schema');
    }
    this.schemaLock = client;
  }

  /** The schema is current: partitions for this month and the next ones, then the lock goes. */
  async ready(): Promise<void> {
    try {
      await this.ensurePartitions(monthsAhead(Date.now(), this.monthsAheadCount));
    } finally {
      await this.unlockSchema();
    }
  }

  /**
   * Health: one round trip on a connection of its own (busy pools do not make it fail), within
   * `timeoutMs` for the query and the pool's connect timeout for the connection.
   */
  async probe(timeoutMs: number): Promise<void> {
    const client = new pg.Client({ ...this.clientConfig, query_timeout: timeoutMs });
    // A connection broken later (server gone) must not crash the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
    } catch (err) {
      throw new HistoryUnavailableError(this.wrap(err, 'reach the server').message);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  readPrimary<R>(query: CompiledQuery): Promise<R[]> {
    return this.run(this.writePool, async (c) => (await c.query(query.sql, query.parameters as SqlParam[])).rows as R[], 'read');
  }

  read<R>(query: CompiledQuery): Promise<R[]> {
    return this.run(this.readPool, async (c) => (await c.query(query.sql, query.parameters as SqlParam[])).rows as R[], 'query');
  }

  write(queries: readonly CompiledQuery[]): Promise<number[]> {
    return this.transaction(async (c) => {
      const changed: number[] = [];
      for (const q of queries) changed.push((await c.query(q.sql, q.parameters as SqlParam[])).rowCount ?? 0);
      return changed;
    }, 'write');
  }

  /**
   * The archive's row upsert runs as one statement per batch (rows as column arrays), after the
   * months its rows fall in have a partition; any other statement runs once per row.
   */
  async writeMany(sql: string, rows: SqlParam[][]): Promise<void> {
    if (rows.length === 0) return;
    if (sql !== ROW_UPSERT_SQL) {
      await this.transaction(async (c) => {
        for (const row of rows) await c.query(sql, row);
      }, 'write');
      return;
    }
    const months = new Map<string, MonthPartition>();
    for (const r of rows) {
      const m = monthOf(Number(r[FIRST_TIMESTAMP_PARAM]));
      if (!this.months.has(m.name)) months.set(m.name, m);
    }
    if (months.size > 0) await this.ensurePartitions([...months.values()]);
    await this.transaction(async (c) => {
      await c.query(this.upsert, batchUpsertParams(rows));
    }, 'write');
  }

  /**
   * Drops the monthly partitions whose every row has expired under its policy, each in one
   * short transaction (the partition locked against writes, the rollup corrected, then dropped);
   * a partition in use past the lock timeout waits for the next pass.
   */
  async dropExpiredPartitions(policies: readonly RetentionPolicy[], now: number): Promise<PartitionDrop[]> {
    // The leader's pass also keeps the coming months' partitions made ahead of their rows.
    await this.ensurePartitions(monthsAhead(Date.now(), this.monthsAheadCount));
    const existing = (await this.readPrimary<{ name: string }>({ sql: LIST_PARTITIONS_SQL, parameters: [] } as unknown as CompiledQuery))
      .map((r) => parsePartition(r.name))
      .filter((p): p is MonthPartition => p !== undefined);
    const drops: PartitionDrop[] = [];
    for (const p of droppableCandidates(existing, policies, now)) {
      const dropped = await this.transaction(async (c) => {
        await c.query(`set local lock_timeout = '2s'`);
        await c.query(`lock table ${p.name} in share row exclusive mode`);
        const survivor = survivorQuery(this.db, p, policies, now);
        const [row] = (await c.query<{ survives: boolean }>(survivor.sql, survivor.parameters as SqlParam[])).rows;
        if (row?.survives !== false) return undefined;
        const counts = partitionCountsQuery(this.db, p);
        const rows = (await c.query<{ category: string; type: string; n: number }>(counts.sql, counts.parameters as SqlParam[])).rows;
        for (const level of ROLLUP_LEVELS) await c.query(rollupSubtractQuery(this.db, p, level).sql);
        await this.dropWithShortWaits(c, p.name);
        return rows;
      }, 'drop an expired partition').catch((err: Error) => {
        this.logger?.warn(`history retention: partition ${p.name} kept for now: ${err.message}`);
        return undefined;
      });
      if (!dropped) continue;
      this.months.delete(p.name);
      drops.push({ partition: p.name, rows: dropped.map((r) => ({ category: r.category, type: r.type, count: Number(r.n) })) });
    }
    return drops;
  }

  /**
   * Dropping a partition needs the parent table to itself; while the drop waits for that lock,
   * every query on the archive queues behind it. So it waits at most DROP_LOCK_WAIT_MS at a
   * time (the queries behind it wait no longer), and tries again after a pause, up to
   * DROP_ATTEMPTS times, keeping the rest of the transaction's work (a savepoint).
   */
  private async dropWithShortWaits(c: pg.PoolClient, partition: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await c.query('savepoint drop_partition');
      await c.query(`set local lock_timeout = '${DROP_LOCK_WAIT_MS}ms'`);
      try {
        await c.query(`drop table ${partition}`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '55P03' || attempt >= DROP_ATTEMPTS) throw err;
        await c.query('rollback to savepoint drop_partition');
        await new Promise((r) => setTimeout(r, DROP_RETRY_PAUSE_MS));
      }
    }
  }

  /** Makes the partitions of every month from `from` to `to` (ms): before a bulk load. */
  async preparePartitions(from: number, to: number): Promise<void> {
    const months: MonthPartition[] = [];
    for (let m = monthOf(from); m.from <= to; m = monthOf(m.to)) months.push(m);
    await this.ensurePartitions(months);
  }

  async close(): Promise<void> {
    await this.unlockSchema();
    await Promise.all([this.writePool.end(), this.readPool.end()]);
  }

  private async unlockSchema(): Promise<void> {
    const client = this.schemaLock;
    this.schemaLock = undefined;
    if (!client) return;
    // The session lock goes with the session: a connection that is not returned to the pool.
    client.release(true);
  }

  private async ensurePartitions(months: readonly MonthPartition[]): Promise<void> {
    for (const m of months) {
      if (this.months.has(m.name)) continue;
      try {
        await this.transaction(async (c) => {
          await c.query(createPartitionSql(m));
        }, 'create a partition');
      } catch (err) {
        if (err instanceof HistoryUnavailableError) throw err;
        // E.g. rows of that month already in the default partition: they stay there.
        this.logger?.warn(`history: partition ${m.name} not created (its rows go to events_default): ${(err as Error).message}`);
      }
      this.months.add(m.name);
    }
  }

  /** One transaction holding the archive's write lock. */
  private transaction<T>(body: (c: pg.PoolClient) => Promise<T>, what: string): Promise<T> {
    return this.run(
      this.writePool,
      async (c) => {
        await c.query('begin');
        try {
          await c.query('select pg_advisory_xact_lock($1, $2)', [LOCK_SPACE, WRITE_LOCK]);
          const result = await body(c);
          await c.query('commit');
          return result;
        } catch (err) {
          await c.query('rollback').catch(() => undefined);
          throw err;
        }
      },
      what,
    );
  }

  private async connect(pool: pg.Pool, what: string): Promise<pg.PoolClient> {
    try {
      return await pool.connect();
    } catch (err) {
      throw this.wrap(err, what);
    }
  }

  private async run<T>(pool: pg.Pool, body: (c: pg.PoolClient) => Promise<T>, what: string): Promise<T> {
    const client = await this.connect(pool, what);
    let broken = false;
    try {
      return await body(client);
    } catch (err) {
      broken = isUnavailable(err as Error);
      throw this.wrap(err, what);
    } finally {
      client.release(broken);
    }
  }

  /** The error with the password taken out; connection failures as HistoryUnavailableError. */
  private wrap(err: unknown, what: string): Error {
    const e = err as Error & { code?: string };
    const message = this.url.redact(`history database ${this.location}: could not ${what}: ${e.message}`);
    if (e instanceof HistoryUnavailableError || isUnavailable(e)) return new HistoryUnavailableError(message);
    return Object.assign(new Error(message), { code: e.code });
  }

  private poolError(err: Error): void {
    const now = Date.now();
    if (now - this.lastPoolError < 10_000) return;
    this.lastPoolError = now;
    this.logger?.warn(this.url.redact(`history database ${this.location}: connection lost: ${err.message}`));
  }
}
