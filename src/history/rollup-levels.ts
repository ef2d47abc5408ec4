// The rollup's two levels (DESIGN.md section 7): counts per hour (event_rollup) and per UTC day
// (event_rollup_daily), both kept by the same triggers in the same transaction as the rows. A
// long window is summed from days, the hours at its two ends from the hourly level, and the
// partial hours at its very edges from the rows: the rollup rows read grow with days × key
// combinations instead of hours × key combinations. Pure decisions here; the SQL in totals.ts.
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export interface RollupLevel {
  table: 'event_rollup' | 'event_rollup_daily';
  /** The time column: a number of whole units since the epoch. */
  column: 'hour' | 'day';
  unitMs: number;
}

export const HOURLY: RollupLevel = { table: 'event_rollup', column: 'hour', unitMs: HOUR_MS };
export const DAILY: RollupLevel = { table: 'event_rollup_daily', column: 'day', unitMs: DAY_MS };
/** Every level the triggers keep (a partition drop subtracts from each). */
export const ROLLUP_LEVELS: readonly RollupLevel[] = [HOURLY, DAILY];

/** Units [from, to) of a level; an open end is undefined. */
export interface UnitRange {
  from?: number;
  to?: number;
}

export interface WindowParts {
  /** Whole days (undefined: none). */
  days?: UnitRange;
  /** Whole hours outside those days (at most two ranges of fewer than 24 hours, or one range when no day is whole). */
  hours: UnitRange[];
  /** Partial hours counted from the rows: last_timestamp < below, or last_timestamp >= atLeast (within the window). */
  rows: { below?: number; atLeast?: number }[];
}

/**
 * How the window [since, until] (ms, inclusive; open ends undefined) splits into whole days,
 * whole hours and the partial hours at its edges. Every instant of the window is in exactly one
 * part (the parts' rows still carry the window's own bounds).
 */
export function windowParts(since: number | undefined, until: number | undefined): WindowParts {
  const hFrom = since === undefined ? undefined : Math.ceil(since / HOUR_MS);
  // `until` is inclusive: the hour ending at until + 1 is whole.
  let hTo = until === undefined ? undefined : Math.floor((until + 1) / HOUR_MS);
  // A window inside one hour: no whole hour, every match counted from the rows.
  if (hFrom !== undefined && hTo !== undefined && hTo < hFrom) hTo = hFrom;
  const rows: WindowParts['rows'] = [];
  if (hFrom !== undefined && since !== undefined && hFrom * HOUR_MS > since) rows.push({ below: hFrom * HOUR_MS });
  if (hTo !== undefined && until !== undefined && hTo * HOUR_MS <= until) rows.push({ atLeast: hTo * HOUR_MS });
  const perDay = DAY_MS / HOUR_MS;
  const dFrom = hFrom === undefined ? undefined : Math.ceil(hFrom / perDay);
  const dTo = hTo === undefined ? undefined : Math.floor(hTo / perDay);
  if (dFrom !== undefined && dTo !== undefined && dTo <= dFrom) {
    return { hours: hFrom !== undefined && hTo !== undefined && hTo > hFrom ? [{ from: hFrom, to: hTo }] : [], rows };
  }
  const hours: UnitRange[] = [];
  if (hFrom !== undefined && dFrom !== undefined && dFrom * perDay > hFrom) hours.push({ from: hFrom, to: dFrom * perDay });
  if (hTo !== undefined && dTo !== undefined && hTo > dTo * perDay) hours.push({ from: dTo * perDay, to: hTo });
  return { days: { from: dFrom, to: dTo }, hours, rows };
}

/**
 * The level whose whole units a stats query can be answered from: buckets and window made of
 * whole days → days; of whole hours → hours; else none (the rows).
 */
export function statsLevel(bucketMs: number, since: number | undefined, until: number | undefined): RollupLevel | undefined {
  if (since === undefined || until === undefined) return undefined;
  for (const level of [DAILY, HOURLY]) {
    if (bucketMs % level.unitMs === 0 && since % level.unitMs === 0 && (until + 1) % level.unitMs === 0) return level;
  }
  return undefined;
}
