// The list's `total_count` from the rollup, where the selection allows it (DESIGN.md section 7:
// exact up to 100,000 matches, an estimate flagged above). Counting the rows caps at 100,001
// index entries per request, which dominates a page at a million rows; the rollup holds the same
// counts per day and per hour and per (organization, namespace, type, reason, category), kept by
// triggers in the same transaction as the rows, so its sum is exact at any size. The window's
// whole days come from the daily level, the whole hours at its ends from the hourly level, and
// the partial first and last hour from the rows (at most two hours of them): see rollup-levels.ts.
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { DAILY, HOURLY, windowParts } from './rollup-levels.js';
import type { ArchiveDatabase } from './schema.js';
import { onRollupDimensions, rollupRows, selectionPredicate, type HistorySelection } from './sql.js';

/**
 * The exact number of matches as one statement (rollup sums plus the partial hours' rows), or
 * undefined when the rollup cannot answer (a per-user scope, filters beyond its dimensions,
 * soft-deleted rows included).
 */
export function rollupTotalQuery(db: Kysely<ArchiveDatabase>, selection: HistorySelection): CompiledQuery<{ n: number }> | undefined {
  if (!onRollupDimensions(selection)) return undefined;
  const { filters: f } = selection;
  const parts = windowParts(f.since, f.until);
  const sum = sql<number>`coalesce(sum(n), 0)`.as('n');
  // (Kysely parenthesises each subquery.)
  const terms = [
    ...(parts.days ? [rollupRows(db, DAILY, selection, parts.days).select(sum)] : []),
    ...parts.hours.map((range) => rollupRows(db, HOURLY, selection, range).select(sum)),
    ...parts.rows.map((range) =>
      db
        .selectFrom('events')
        .select(sql<number>`count(*)`.as('n'))
        .where((eb) =>
          eb.and([
            selectionPredicate(eb, selection),
            ...(range.below !== undefined ? [eb('last_timestamp', '<', range.below)] : []),
            ...(range.atLeast !== undefined ? [eb('last_timestamp', '>=', range.atLeast)] : []),
          ]),
        ),
    ),
  ].map((q) => sql<number>`${q}`);
  if (terms.length === 0) terms.push(sql<number>`0`);
  return db.selectNoFrom(sql<number>`${sql.join(terms, sql` + `)}`.as('n')).compile() as CompiledQuery<{ n: number }>;
}
