// The list's cached `total_count`, invalidated in proportion to what a write can change. A
// steadily written archive (Kubernetes Events, posted application events) used to recount on
// nearly every request, because any write made every cached total stale. Writes land almost
// always in the current hour, so a total the hourly rollup can count is kept in two parts: the
// rows before the current hour (cached until a write can change them: a write reaching back
// before that hour, a deletion, or the hour turning) and the current hour's (recounted after
// any write: a few rollup rows). Totals the rollup cannot count are recounted after any write,
// as before. Exact either way: only the part a write could change is recounted.
import { HOUR_MS } from './schema.js';

export interface CountedTotal {
  total: number;
  exact: boolean;
}

/** A time window on last_timestamp, at hour boundaries: `before` (exclusive) or `from` (inclusive). */
export type TotalWindow = { before: number } | { from: number };

interface Entry {
  /** Every-write generation the answer was counted at. */
  generation: number;
  /** Older-rows generation and hour the older part was counted at (split totals only). */
  olderGeneration: number;
  hour: number;
  older: number | undefined;
  answer: CountedTotal;
}

export class TotalCache {
  /** Bumped by every write. */
  private generation = 0;
  /** Bumped by writes that may change rows before the current hour (and by deletions). */
  private olderGeneration = 0;
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 256,
  ) {}

  /**
   * A write happened. `earliest`: no row it inserted or changed had, before or after the write,
   * a last_timestamp before this time (for an upsert: the smallest first_timestamp of its rows,
   * as a row's last_timestamp never precedes its first_timestamp, which Kubernetes keeps and the
   * archive never moves forward). Undefined: it may have changed any row (deletions, owners).
   */
  noteWrite(earliest?: number): void {
    this.generation++;
    if (earliest === undefined || earliest < this.hourStart()) this.olderGeneration++;
  }

  private hourStart(): number {
    return Math.floor(this.now() / HOUR_MS) * HOUR_MS;
  }

  /**
   * The total of the selection `key`. `count(window)` counts the selection (within the window
   * when given); `splittable` says it counts exactly at any size in two windows (the rollup).
   */
  async total(key: string, splittable: boolean, count: (window?: TotalWindow) => Promise<CountedTotal>): Promise<CountedTotal> {
    const generation = this.generation;
    const olderGeneration = this.olderGeneration;
    const hour = this.hourStart();
    const seen = this.entries.get(key);
    if (seen && seen.generation === generation) return seen.answer;
    let entry: Entry;
    if (!splittable) {
      entry = { generation, olderGeneration, hour, older: undefined, answer: await count() };
    } else {
      const reuse = seen?.older !== undefined && seen.hour === hour && seen.olderGeneration === olderGeneration;
      // Captured before the counts: a write while they run leaves the entry stale, never wrong.
      const older = reuse ? (seen.older as number) : (await count({ before: hour })).total;
      const recent = (await count({ from: hour })).total;
      entry = { generation, olderGeneration, hour, older, answer: { total: older + recent, exact: true } };
    }
    if (this.entries.size >= this.maxEntries && !this.entries.has(key)) this.entries.clear();
    this.entries.set(key, entry);
    return entry.answer;
  }
}
