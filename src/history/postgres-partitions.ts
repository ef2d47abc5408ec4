// Monthly partitions of the PostgreSQL archive, by `first_timestamp` (UTC months, integer ms):
// their names and bounds, which ones to create ahead, and which ones retention may drop. Pure.
import { expiryCutoff, type RetentionPolicy } from './retention.js';

export interface MonthPartition {
  /** `events_pYYYYMM`. */
  name: string;
  /** First instant of the month (ms, inclusive). */
  from: number;
  /** First instant of the next month (ms, exclusive). */
  to: number;
}

const NAME = /^events_p(\d{4})(\d{2})$/;

/** The partition holding `ms`. */
export function monthOf(ms: number): MonthPartition {
  const d = new Date(ms);
  return monthStarting(d.getUTCFullYear(), d.getUTCMonth());
}

function monthStarting(year: number, month: number): MonthPartition {
  const from = Date.UTC(year, month, 1);
  const to = Date.UTC(year, month + 1, 1);
  const y = new Date(from).getUTCFullYear();
  const m = new Date(from).getUTCMonth() + 1;
  return { name: `events_p${String(y).padStart(4, '0')}${String(m).padStart(2, '0')}`, from, to };
}

/** The partition a name denotes (undefined for the default partition and foreign names). */
export function parsePartition(name: string): MonthPartition | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  return monthStarting(Number(m[1]), Number(m[2]) - 1);
}

/** The month of `now` and the `ahead` months after it: created before rows arrive. */
export function monthsAhead(now: number, ahead: number): MonthPartition[] {
  const d = new Date(now);
  const out: MonthPartition[] = [];
  for (let i = 0; i <= ahead; i++) out.push(monthStarting(d.getUTCFullYear(), d.getUTCMonth() + i));
  return out;
}

/**
 * Partitions retention may consider dropping whole: every row of them is expired only if each
 * row's last timestamp is before its policy's cutoff; a row's first timestamp (the partition
 * key) is at most its last, so only months ending before the latest cutoff qualify. Whether
 * any row survives is then checked row by row (in the database) before a drop.
 */
export function droppableCandidates(partitions: readonly MonthPartition[], policies: readonly RetentionPolicy[], now: number): MonthPartition[] {
  if (policies.length === 0) return [];
  const latestCutoff = Math.max(...policies.map((p) => expiryCutoff(p, now)));
  return partitions.filter((p) => p.to <= latestCutoff).sort((a, b) => a.from - b.from);
}
