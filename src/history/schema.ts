// The archive's schema (one for every engine): the tables as Kysely types, and the versioned
// migrations built with Kysely's schema builder. Timestamps are integer milliseconds since the
// epoch (portable arithmetic for time buckets and keyset cursors on every engine).
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { appEventsMigration, type IdempotencyTable } from './app-schema.js';
import { postgresMigration1, postgresRollupFunction, postgresRollupTriggers } from './postgres-schema.js';
import { DAILY, HOURLY, HOUR_MS, ROLLUP_LEVELS, type RollupLevel } from './rollup-levels.js';

export { HOUR_MS };

export interface EventsTable {
  /** Engine row id (not exposed). */
  id?: number;
  /** metadata.uid for Kubernetes Events; a generated id for application-level events. */
  uid: string;
  name: string;
  namespace: string;
  type: string;
  reason: string;
  message: string;
  component: string;
  kind: string;
  object_name: string;
  first_timestamp: number;
  last_timestamp: number;
  count: number;
  /** The `ovim.io/organization` annotation (informational: scopes never read it). */
  organization: string | null;
  vdc: string | null;
  actor: string | null;
  owner: string | null;
  /**
   * 1 when the actor / owner was stamped by the admission webhook (`ovim.io/actor-verified`,
   * `ovim.io/owner-verified`): the org_user scope counts only those (DESIGN.md section 8).
   */
  actor_verified: number | null;
  owner_verified: number | null;
  category: string;
  /** `kubernetes` (ingested from the Event watch) or `application` (written through the API). */
  writer: string;
  /**
   * The tenant the row belongs to, decided by the operator: `org-<x>` → x, a `vdc-<x>-*`
   * namespace labelled as x's, an Organization's own events in `default`. Scopes filter on it.
   */
  org_id: string | null;
  vdc_id: string | null;
  vm_id: string | null;
  user_id: string | null;
  username: string | null;
  action: string | null;
  /** JSON string maps (application-level events). */
  metadata: string | null;
  annotations: string | null;
  labels: string | null;
  ingested_at: number;
  /** Soft delete (application-level API); re-ingesting never clears it. */
  deleted_at: number | null;
  /** Application-level events (migration 5): the token's user that posted it, the object's namespace and uid. */
  requested_via?: string | null;
  object_namespace?: string | null;
  object_uid?: string | null;
}

export interface NamespaceOwnersTable {
  namespace: string;
  organization: string;
  updated_at: number;
}

export interface RetentionPoliciesTable {
  category: string;
  type: string;
  retention_days: number;
  max_events: number | null;
  updated_at: number;
}

/** Matches per hour and per the dimensions stats group and filter by (kept by the engine). */
export interface EventRollupTable {
  hour: number;
  /** '' for rows without an organization (a key column cannot be null). */
  org_id: string;
  namespace: string;
  type: string;
  reason: string;
  category: string;
  n: number;
}

/** The same counts per UTC day (migration 7): `day` is last_timestamp / 86,400,000. */
export interface EventRollupDailyTable extends Omit<EventRollupTable, 'hour'> {
  day: number;
}

/** What the operator last reported about each KubeVirt VM (vm-states.ts): no repeats across restarts. */
export interface VmReportedTable {
  uid: string;
  namespace: string;
  name: string;
  organization: string | null;
  vdc: string | null;
  actor: string | null;
  owner: string | null;
  /** The decision state (controllers/vm.ts VmReported) as JSON. */
  state: string;
  updated_at: number;
}

export interface SchemaVersionTable {
  version: number;
  applied_at: number;
}

export interface ArchiveDatabase {
  events: EventsTable;
  namespace_owners: NamespaceOwnersTable;
  retention_policies: RetentionPoliciesTable;
  event_rollup: EventRollupTable;
  event_rollup_daily: EventRollupDailyTable;
  vm_reported: VmReportedTable;
  schema_version: SchemaVersionTable;
  app_idempotency: IdempotencyTable;
}

/** An archived row as it crosses the engine boundary. */
export type ArchiveRow = Omit<EventsTable, 'id'>;

export type EngineDialect = 'sqlite' | 'postgres';

export interface Migration {
  version: number;
  description: string;
  /** The statements, compiled for the dialect (run in one transaction with the version row). */
  up(db: Kysely<ArchiveDatabase>, dialect: EngineDialect): CompiledQuery[];
}

