// Every statement of the archive, built with Kysely for the engine's dialect (one query builder
// for the embedded engine and PostgreSQL). Compile-only: engines run the compiled SQL. The
// tenant scope becomes one predicate on `org_id`, decided at ingestion (see rows.ts).
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
  type CompiledQuery,
  type ExpressionBuilder,
  type Expression,
  type SqlBool,
  type SelectQueryBuilder,
} from 'kysely';
import type { EventFilters, Scope } from '../events/query.js';
import { type ArchiveDatabase, type ArchiveRow, type EngineDialect } from './schema.js';
import { statsLevel, type RollupLevel, type UnitRange } from './rollup-levels.js';
import { vocabularyPredicates, type SortSpec, type Vocabulary } from './vocabulary.js';

/** A Kysely instance that only compiles (no connection): the engine runs what it builds. */
export function compiler(dialect: EngineDialect): Kysely<ArchiveDatabase> {
  return new Kysely<ArchiveDatabase>({
    dialect: {
      createAdapter: () => (dialect === 'postgres' ? new PostgresAdapter() : new SqliteAdapter()),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => (dialect === 'postgres' ? new PostgresIntrospector(db) : new SqliteIntrospector(db)),
      createQueryCompiler: () => (dialect === 'postgres' ? new PostgresQueryCompiler() : new SqliteQueryCompiler()),
    },
  });
}

/** The list's filters: the in-memory API's, plus `until` and `actor`. */
export interface HistoryFilters extends EventFilters {
  /** Only events whose last timestamp is at or before this instant (ms). */
  until?: number;
  /** The `ovim.io/actor` (exact). */
  actor?: string;
}

/** A position in the API's order (last_timestamp desc, name, namespace, uid): the keyset cursor. */
export interface CursorKey {
  lastTimestamp: number;
  name: string;
  namespace: string;
  uid: string;
}

export interface HistorySelection {
  filters: HistoryFilters;
  scope: Scope;
  includeDeleted?: boolean;
  /** The backend's query vocabulary (vocabulary.ts). */
  vocabulary?: Vocabulary;
  /** Another order than the API's (no cursor then). */
  sort?: SortSpec;
}

type Eb = ExpressionBuilder<ArchiveDatabase, 'events'>;

/** `%`, `_` and the escape character itself, escaped for LIKE … ESCAPE '\'. */
function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The scope as a predicate (computed once per request; never trusts an annotation). */
export function scopePredicate(eb: Eb, scope: Scope): Expression<SqlBool> | undefined {
  switch (scope.kind) {
    case 'all':
      return undefined;
    case 'organization':
      return eb('org_id', '=', scope.organization);
    case 'own':
      // Only names the admission webhook stamped count (as in the in-memory scope). The
      // organization is repeated in each branch so each is one range of its index (migration 5).
      return eb.or([
        eb.and([eb('actor', '=', scope.username), eb('actor_verified', '=', 1), eb('org_id', '=', scope.organization)]),
        eb.and([eb('owner', '=', scope.username), eb('owner_verified', '=', 1), eb('org_id', '=', scope.organization)]),
      ]);
  }
}

/** Scope, filters and the soft-delete rule as one WHERE clause. */
export function selectionPredicate(eb: Eb, selection: HistorySelection): Expression<SqlBool> {
  const { filters: f, scope } = selection;
  const parts: Expression<SqlBool>[] = [];
  const scoped = scopePredicate(eb, scope);
  if (scoped) parts.push(scoped);
  if (!selection.includeDeleted) parts.push(eb('deleted_at', 'is', null));
  if (f.type !== undefined) parts.push(eb('type', '=', f.type));
  if (f.namespace !== undefined) parts.push(eb('namespace', '=', f.namespace));
  if (f.reason !== undefined) parts.push(eb('reason', '=', f.reason));
  if (f.kind !== undefined) parts.push(eb('kind', '=', f.kind));
  if (f.name !== undefined) parts.push(eb('object_name', '=', f.name));
  if (f.organization !== undefined) parts.push(eb('organization', '=', f.organization));
  if (f.vdc !== undefined) parts.push(eb('vdc', '=', f.vdc));
  if (f.actor !== undefined) parts.push(eb('actor', '=', f.actor));
  if (f.since !== undefined) parts.push(eb('last_timestamp', '>=', f.since));
  if (f.until !== undefined) parts.push(eb('last_timestamp', '<=', f.until));
  if (f.component !== undefined) {
    const pattern = `%${likeEscape(f.component.toLowerCase())}%`;
    parts.push(sql<SqlBool>`lower(${eb.ref('component')}) like ${pattern} escape '\\'`);
  }
  if (selection.vocabulary) parts.push(...vocabularyPredicates(eb, selection.vocabulary));
  return eb.and(parts);
}

