// The PostgreSQL figures of `npm run bench:history`, beside the embedded engine's in one table:
// - ingest: Event objects through the archive (one batched upsert statement per 1,000 rows)
//   vs a raw loop of batched `INSERT … VALUES (…), … ON CONFLICT (uid, first_timestamp) DO
//   UPDATE` statements of 1,000 rows each into the same schema (target >= 0.8x);
// - the same five queries at BENCH_HISTORY_ROWS rows (bulk-filled over this month and the
//   previous one), totals cache off (target p99 <= 20 ms, event-loop p99 <= 5 ms), and the
//   event loop while one long query (every row of the two months read) runs on the server;
// - a retention pass deleting the previous month (half the rows): the whole partition dropped,
//   with a query loop meanwhile, vs the embedded engine's batch delete of the same share.
// The server: BENCH_DATABASE_URL (a database this benchmark may fill and drop tables in), else
// OVIM_TEST_DATABASE_URL, else the tests' own server (Debian's postgresql, started here).
import pg from 'pg';
import type { NamespaceOwners } from '../src/events/owners.js';
import type { Scope } from '../src/events/query.js';
import { HistoryArchive } from '../src/history/archive.js';
import { PostgresEngine } from '../src/history/postgres.js';
import { DAY_MS } from '../src/history/retention.js';
import { ROW_COLUMNS, compiler, type HistorySelection } from '../src/history/sql.js';
import { fill } from '../test/support/history-fill.js';
import { loopDuringOneQuery } from './history-loop.js';
import { retentionUnderQueries } from './history-retention.js';
import { TestPostgres } from '../test/support/postgres.js';
import type { EventObject } from '../src/events/store.js';

export interface PostgresBenchInput {
  rows: number;
  ingest: number;
  owners: () => NamespaceOwners;
  events: (n: number, prefix: string) => EventObject[];
  params: (e: EventObject) => (string | number | null)[];
  timeRuns: (run: () => Promise<unknown>, runs?: number) => Promise<{ p50: number; p99: number; loopP99: number }>;
  report: (figure: string, value: string, baseline: string, target: string) => void;
  /** A full garbage collection: before each series, as for the embedded rows. */
  gc: () => void;
}

const ms = (n: number) => `${n.toFixed(2)} ms`;

async function databases(): Promise<{ url(name: string): Promise<string>; stop(): Promise<void> }> {
  const given = process.env.BENCH_DATABASE_URL;
  if (given) return { url: async () => given, stop: async () => undefined };
  const server = await TestPostgres.start();
  let n = 0;
  return {
    url: async (name) => {
      const db = `ovim_bench_${name}_${process.pid}_${++n}`;
      await server.createDatabase(db);
      return server.urlOf(db);
    },
    stop: () => server.stop(),
  };
}

