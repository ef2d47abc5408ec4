// The archive's schema on PostgreSQL: the same tables and columns as every engine (schema.ts),
// with PostgreSQL's strengths where they matter: `events` is partitioned by month of
// `first_timestamp` (retention drops whole partitions), so its unique key is
// `(uid, first_timestamp)`; text columns sort bytewise (collation "C", the embedded engine's
// order whatever the database's locale); a `search` tsvector column with a GIN index is ready
// for full-text search; the hourly rollup is kept by a trigger function.
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { HOURLY, HOUR_MS, type RollupLevel } from './rollup-levels.js';
import type { ArchiveDatabase, EngineDialect } from './schema.js';

const TEXT = 'text collate "C"';

/** Migration 1 on PostgreSQL: events (partitioned), their indexes, namespace owners, policies. */
export function postgresMigration1(db: Kysely<ArchiveDatabase>, dialect: EngineDialect): CompiledQuery[] | undefined {
  if (dialect !== 'postgres') return undefined;
  const raw = (text: string) => sql.raw(text).compile(db);
  const out = [
    raw(`create table events (
      id bigserial not null,
      uid ${TEXT} not null,
      name ${TEXT} not null,
      namespace ${TEXT} not null,
      type ${TEXT} not null,
      reason ${TEXT} not null,
      message text not null,
      component ${TEXT} not null,
      kind ${TEXT} not null,
      object_name ${TEXT} not null,
      first_timestamp bigint not null,
      last_timestamp bigint not null,
      count bigint not null,
      organization ${TEXT},
      vdc ${TEXT},
      actor ${TEXT},
      owner ${TEXT},
      category ${TEXT} not null,
      writer ${TEXT} not null,
      org_id ${TEXT},
      vdc_id ${TEXT},
      vm_id ${TEXT},
      user_id ${TEXT},
      username ${TEXT},
      action ${TEXT},
      metadata text,
      annotations text,
      labels text,
      ingested_at bigint not null,
      deleted_at bigint,
      search tsvector generated always as (to_tsvector('simple'::regconfig, message)) stored,
      primary key (id, first_timestamp),
      constraint events_uid_first unique (uid, first_timestamp)
    ) partition by range (first_timestamp)`),
    // Rows outside every monthly partition (a month whose partition could not be made) land here.
    raw('create table events_default partition of events default'),
  ];
  // The embedded engine's indexes (schema.ts), partitioned alike.
  const indexes: [string, string, boolean][] = [
    ['events_order', 'last_timestamp desc, name, namespace, uid', true],
    ['events_namespace', 'namespace, last_timestamp, type', true],
    ['events_org', 'org_id, last_timestamp, type', true],
    ['events_reason', 'reason, last_timestamp', true],
    ['events_object', 'kind, object_name, last_timestamp', true],
    ['events_actor', 'actor, last_timestamp', true],
    ['events_retention', 'category, type, last_timestamp', false],
  ];
  for (const [name, columns, partial] of indexes) {
    out.push(raw(`create index ${name} on events (${columns})${partial ? ' where deleted_at is null' : ''}`));
  }
  out.push(
    raw('create index events_search on events using gin (search)'),
    raw(`create table namespace_owners (namespace ${TEXT} primary key, organization ${TEXT} not null, updated_at bigint not null)`),
    raw(`create table retention_policies (
      category ${TEXT} not null, type ${TEXT} not null, retention_days integer not null, max_events integer,
      updated_at bigint not null, constraint retention_policies_pk primary key (category, type))`),
  );
  return out;
}

/**
 * The trigger function keeping the given rollup levels: migration 2 made it for the hourly level,
 * migration 7 replaces it with one keeping the hourly and daily levels (one call per row).
 */
export function postgresRollupFunction(db: Kysely<ArchiveDatabase>, levels: readonly RollupLevel[]): CompiledQuery {
  const steps = (row: 'old' | 'new') =>
    sql.join(
      levels.map((level) => {
        const r = sql.raw(row);
        const unit = sql.lit(level.unitMs);
        const column = sql.ref(level.column);
        const table = sql.table(level.table);
        return row === 'old'
          ? sql`update ${table} set n = n - 1
            where ${column} = old.last_timestamp / ${unit} and org_id = coalesce(old.org_id, '') and namespace = old.namespace
              and type = old.type and reason = old.reason and category = old.category;`
          : sql`insert into ${table} (${column}, org_id, namespace, type, reason, category, n)
            values (${r}.last_timestamp / ${unit}, coalesce(${r}.org_id, ''), ${r}.namespace, ${r}.type, ${r}.reason, ${r}.category, 1)
            on conflict (${column}, org_id, namespace, type, reason, category) do update set n = ${table}.n + 1;`;
      }),
      sql` `,
    );
  return sql`create or replace function events_rollup() returns trigger language plpgsql as $$
      begin
        if tg_op in ('UPDATE', 'DELETE') and old.deleted_at is null then
          ${steps('old')}
        end if;
        if tg_op in ('UPDATE', 'INSERT') and new.deleted_at is null then
          ${steps('new')}
        end if;
        return null;
      end $$`.compile(db);
}

/** Migration 2's triggers on PostgreSQL: one function keeps the rollup for every partition. */
export function postgresRollupTriggers(db: Kysely<ArchiveDatabase>): CompiledQuery[] {
  // A row moving to another day moves to another hour too: the hourly condition covers both levels.
  const hour = sql.lit(HOUR_MS);
  const moved = sql`old.last_timestamp / ${hour} <> new.last_timestamp / ${hour} or old.org_id is distinct from new.org_id
    or old.deleted_at is distinct from new.deleted_at or old.category <> new.category or old.namespace <> new.namespace
    or old.type <> new.type or old.reason <> new.reason`;
  return [
    postgresRollupFunction(db, [HOURLY]),
    sql`create trigger events_rollup_change after insert or delete on events for each row execute function events_rollup()`.compile(db),
    sql`create trigger events_rollup_update after update on events for each row when (${moved}) execute function events_rollup()`.compile(db),
  ];
}
