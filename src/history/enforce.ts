// Retention enforcement: deletes what the policies say has expired (by age per (category, type);
// by count per (category, type, organization), never for audit and security), in small
// batches — each its own short transaction, so queries and ingestion interleave — and counts
// every deletion.
import type { Kysely } from 'kysely';
import type { Logger } from 'winston';
import type { Category } from './categories.js';
import type { HistoryEngine } from './engine.js';
import { evictsByCount, expiryCutoff, type ArchiveType, type RetentionPolicy } from './retention.js';
import { ROLLUP_LEVELS } from './rollup-levels.js';
import type { ArchiveDatabase } from './schema.js';

export interface RetentionReport {
  deleted: number;
  byPolicy: { category: string; type: string; cause: 'age' | 'count'; deleted: number }[];
}

export interface RetentionOptions {
  /** Rows per delete transaction (default 250). */
  batchSize?: number;
  /**
   * Pause between two delete transactions (default 5 ms), and at least as long as the last one
   * took: retention uses at most half of the writer's time, readers and ingestion get the rest.
   */
  pauseMs?: number;
  logger?: Logger;
  now?: () => number;
  /** Called after every batch that deleted rows. */
  onDeleted?: () => void;
}

export class RetentionEnforcer {
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly onDeleted: () => void;
  private readonly deleted = new Map<string, { category: string; type: string; cause: string; count: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionReport> | undefined;
  private stopped = false;

  constructor(
    private readonly engine: HistoryEngine,
    private readonly db: Kysely<ArchiveDatabase>,
    options: RetentionOptions = {},
  ) {
    this.batchSize = Math.max(1, options.batchSize ?? 250);
    this.pauseMs = options.pauseMs ?? 5;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.onDeleted = options.onDeleted ?? (() => undefined);
  }

  async policies(): Promise<RetentionPolicy[]> {
    const rows = await this.engine.read<{ category: string; type: string; retention_days: number; max_events: number | null }>(
      this.db
        .selectFrom('retention_policies')
        .select(['category', 'type', 'retention_days', 'max_events'])
        .orderBy('category')
        .orderBy('type')
        .compile(),
    );
    return rows.map((r) => ({
      category: r.category as Category,
      type: r.type as ArchiveType,
      retentionDays: Number(r.retention_days),
      maxEvents: r.max_events === null ? null : Number(r.max_events),
    }));
  }

  deletedCounts(): { category: string; type: string; cause: string; count: number }[] {
    return [...this.deleted.values()].map((d) => ({ ...d }));
  }

  /** Runs a pass every `intervalMs` (and one soon after start) while `leader()` says so. */
  start(intervalMs = 60_000, firstDelayMs = 5_000, leader: () => boolean = () => true): void {
    const tick = (delay: number) => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        if (!leader()) return tick(intervalMs);
        this.run().then(
          (report) => {
            if (report.deleted > 0) this.logger?.info(`history retention: deleted ${report.deleted} expired events`);
          },
          (err: unknown) => this.logger?.warn(`history retention pass failed: ${(err as Error).message}`),
        ).finally(() => tick(intervalMs));
      }, delay);
      this.timer.unref();
    };
    tick(firstDelayMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One pass; concurrent callers share it. */
  run(): Promise<RetentionReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Waits after a batch that took `tookMs`: the configured pause, or as long as the batch. */
  private pause(tookMs: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(this.pauseMs, tookMs)));
  }

  /** One delete transaction, and how long it took. */
  private async deleteBatch(query: Parameters<HistoryEngine['write']>[0][number]): Promise<{ n: number; tookMs: number }> {
    const started = performance.now();
    const [n = 0] = await this.engine.write([query]);
    return { n, tookMs: performance.now() - started };
  }

  private count(category: string, type: string, cause: 'age' | 'count', n: number): void {
    if (n === 0) return;
    this.onDeleted();
    const key = `${category}\u0000${type}\u0000${cause}`;
    const entry = this.deleted.get(key) ?? { category, type, cause, count: 0 };
    entry.count += n;
    this.deleted.set(key, entry);
  }

  private async pass(): Promise<RetentionReport> {
    const report: RetentionReport = { deleted: 0, byPolicy: [] };
    const now = this.now();
    const policies = await this.policies();
    // Whole expired time partitions first (PostgreSQL), then the remaining rows in batches.
    for (const drop of (await this.engine.dropExpiredPartitions?.(policies, now)) ?? []) {
      for (const r of drop.rows) {
        this.count(r.category, r.type, 'age', r.count);
        report.byPolicy.push({ category: r.category, type: r.type, cause: 'age', deleted: r.count });
        report.deleted += r.count;
      }
    }
    for (const policy of policies) {
      if (this.stopped) break;
      const byAge = await this.expireByAge(policy, expiryCutoff(policy, now));
      const byCount = evictsByCount(policy) ? await this.evictByCount(policy) : 0;
      for (const [cause, n] of [['age', byAge], ['count', byCount]] as const) {
        if (n === 0) continue;
        report.byPolicy.push({ category: policy.category, type: policy.type, cause, deleted: n });
        report.deleted += n;
      }
    }
    // Keys whose rows all went: out of the rollup, so sums read only keys that still count.
    if (report.deleted > 0 && !this.stopped) {
      await this.engine.write(ROLLUP_LEVELS.map((level) => this.db.deleteFrom(level.table).where('n', '<=', 0).compile()));
    }
    return report;
  }

  private async expireByAge(policy: RetentionPolicy, cutoff: number): Promise<number> {
    const db = this.db;
    let total = 0;
    for (;;) {
      const victims = db
        .selectFrom('events')
        .select('id')
        .where('category', '=', policy.category)
        .where('type', '=', policy.type)
        .where('last_timestamp', '<', cutoff)
        .limit(this.batchSize);
      const { n, tookMs } = await this.deleteBatch(db.deleteFrom('events').where('id', 'in', victims).compile());
      total += n;
      this.count(policy.category, policy.type, 'age', n);
      if (n < this.batchSize || this.stopped) return total;
      await this.pause(tookMs);
    }
  }

  private async evictByCount(policy: RetentionPolicy): Promise<number> {
    const db = this.db;
    const max = policy.maxEvents;
    if (max === null) return 0;
    const groups = await this.engine.read<{ org_id: string | null; n: number }>(
      db
        .selectFrom('events')
        .select(['org_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('category', '=', policy.category)
        .where('type', '=', policy.type)
        .groupBy('org_id')
        .having((eb) => eb.fn.countAll(), '>', max)
        .compile(),
    );
    let total = 0;
    for (const group of groups) {
      let excess = Number(group.n) - max;
      while (excess > 0 && !this.stopped) {
        const victims = db
          .selectFrom('events')
          .select('id')
          .where('category', '=', policy.category)
          .where('type', '=', policy.type)
          .where('org_id', group.org_id === null ? 'is' : '=', group.org_id)
          .orderBy('last_timestamp', 'asc')
          .orderBy('id', 'asc')
          .limit(Math.min(this.batchSize, excess));
        const { n, tookMs } = await this.deleteBatch(db.deleteFrom('events').where('id', 'in', victims).compile());
        if (n === 0) break;
        excess -= n;
        total += n;
        this.count(policy.category, policy.type, 'count', n);
        await this.pause(tookMs);
      }
    }
    return total;
  }
}