/** Rows after `key` in the API's order (mixed directions, so spelled out rather than a row value). */
function afterKey(eb: Eb, key: CursorKey): Expression<SqlBool> {
  // The redundant bound lets the planner start an index range scan at the key.
  return eb.and([eb('last_timestamp', '<=', key.lastTimestamp), afterKeyExact(eb, key)]);
}

function afterKeyExact(eb: Eb, key: CursorKey): Expression<SqlBool> {
  return eb.or([
    eb('last_timestamp', '<', key.lastTimestamp),
    eb.and([
      eb('last_timestamp', '=', key.lastTimestamp),
      eb.or([
        eb('name', '>', key.name),
        eb.and([
          eb('name', '=', key.name),
          eb.or([eb('namespace', '>', key.namespace), eb.and([eb('namespace', '=', key.namespace), eb('uid', '>', key.uid)])]),
        ]),
      ]),
    ]),
  ]);
}

function ordered<O>(q: SelectQueryBuilder<ArchiveDatabase, 'events', O>): SelectQueryBuilder<ArchiveDatabase, 'events', O> {
  return q.orderBy('last_timestamp', 'desc').orderBy('name', 'asc').orderBy('namespace', 'asc').orderBy('uid', 'asc');
}

/** The columns the API shows. */
export const ITEM_COLUMNS = [
  'uid',
  'name',
  'namespace',
  'type',
  'reason',
  'message',
  'component',
  'kind',
  'object_name',
  'first_timestamp',
  'last_timestamp',
  'count',
  'organization',
  'vdc',
  'actor',
  'owner',
  'actor_verified',
  'category',
] as const;
export type ItemRow = Pick<ArchiveRow, (typeof ITEM_COLUMNS)[number]>;

/** One page: `limit` rows after `offset` rows or after a cursor, in the API's order. */
export function listQuery(
  db: Kysely<ArchiveDatabase>,
  selection: HistorySelection,
  page: { limit: number; offset: number; after?: CursorKey },
): CompiledQuery<ItemRow> {
  let q = db
    .selectFrom('events')
    .select([...ITEM_COLUMNS])
    .where((eb) => (page.after ? eb.and([selectionPredicate(eb, selection), afterKey(eb, page.after)]) : selectionPredicate(eb, selection)));
  const sort = selection.sort;
  q = (sort ? q.orderBy(sort.by, sort.order).orderBy('uid', 'asc') : ordered(q)).limit(page.limit);
  if (page.offset > 0) q = q.offset(page.offset);
  return q.compile();
}

/** The number of matches, counted up to `cap` + 1 (an index-only scan where an index covers the filters). */
export function cappedCountQuery(db: Kysely<ArchiveDatabase>, selection: HistorySelection, cap: number): CompiledQuery<{ n: number }> {
  const inner = db
    .selectFrom('events')
    .select(sql<number>`1`.as('one'))
    .where((eb) => selectionPredicate(eb, selection))
    .limit(cap + 1)
    .as('m');
  return db.selectFrom(inner).select(sql<number>`count(*)`.as('n')).compile();
}