export async function benchPostgres(input: PostgresBenchInput): Promise<void> {
  const { rows: ROWS, ingest: INGEST, report } = input;
  const dbs = await databases();
  try {
    // 1. Ingest.
    {
      const archive = await HistoryArchive.open({ engine: new PostgresEngine(await dbs.url('ingest')), owners: input.owners(), batchSize: 1_000, bufferSize: INGEST });
      const events = input.events(INGEST, 'pg-ingest');
      let t = performance.now();
      for (const e of events) archive.ingest(e);
      await archive.flush();
      const archiveRate = INGEST / ((performance.now() - t) / 1000);
      await archive.close();
      const rawUrl = await dbs.url('raw');
      const schema = await HistoryArchive.open({ engine: new PostgresEngine(rawUrl) });
      await schema.close();
      const client = new pg.Client({ connectionString: rawUrl });
      await client.connect();
      const params = events.map(input.params);
      const width = ROW_COLUMNS.length;
      t = performance.now();
      for (let i = 0; i < params.length; i += 1_000) {
        const chunk = params.slice(i, i + 1_000);
        const values = chunk.map((_, r) => `(${ROW_COLUMNS.map((__, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ');
        await client.query('begin');
        await client.query(
          `insert into events (${ROW_COLUMNS.join(', ')}) values ${values} on conflict (uid, first_timestamp) do update set count = excluded.count, last_timestamp = excluded.last_timestamp`,
          chunk.flat(),
        );
        await client.query('commit');
      }
      const rawRate = INGEST / ((performance.now() - t) / 1000);
      await client.end();
      report(
        `PostgreSQL: ingest ${INGEST.toLocaleString()} events`,
        `${Math.round(archiveRate).toLocaleString()} events/s (${(archiveRate / rawRate).toFixed(2)}x)`,
        `raw batched INSERT … ON CONFLICT ${Math.round(rawRate).toLocaleString()} rows/s`,
        '>= 0.8x',
      );
    }

    // 2. Queries at ROWS: this month and the previous one, evenly.
    const now = Date.now();
    const today = new Date(now);
    const monthStart = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1);
    const previousStart = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1);
    const end = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() + 1, 1) - 1;
    const bigUrl = await dbs.url('big');
    const engine = new PostgresEngine(bigUrl);
    const archive = await HistoryArchive.open({ engine, owners: input.owners(), countCache: false });
    try {
      await engine.preparePartitions(previousStart, end);
      const t = performance.now();
      await fill(archive, compiler('postgres'), { total: ROWS, now: end, spanMs: end - previousStart, chunk: 100_000 });
      // What autovacuum does after a bulk load (visibility map for index-only counts, statistics).
      const maintenance = new pg.Client({ connectionString: bigUrl });
      await maintenance.connect();
      await maintenance.query('vacuum analyze events');
      // The fill updates each rollup row thousands of times within one transaction (nothing can
      // be pruned meanwhile): the rollup tables end up ~99% dead space (5,038 pages for 2,928
      // daily rows) that ingestion in 1,000-row transactions, pruned as it goes, should not leave.
      await maintenance.query('vacuum (full, analyze) event_rollup, event_rollup_daily');
      await maintenance.end();
      console.error(`PostgreSQL: filled ${ROWS.toLocaleString()} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      const all: Scope = { kind: 'all' };
      const orgA: Scope = { kind: 'organization', organization: 'a' };
      const deep = (await archive.list({ filters: {}, scope: all }, { limit: 1, offset: Math.floor(ROWS / 2) })).items[0];
      const queries: [string, HistorySelection, Parameters<HistoryArchive['list']>[1]][] = [
        ['page 1 of all', { filters: {}, scope: all }, { limit: 50, offset: 0 }],
        ['org-admin page 1', { filters: {}, scope: orgA }, { limit: 50, offset: 0 }],
        ['namespace + type', { filters: { namespace: 'vdc-a-x', type: 'Warning' }, scope: all }, { limit: 50, offset: 0 }],
      ];
      if (deep) {
        const after = { lastTimestamp: deep.last_timestamp, name: deep.name, namespace: deep.namespace, uid: deep.uid };
        queries.push([`deep cursor page (row ${(ROWS / 2).toLocaleString()})`, { filters: {}, scope: all }, { limit: 50, offset: 0, after }]);
      }
      for (const [label, selection, page] of queries) {
        input.gc();
        const h = await input.timeRuns(() => archive.list(selection, page));
        report(`PostgreSQL: ${label} @ ${ROWS.toLocaleString()}`, `p50 ${ms(h.p50)}, p99 ${ms(h.p99)}; loop p99 ${ms(h.loopP99)}`, 'the embedded row above', 'p99 <= 20 ms; loop <= 5 ms');
      }
      {
        input.gc();
        const h = await input.timeRuns(() => archive.countStats({ filters: { since: previousStart, until: end }, scope: all }, DAY_MS, 'reason'), 5);
        report(`PostgreSQL: stats by reason, 2 months, 1d buckets @ ${ROWS.toLocaleString()}`, `p50 ${ms(h.p50)}, p99 ${ms(h.p99)}; loop p99 ${ms(h.loopP99)}`, 'the embedded row above', 'p99 <= 20 ms; loop <= 5 ms');
      }

      {
        // The main event loop while one long query runs on the server (a filter neither the
        // rollup nor an index holds: every row of the two months is read), beside the same loop
        // idle in this run: the driver only waits for the answer meanwhile.
        input.gc();
        const { value, baseline } = await loopDuringOneQuery(() =>
          archive.countStats({ filters: { since: previousStart, until: end, component: 'controller' }, scope: all }, DAY_MS, 'reason'),
        );
        report(
          `PostgreSQL: event loop during one stats query reading ${ROWS.toLocaleString()} rows`,
          value,
          baseline,
          'loop p99 <= 5 ms',
        );
      }

      // 3. Retention: the previous month expires whole (policies end at this month's start).
      const days = Math.max(1, Math.floor((now - monthStart) / DAY_MS));
      const result = await retentionUnderQueries(archive, days, () => archive.list({ filters: {}, scope: orgA }, { limit: 50, offset: 0 }));
      report(
        `PostgreSQL: retention pass deleting ${result.deleted.toLocaleString()} rows (a month's partition dropped)`,
        `${(result.tookMs / 1000).toFixed(2)} s; ${result.queries} queries meanwhile: p99 ${ms(result.p99Ms)}, worst ${ms(result.worstMs)}`,
        'the embedded batch delete above',
        'worst query <= 100 ms',
      );
    } finally {
      await archive.close();
    }
  } finally {
    await dbs.stop();
  }
}
