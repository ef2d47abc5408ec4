// The archive engine: what the history code needs from a database. The SQL itself is built once,
// engine-independently, with Kysely (sql.ts); an engine only runs it. The embedded engine
// (sqlite.ts) is the default; a PostgreSQL engine implements the same interface.
import type { CompiledQuery } from 'kysely';
import type { RetentionPolicy } from './retention.js';
import type { EngineDialect } from './schema.js';

export type SqlParam = string | number | null;

export interface HistoryEngine {
  readonly dialect: EngineDialect;
  /** Where the data lives, for messages (a file path, a database name; never credentials). */
  readonly location: string;
  /** Connects and checks the data is readable, writing nothing. Throws naming the location. */
  open(): Promise<void>;
  /** Engine settings that write (e.g. WAL), once the schema version is known to be ours. */
  configure(): Promise<void>;
  /** A read on the connection that writes (schema version checks before readers exist). */
  readPrimary<R>(query: CompiledQuery): Promise<R[]>;
  /** A read, off the main event loop. */
  read<R>(query: CompiledQuery): Promise<R[]>;
  /** Statements in one transaction; resolves to the rows each changed. */
  write(queries: readonly CompiledQuery[]): Promise<number[]>;
  /** One statement run once per parameter row, all in one transaction. */
  writeMany(sql: string, rows: SqlParam[][]): Promise<void>;
  close(): Promise<void>;
  // Optional: engines for several replicas (postgres.ts).
  /** Serialises migrations between replicas: taken before the version check… */
  lockSchema?(): Promise<void>;
  /** …and released once the schema is current. */
  ready?(): Promise<void>;
  /** A cheap round trip to a database server (health of an idle replica); rejects when it fails. */
  probe?(timeoutMs: number): Promise<void>;
  /** Retention's first step: whole time partitions whose every row has expired, dropped. */
  dropExpiredPartitions?(policies: readonly RetentionPolicy[], now: number): Promise<PartitionDrop[]>;
}

export interface PartitionDrop {
  partition: string;
  rows: { category: string; type: string; count: number }[];
}

/** The archive cannot answer now (database down, locked, broken): the API says 503. */
export class HistoryUnavailableError extends Error {
  readonly statusCode = 503;
  override name = 'HistoryUnavailableError';
}