/** The last timestamp of the match at `offset` in time order (newest first or oldest first). */
export function timestampAtQuery(
  db: Kysely<ArchiveDatabase>,
  selection: HistorySelection,
  direction: 'asc' | 'desc',
  offset = 0,
): CompiledQuery<{ t: number }> {
  let q = db
    .selectFrom('events')
    .select('last_timestamp as t')
    .where((eb) => selectionPredicate(eb, selection))
    .orderBy('last_timestamp', direction)
    .limit(1);
  if (offset > 0) q = q.offset(offset);
  return q.compile();
}

export const STATS_GROUPS = {
  reason: 'reason',
  type: 'type',
  namespace: 'namespace',
  organization: 'org_id',
  category: 'category',
} as const;
export type StatsGroup = keyof typeof STATS_GROUPS;

/** Matches per (time bucket of the last timestamp, group value). */
export function statsQuery(
  db: Kysely<ArchiveDatabase>,
  selection: HistorySelection,
  bucketMs: number,
  group: StatsGroup,
): CompiledQuery<{ bucket: number; key: string | null; n: number }> {
  const column = STATS_GROUPS[group];
  // Integer division on integer milliseconds: the same bucket arithmetic on every engine.
  const bucket = sql<number>`(last_timestamp / ${sql.lit(bucketMs)}) * ${sql.lit(bucketMs)}`;
  return db
    .selectFrom('events')
    .select([bucket.as('bucket'), sql<string | null>`${sql.ref(column)}`.as('key'), sql<number>`count(*)`.as('n')])
    .where((eb) => selectionPredicate(eb, selection))
    .groupBy([sql`1`, sql`2`])
    .orderBy(sql`1`)
    .compile();
}

/**
 * Whether the rollup holds what a selection asks: a scope of everything or of one
 * organization, and filters only on its dimensions (type, namespace, reason) and on time.
 */
export function onRollupDimensions(selection: HistorySelection): boolean {
  const { filters: f, scope } = selection;
  const others = Object.keys(f).filter((k) => !['type', 'namespace', 'reason', 'since', 'until'].includes(k) && f[k as keyof HistoryFilters] !== undefined);
  // '' stands for "no organization" in the rollup's key.
  if (scope.kind === 'organization' && scope.organization === '') return false;
  return others.length === 0 && scope.kind !== 'own' && !selection.includeDeleted && !selection.vocabulary;
}

/**
 * The rows of one rollup level within [from, to) of its units (open ends undefined), narrowed to
 * the selection's organization, type, namespace and reason (onRollupDimensions must hold).
 */
export function rollupRows(db: Kysely<ArchiveDatabase>, level: RollupLevel, selection: HistorySelection, range: UnitRange) {
  const { filters: f, scope } = selection;
  // The two levels have the same columns but the time one; Kysely types the hourly table.
  let q = db.selectFrom(level.table as 'event_rollup');
  if (range.from !== undefined) q = q.where(sql.ref(level.column), '>=', range.from);
  if (range.to !== undefined) q = q.where(sql.ref(level.column), '<', range.to);
  if (scope.kind === 'organization') q = q.where('org_id', '=', scope.organization);
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  if (f.namespace !== undefined) q = q.where('namespace', '=', f.namespace);
  if (f.reason !== undefined) q = q.where('reason', '=', f.reason);
  return q;
}

/**
 * The same counts from the rollup (daily level for whole-day buckets and windows, else hourly),
 * or undefined when the rollup cannot answer: filters beyond type/namespace/reason, a per-user
 * scope, a window or bucket not made of whole hours.
 */