// Kysely's schema builder is typed against `any` databases; the tables do not exist yet.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type SchemaDb = Kysely<any>;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'events, namespace owners, retention policies',
    up(kdb, dialect) {
      const partitioned = postgresMigration1(kdb, dialect);
      if (partitioned) return partitioned;
      const db = kdb as SchemaDb;
      const out: CompiledQuery[] = [];
      const bigint = dialect === 'postgres' ? 'bigint' : 'integer';
      out.push(
        db.schema
        .createTable('events')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => c.primaryKey())
        .addColumn('uid', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('component', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('object_name', 'text', (c) => c.notNull())
        .addColumn('first_timestamp', bigint, (c) => c.notNull())
        .addColumn('last_timestamp', bigint, (c) => c.notNull())
        .addColumn('count', bigint, (c) => c.notNull())
        .addColumn('organization', 'text')
        .addColumn('vdc', 'text')
        .addColumn('actor', 'text')
        .addColumn('owner', 'text')
        .addColumn('category', 'text', (c) => c.notNull())
        .addColumn('writer', 'text', (c) => c.notNull())
        .addColumn('org_id', 'text')
        .addColumn('vdc_id', 'text')
        .addColumn('vm_id', 'text')
        .addColumn('user_id', 'text')
        .addColumn('username', 'text')
        .addColumn('action', 'text')
        .addColumn('metadata', 'text')
        .addColumn('annotations', 'text')
        .addColumn('labels', 'text')
        .addColumn('ingested_at', bigint, (c) => c.notNull())
        .addColumn('deleted_at', bigint)
        .compile(),
      );
      // The API's order, and one index per frequent leading filter, each followed by the order's
      // key and the columns counts check (so a capped count is an index-only scan). Partial:
      // soft-deleted rows (rare) stay out of the API's indexes.
      const indexes: [string, string[], boolean][] = [
        ['events_order', ['last_timestamp desc', 'name', 'namespace', 'uid'], true],
        ['events_namespace', ['namespace', 'last_timestamp', 'type'], true],
        ['events_org', ['org_id', 'last_timestamp', 'type'], true],
        ['events_reason', ['reason', 'last_timestamp'], true],
        ['events_object', ['kind', 'object_name', 'last_timestamp'], true],
        ['events_actor', ['actor', 'last_timestamp'], true],
        ['events_retention', ['category', 'type', 'last_timestamp'], false],
      ];
      for (const [name, columns, partial] of indexes) {
        const index = db.schema.createIndex(name).on('events').columns(columns);
        out.push((partial ? index.where(sql.ref('deleted_at'), 'is', null) : index).compile());
      }
      out.push(
        db.schema
        .createTable('namespace_owners')
        .addColumn('namespace', 'text', (c) => c.primaryKey())
        .addColumn('organization', 'text', (c) => c.notNull())
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .compile(),
      );
      out.push(
        db.schema
        .createTable('retention_policies')
        .addColumn('category', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('retention_days', 'integer', (c) => c.notNull())
        .addColumn('max_events', 'integer')
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .addPrimaryKeyConstraint('retention_policies_pk', ['category', 'type'])
        .compile(),
      );
      return out;
    },
  },
  {
    version: 2,
    description: 'hourly rollup for stats, kept by triggers',
    up(kdb, dialect) {
      const db = kdb as SchemaDb;
      const bigint = dialect === 'postgres' ? 'bigint' : 'integer';
      const out: CompiledQuery[] = [
        rollupTable(db, HOURLY, bigint),
        sql`insert into event_rollup (hour, org_id, namespace, type, reason, category, n)
          select last_timestamp / ${sql.lit(HOUR_MS)}, coalesce(org_id, ''), namespace, type, reason, category, count(*)
          from events where deleted_at is null group by 1, 2, 3, 4, 5, 6`.compile(db),
      ];
      // Triggers are each engine's own dialect.
      out.push(...(dialect === 'sqlite' ? sqliteRollupTriggers(db) : postgresRollupTriggers(kdb)));
      return out;
    },
  },
  {
    version: 3,
    description: 'last reported state of each KubeVirt VM',
    up(kdb, dialect) {
      const db = kdb as SchemaDb;
      return [
        db.schema
          .createTable('vm_reported')
          .addColumn('uid', 'text', (c) => c.primaryKey())
          .addColumn('namespace', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('organization', 'text')
          .addColumn('vdc', 'text')
          .addColumn('actor', 'text')
          .addColumn('owner', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('updated_at', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
          .compile(),
      ];
    },
  },
  {
    version: 4,
    description: 'whether the actor and owner were verified by the admission webhook',
    up(kdb) {
      const db = kdb as SchemaDb;
      return [
        db.schema.alterTable('events').addColumn('actor_verified', 'integer').compile(),
        db.schema.alterTable('events').addColumn('owner_verified', 'integer').compile(),
      ];
    },
  },
  {
    version: 5,
    description: "indexes for an org user's own events (verified actor or owner)",
    up(kdb) {
      const db = kdb as SchemaDb;
      // Each branch of the org-user scope (sql.ts scopePredicate) is then one index range, in
      // time order: its list, count and stats read that user's rows, not the organization's.
      // deleted_at is a column (not a partial index's condition) so either branch of the OR can
      // use it on every engine.
      return (['actor', 'owner'] as const).map((who) =>
        db.schema
          .createIndex(`events_${who}_own`)
          .on('events')
          .columns([who, `${who}_verified`, 'org_id', 'deleted_at', 'last_timestamp'])
          .compile(),
      );
    },
  },
  {
    version: 6,
    description: 'application-level events: poster, involved object, idempotency keys, full-text search',
    up: appEventsMigration,
  },
  {
    version: 7,
    description: 'daily rollup for long-window totals and stats, kept by the same triggers',
    up(kdb, dialect) {
      const db = kdb as SchemaDb;
      const bigint = dialect === 'postgres' ? 'bigint' : 'integer';
      const out: CompiledQuery[] = [
        rollupTable(db, DAILY, bigint),
        // Floor division composes: (t / hour) / 24 = t / day for the non-negative timestamps.
        sql`insert into event_rollup_daily (day, org_id, namespace, type, reason, category, n)
          select hour / ${sql.lit(DAILY.unitMs / HOURLY.unitMs)}, org_id, namespace, type, reason, category, sum(n)
          from event_rollup group by 1, 2, 3, 4, 5, 6 having sum(n) <> 0`.compile(db),
      ];
      // An organization's or a namespace's total reads its own daily rows, not every key's.
      for (const column of ['org_id', 'namespace']) {
        out.push(db.schema.createIndex(`event_rollup_daily_${column}`).on('event_rollup_daily').columns([column, 'day']).compile());
      }
      if (dialect === 'postgres') out.push(postgresRollupFunction(kdb, ROLLUP_LEVELS));
      else out.push(...['insert', 'delete', 'update'].map((t) => sql`drop trigger events_rollup_${sql.raw(t)}`.compile(db)), ...sqliteRollupTriggers(db, ROLLUP_LEVELS));
      return out;
    },
  },
];

/** A rollup level's table: counts per time unit and key (organization '' when none). */
function rollupTable(db: SchemaDb, level: RollupLevel, bigint: 'bigint' | 'integer'): CompiledQuery {
  const key: string[] = [level.column, 'org_id', 'namespace', 'type', 'reason', 'category'];
  let table = db.schema.createTable(level.table).addColumn(level.column, bigint, (c) => c.notNull());
  for (const column of key.slice(1)) table = table.addColumn(column, 'text', (c) => c.notNull());
  return table.addColumn('n', bigint, (c) => c.notNull()).addPrimaryKeyConstraint(`${level.table}_pk`, key as (typeof level.column)[]).compile();
}

/** One row in or out of a rollup level: +1 for `new`, -1 for `old`. */
function rollupStep(row: 'new' | 'old', level: RollupLevel): ReturnType<typeof sql> {
  const r = sql.raw(row);
  const unit = sql.lit(level.unitMs);
  const table = sql.table(level.table);
  const column = sql.ref(level.column);
  if (row === 'new') {
    return sql`insert into ${table} (${column}, org_id, namespace, type, reason, category, n)
      select ${r}.last_timestamp / ${unit}, coalesce(${r}.org_id, ''), ${r}.namespace, ${r}.type, ${r}.reason, ${r}.category, 1 where new.deleted_at is null
      on conflict (${column}, org_id, namespace, type, reason, category) do update set n = n + 1;`;
  }
  return sql`update ${table} set n = n - 1 where old.deleted_at is null
      and ${column} = old.last_timestamp / ${unit} and org_id = coalesce(old.org_id, '') and namespace = old.namespace
      and type = old.type and reason = old.reason and category = old.category;`;
}

/** The rollup triggers on the embedded engine: one per change, each keeping every given level. */
function sqliteRollupTriggers(db: SchemaDb, levels: readonly RollupLevel[] = [HOURLY]): CompiledQuery[] {
  // A row moving to another day moves to another hour too: the hourly condition covers both levels.
  const moved = sql`old.last_timestamp / ${sql.lit(HOUR_MS)} != new.last_timestamp / ${sql.lit(HOUR_MS)}
    or coalesce(old.org_id, '') != coalesce(new.org_id, '') or old.deleted_at is not new.deleted_at
    or old.category != new.category or old.namespace != new.namespace or old.type != new.type or old.reason != new.reason`;
  const steps = (row: 'new' | 'old') => sql.join(levels.map((level) => rollupStep(row, level)), sql` `);
  return [
    sql`create trigger events_rollup_insert after insert on events begin ${steps('new')} end`.compile(db),
    sql`create trigger events_rollup_delete after delete on events begin ${steps('old')} end`.compile(db),
    sql`create trigger events_rollup_update after update on events when ${moved} begin ${steps('old')} ${steps('new')} end`.compile(db),
  ];
}

export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

export function createVersionTable(db: Kysely<ArchiveDatabase>, dialect: EngineDialect): CompiledQuery {
  return (db as SchemaDb).schema
    .createTable('schema_version')
    .ifNotExists()
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('applied_at', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
    .compile();
}

/** The highest applied version (0 for a new database). */
export function appliedVersionQuery(db: Kysely<ArchiveDatabase>): CompiledQuery<{ v: number | null }> {
  return db.selectFrom('schema_version').select(sql<number | null>`max(version)`.as('v')).compile();
}

export function versionRow(db: Kysely<ArchiveDatabase>, version: number, now: number): CompiledQuery {
  return db.insertInto('schema_version').values({ version, applied_at: now }).compile();
}

export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
}
