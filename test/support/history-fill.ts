// Bulk rows for history tests and benchmarks: one INSERT … SELECT over a recursive sequence
// (portable SQL, so every engine fills the same way), far faster than ingesting row by row.
// Row i: namespace, reason and actor cycle through fixed lists, last timestamps spread evenly
// over `spanMs` before `now`, newest first.
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import type { ArchiveDatabase } from '../../src/history/schema.js';

export const FILL_NAMESPACES = ['org-a', 'vdc-a-x', 'org-b', 'vdc-b-y', 'org-c', 'vdc-c-z', 'default', 'apps'] as const;
export const FILL_TENANTS = ['a', 'a', 'b', 'b', 'c', 'c', null, null] as const;
export const FILL_REASONS = ['VDCCreated', 'QuotaExceeded', 'VMStarted', 'StartupFailed', 'OrganizationUpdated', 'VMStopped'] as const;
const TYPES = ['Normal', 'Warning', 'Normal', 'Warning', 'Normal', 'Normal'] as const;
const CATEGORIES = ['vdc', 'quota', 'vm', 'vm', 'organization', 'vm'] as const;

const pick = (list: readonly (string | null)[], index: ReturnType<typeof sql>) =>
  sql`case ${index} ${sql.join(
    list.map((v, k) => sql`when ${sql.lit(k)} then ${v === null ? sql`null` : sql.lit(v)}`),
    sql` `,
  )} end`;

/** Rows `from`..`from + n - 1` (uids `fill-<i>`); call in chunks to keep each statement short. */
export function fillQuery(
  db: Kysely<ArchiveDatabase>,
  options: { from: number; n: number; total: number; now: number; spanMs: number; message?: string },
): CompiledQuery {
  const { from, n, total, now, spanMs } = options;
  const i = sql`seq.i`;
  const ns = sql`(${i} % ${sql.lit(FILL_NAMESPACES.length)})`;
  const reason = sql`((${i} / 7) % ${sql.lit(FILL_REASONS.length)})`;
  const last = sql`(${sql.lit(now)} - (${i} * ${sql.lit(Math.max(1, Math.floor(spanMs / total)))}))`;
  const message = options.message ?? 'bulk event';
  return sql`with recursive seq(i) as (select cast(${sql.lit(from)} as bigint) union all select i + 1 from seq where i < ${sql.lit(from + n - 1)})
insert into events (uid, name, namespace, type, reason, message, component, kind, object_name, first_timestamp, last_timestamp,
  count, organization, vdc, actor, owner, category, writer, org_id, ingested_at)
select 'fill-' || ${i}, 'obj-' || (${i} % 50) || '.' || ${i}, ${pick(FILL_NAMESPACES, ns)}, ${pick(TYPES, reason)},
  ${pick(FILL_REASONS, reason)}, ${sql.lit(message)} || ' ' || ${i}, 'ovim-controller', 'VirtualDataCenter', 'obj-' || (${i} % 50),
  ${last}, ${last}, 1 + (${i} % 3), ${pick(FILL_TENANTS, ns)}, null,
  'user-' || (${i} % 10), null, ${pick(CATEGORIES, reason)}, 'kubernetes', ${pick(FILL_TENANTS, ns)}, ${sql.lit(now)}
from seq`.compile(db);
}

/** Fills `total` rows in chunks of `chunk` (each a short transaction). */
export async function fill(
  archive: { engine: { write(q: readonly CompiledQuery[]): Promise<number[]> } },
  db: Kysely<ArchiveDatabase>,
  options: { total: number; now: number; spanMs: number; chunk?: number; message?: string },
): Promise<void> {
  const chunk = options.chunk ?? 50_000;
  for (let from = 0; from < options.total; from += chunk) {
    const n = Math.min(chunk, options.total - from);
    await archive.engine.write([fillQuery(db, { ...options, from, n })]);
  }
}