export function rollupStatsQuery(
  db: Kysely<ArchiveDatabase>,
  selection: HistorySelection,
  bucketMs: number,
  group: StatsGroup,
): CompiledQuery<{ bucket: number; key: string | null; n: number }> | undefined {
  const { filters: f } = selection;
  if (!onRollupDimensions(selection)) return undefined;
  const level = statsLevel(bucketMs, f.since, f.until);
  if (!level || f.since === undefined || f.until === undefined) return undefined;
  const unit = sql.ref(level.column);
  const bucket = sql<number>`(${unit} * ${sql.lit(level.unitMs)} / ${sql.lit(bucketMs)}) * ${sql.lit(bucketMs)}`;
  const column = STATS_GROUPS[group];
  const key = group === 'organization' ? sql<string | null>`nullif(org_id, '')` : sql<string | null>`${sql.ref(column)}`;
  return rollupRows(db, level, selection, { from: f.since / level.unitMs, to: (f.until + 1) / level.unitMs })
    .select([bucket.as('bucket'), key.as('key'), sql<number>`sum(n)`.as('n')])
    .groupBy([sql`1`, sql`2`])
    .having(sql`sum(n)`, '>', 0)
    .orderBy(sql`1`)
    .compile();
}

/** The columns an upsert writes, in parameter order. */
export const ROW_COLUMNS = [
  'uid',
  'name',
  'namespace',
  'type',
  'reason',
  'message',
  'component',
  'kind',
  'object_name',
  'first_timestamp',
  'last_timestamp',
  'count',
  'organization',
  'vdc',
  'actor',
  'owner',
  'actor_verified',
  'owner_verified',
  'category',
  'writer',
  'org_id',
  'vdc_id',
  'vm_id',
  'user_id',
  'username',
  'action',
  'metadata',
  'annotations',
  'labels',
  'ingested_at',
  'deleted_at',
] as const satisfies readonly (keyof ArchiveRow)[];

/** The parameters of one row, in ROW_COLUMNS order. */
export function rowParams(row: ArchiveRow): (string | number | null)[] {
  return ROW_COLUMNS.map((c) => row[c]);
}

/**
 * The upsert by uid, compiled once and run per row: count and last timestamp only move forward,
 * the message and annotations follow the newest occurrence, a known tenant is never replaced by
 * an unknown one, and a deletion is never cleared.
 */
export function upsertSql(db: Kysely<ArchiveDatabase>): string {
  const placeholder = Object.fromEntries(ROW_COLUMNS.map((c) => [c, null])) as unknown as ArchiveRow;
  const newer = sql`excluded.last_timestamp >= events.last_timestamp`;
  const compiled = db
    .insertInto('events')
    .values(placeholder)
    .onConflict((oc) =>
      oc.column('uid').doUpdateSet({
        count: sql`case when excluded.count > events.count then excluded.count else events.count end`,
        last_timestamp: sql`case when excluded.last_timestamp > events.last_timestamp then excluded.last_timestamp else events.last_timestamp end`,
        first_timestamp: sql`case when excluded.first_timestamp < events.first_timestamp then excluded.first_timestamp else events.first_timestamp end`,
        message: sql`case when ${newer} then excluded.message else events.message end`,
        actor: sql`coalesce(events.actor, excluded.actor)`,
        owner: sql`coalesce(events.owner, excluded.owner)`,
        actor_verified: sql`coalesce(events.actor_verified, excluded.actor_verified)`,
        owner_verified: sql`coalesce(events.owner_verified, excluded.owner_verified)`,
        organization: sql`coalesce(events.organization, excluded.organization)`,
        vdc: sql`coalesce(events.vdc, excluded.vdc)`,
        org_id: sql`coalesce(events.org_id, excluded.org_id)`,
      }),
    )
    .compile();
  return compiled.sql;
}

/** Remembers a namespace's organization, and gives it the rows archived before it was known. */
export function rememberOwnerQueries(
  db: Kysely<ArchiveDatabase>,
  namespace: string,
  organization: string,
  now: number,
): CompiledQuery[] {
  return [
    db
      .insertInto('namespace_owners')
      .values({ namespace, organization, updated_at: now })
      .onConflict((oc) => oc.column('namespace').doUpdateSet({ organization, updated_at: now }))
      .compile(),
    db
      .updateTable('events')
      .set({ org_id: organization })
      .where('namespace', '=', namespace)
      .where('org_id', 'is', null)
      .compile(),
  ];
}
