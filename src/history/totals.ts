// The list's `total_count` from the hourly rollup, where the selection allows it (DESIGN.md
// section 7: exact up to 100,000 matches, an estimate flagged above). Counting the rows caps at
// 100,001 index entries per request, which dominates a page at a million rows; the rollup holds
// the same counts per hour and per (organization, namespace, type, reason, category), kept by
// triggers in the same transaction as the rows, so its sum is exact at any size. A time window
// that does not start or end on a whole hour adds the rows of its partial first and last hour,
// counted from the rows (at most two hours of them).
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { HOUR_MS, type ArchiveDatabase } from './schema.js';
import { onRollupDimensions, selectionPredicate, type HistorySelection } from './sql.js';

/** The hours a window covers whole ([from, to), in hour numbers; open ends undefined). */
export function wholeHours(since: number | undefined, until: number | undefined): { from?: number; to?: number } {
  return {
    from: since === undefined ? undefined : Math.ceil(since / HOUR_MS),
    // `until` is inclusive: the hour ending at until + 1 is whole.
    to: until === undefined ? undefined : Math.floor((until + 1) / HOUR_MS),
  };
}

/**
 * The exact number of matches as one statement (rollup sum plus the partial hours' rows), or
 * undefined when the rollup cannot answer (a per-user scope, filters beyond its dimensions,
 * soft-deleted rows included).
 */
export function rollupTotalQuery(db: Kysely<ArchiveDatabase>, selection: HistorySelection): CompiledQuery<{ n: number }> | undefined {
  if (!onRollupDimensions(selection)) return undefined;
  const { filters: f, scope } = selection;
  const hours = wholeHours(f.since, f.until);
  const from = hours.from;
  // A window inside one hour: no whole hour, every match counted from the rows.
  const to = from !== undefined && hours.to !== undefined && hours.to < from ? from : hours.to;
  let rollup = db.selectFrom('event_rollup').select(sql<number>`coalesce(sum(n), 0)`.as('n'));
  if (from !== undefined) rollup = rollup.where('hour', '>=', from);
  if (to !== undefined) rollup = rollup.where('hour', '<', to);
  if (scope.kind === 'organization') rollup = rollup.where('org_id', '=', scope.organization);
  if (f.type !== undefined) rollup = rollup.where('type', '=', f.type);
  if (f.namespace !== undefined) rollup = rollup.where('namespace', '=', f.namespace);
  if (f.reason !== undefined) rollup = rollup.where('reason', '=', f.reason);
  // (Kysely parenthesises each subquery.)
  const parts = [sql<number>`${rollup}`];
  // The partial hours: [since, first whole hour) and [end of the last whole hour, until].
  const edge = (range: { below?: number; atLeast?: number }) =>
    db
      .selectFrom('events')
      .select(sql<number>`count(*)`.as('n'))
      .where((eb) =>
        eb.and([
          selectionPredicate(eb, selection),
          ...(range.below !== undefined ? [eb('last_timestamp', '<', range.below)] : []),
          ...(range.atLeast !== undefined ? [eb('last_timestamp', '>=', range.atLeast)] : []),
        ]),
      );
  if (from !== undefined && f.since !== undefined && from * HOUR_MS > f.since) parts.push(sql<number>`${edge({ below: from * HOUR_MS })}`);
  if (to !== undefined && f.until !== undefined && to * HOUR_MS <= f.until) parts.push(sql<number>`${edge({ atLeast: to * HOUR_MS })}`);
  return db.selectNoFrom(sql<number>`${sql.join(parts, sql` + `)}`.as('n')).compile() as CompiledQuery<{ n: number }>;
}
