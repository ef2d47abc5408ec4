// The PostgreSQL archive's own statements: the batched upsert (one statement per batch, its rows
// as arrays), the partition maintenance and the whole-partition retention. The merge rules of
// the upsert are the embedded engine's (sql.ts upsertSql, compiled for PostgreSQL), so both
// engines fold a count bump the same way.
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import type { RetentionPolicy } from './retention.js';
import { expiryCutoff } from './retention.js';
import type { SqlParam } from './engine.js';
import { HOURLY, type RollupLevel } from './rollup-levels.js';
import type { ArchiveDatabase } from './schema.js';
import { ROW_COLUMNS, compiler, upsertSql } from './sql.js';
import type { MonthPartition } from './postgres-partitions.js';

const NUMERIC: ReadonlySet<string> = new Set(['first_timestamp', 'last_timestamp', 'count', 'ingested_at', 'deleted_at', 'actor_verified', 'owner_verified']);

/** `on conflict … do update set …` of the shared upsert, keyed as the partitioned table is. */
function conflictClause(): string {
  const shared = ROW_UPSERT_SQL;
  const at = shared.indexOf(' on conflict ("uid") do update set ');
  if (at < 0) throw new Error('history: unexpected shape of the shared upsert statement');
  return shared.slice(at).replace('on conflict ("uid")', 'on conflict ("uid", "first_timestamp")');
}

/**
 * The batched upsert: parameter i is the array of column i's values (ROW_COLUMNS order). A uid
 * already archived keeps its row: the input takes that row's first_timestamp (the partition
 * key), so a first timestamp that drifts (clamped, re-sent) updates it rather than adding a
 * second row. Rows are applied in uid order (two writers lock rows in the same order).
 */
export function batchUpsertSql(): string {
  const arrays = ROW_COLUMNS.map((c, i) => `$${i + 1}::${NUMERIC.has(c) ? 'bigint' : 'text'}[]`).join(', ');
  const picked = ROW_COLUMNS.map((c) => (c === 'first_timestamp' ? 'coalesce(e.first_timestamp, i.first_timestamp)' : `i.${c}`)).join(', ');
  return (
    `insert into "events" (${ROW_COLUMNS.map((c) => `"${c}"`).join(', ')}) ` +
    `select ${picked} from unnest(${arrays}) as i(${ROW_COLUMNS.join(', ')}) ` +
    'left join lateral (select x.first_timestamp from events x where x.uid = i.uid order by x.first_timestamp limit 1) e on true ' +
    'order by i.uid' +
    conflictClause()
  );
}

/** The archive's per-row upsert (its parameters in ROW_COLUMNS order), as the archive compiles it. */
export const ROW_UPSERT_SQL = upsertSql(compiler('postgres'));

/** Rows of ROW_COLUMNS-ordered parameters as column arrays, in the order batchUpsertSql expects. */
export function batchUpsertParams(rows: readonly (readonly SqlParam[])[]): SqlParam[][] {
  return ROW_COLUMNS.map((_, i) => rows.map((r) => r[i] ?? null));
}

/** The partition-key column's index in a row's parameters. */
export const FIRST_TIMESTAMP_PARAM = ROW_COLUMNS.indexOf('first_timestamp');

/** Creates a month's partition unless it exists. */
export function createPartitionSql(p: MonthPartition): string {
  return `create table if not exists ${p.name} partition of events for values from (${p.from}) to (${p.to})`;
}

/** The monthly partitions that exist. */
export const LIST_PARTITIONS_SQL = `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
  where i.inhparent = 'events'::regclass`;

/** Whether any row of the partition outlives its policy (rows without a policy always do). */
export function survivorQuery(db: Kysely<ArchiveDatabase>, p: MonthPartition, policies: readonly RetentionPolicy[], now: number): CompiledQuery<{ survives: boolean }> {
  const values = policies.map((policy) => sql`(${policy.category}::text, ${policy.type}::text, ${expiryCutoff(policy, now)}::bigint)`);
  return sql<{ survives: boolean }>`select exists (
    select 1 from ${sql.table(p.name)} e
    left join (values ${sql.join(values)}) as p(category, type, cutoff) on p.category = e.category and p.type = e.type
    where p.cutoff is null or e.last_timestamp >= p.cutoff
  ) as survives`.compile(db);
}

/** The partition's rows per (category, type): what a drop deletes, for the counters. */
export function partitionCountsQuery(db: Kysely<ArchiveDatabase>, p: MonthPartition): CompiledQuery<{ category: string; type: string; n: number }> {
  return sql<{ category: string; type: string; n: number }>`select category, type, count(*) as n from ${sql.table(p.name)} group by 1, 2`.compile(db);
}

/** Takes the partition's rows out of one rollup level (a drop fires no delete trigger). */
export function rollupSubtractQuery(db: Kysely<ArchiveDatabase>, p: MonthPartition, level: RollupLevel = HOURLY): CompiledQuery {
  const unit = sql.lit(level.unitMs);
  const column = sql.ref(level.column);
  return sql`update ${sql.table(level.table)} r set n = r.n - g.n from (
      select last_timestamp / ${unit} as t, coalesce(org_id, '') as org_id, namespace, type, reason, category, count(*) as n
      from ${sql.table(p.name)} where deleted_at is null group by 1, 2, 3, 4, 5, 6
    ) g
    where r.${column} = g.t and r.org_id = g.org_id and r.namespace = g.namespace and r.type = g.type and r.reason = g.reason and r.category = g.category`.compile(db);
}
