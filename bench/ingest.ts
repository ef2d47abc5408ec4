// `npm run bench:ingest`: application-level events through the API (DESIGN.md section 7), per
// archive engine, beside the archive's own batched ingest in the same run.
//
// - ingest: events/s through `POST /api/v1/events/bulk` (batches of 100, one request at a time,
//   server in this process on loopback) vs the archive's batched ingest of the same number of
//   Event objects (buffer + batched upserts; target API >= 0.5x of it);
// - the list's p50/p99 (`GET /api/v1/events?limit=50`, a system admin and an org admin alternately,
//   total cache on as in production) over BENCH_INGEST_ROWS archived rows (default 1,000,000),
//   idle vs while 1,000 events/s are posted (10 bulk requests of 100 per second; target p99
//   <= 20 ms while ingesting).
// Environment: BENCH_INGEST_ROWS, BENCH_INGEST_EVENTS (default 20,000), BENCH_INGEST_SECONDS
// (default 10), BENCH_INGEST_POSTGRES=0 skips PostgreSQL, BENCH_DATABASE_URL uses a given server.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NamespaceOwners } from '../src/events/owners.js';
import { EventStore, type EventObject } from '../src/events/store.js';
import { signToken } from '../src/http/auth.js';
import { createApiServer } from '../src/http/server.js';
import { HistoryArchive } from '../src/history/archive.js';
import type { HistoryEngine } from '../src/history/engine.js';
import { PostgresEngine } from '../src/history/postgres.js';
import { compiler } from '../src/history/sql.js';
import { SqliteEngine } from '../src/history/sqlite.js';
import { createMetrics } from '../src/metrics.js';
import { fill } from '../test/support/history-fill.js';
import { TestPostgres } from '../test/support/postgres.js';

const ROWS = Number(process.env.BENCH_INGEST_ROWS ?? 1_000_000);
const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 20_000);
const SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 10);
const SECRET = 'bench-ingest-secret-0123456789abcdef';
const DAY = 86_400_000;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const ms = (n: number) => `${n.toFixed(2)} ms`;
const table: string[][] = [];
const report = (figure: string, value: string, baseline: string, target: string) => table.push([figure, value, baseline, target]);

function appEvents(n: number, prefix: string): Record<string, unknown>[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}-${i}`,
    type: i % 5 === 0 ? 'Warning' : 'Normal',
    reason: i % 2 ? 'VMPowerOnRequested' : 'VDCResizeRequested',
    message: `Operation ${i} requested by user-${i % 10} in the UI`,
    category: i % 2 ? 'vm' : 'vdc',
    org_id: ['a', 'b', 'c'][i % 3],
    username: `user-${i % 10}`,
    user_id: `u-${i % 10}`,
    event_time: new Date(now - (n - i)).toISOString(),
  }));
}

function kubeEvents(n: number, prefix: string): EventObject[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    metadata: { name: `obj.${prefix}-${i}`, namespace: ['org-a', 'org-b', 'org-c'][i % 3], uid: `${prefix}-${i}`, annotations: { 'ovim.io/actor': `user-${i % 10}` } },
    involvedObject: { kind: 'VirtualMachine', name: `vm-${i % 50}` },
    type: i % 5 === 0 ? 'Warning' : 'Normal',
    reason: 'VMStarted',
    message: `Operation ${i} requested by user-${i % 10} in the UI`,
    source: { component: 'ovim-controller' },
    firstTimestamp: new Date(now - (n - i)).toISOString(),
    lastTimestamp: new Date(now - (n - i)).toISOString(),
    count: 1,
  }));
}

function owners(): NamespaceOwners {
  const o = new NamespaceOwners();
  for (const t of ['a', 'b', 'c']) o.set(`org-${t}`, t);
  return o;
}

async function benchEngine(name: string, engine: () => HistoryEngine): Promise<void> {
  // 1. The archive's own batched ingest (baseline) and the API's, each into an empty archive.
  const baseArchive = await HistoryArchive.open({ engine: engine(), owners: owners() });
  const events = kubeEvents(EVENTS, `base-${name}`);
  let t0 = performance.now();
  for (const e of events) baseArchive.ingest(e);
  await baseArchive.flush();
  const baseRate = EVENTS / ((performance.now() - t0) / 1000);

  const server = createApiServer({
    store: new EventStore(),
    history: baseArchive,
    auth: { secret: new TextEncoder().encode(SECRET) },
    metrics: createMetrics(),
    health: { kubernetesReachable: () => true, informersSynced: () => true, leadership: () => 'disabled' },
  });
  const url = await server.listen('127.0.0.1:0');
  const admin = await signToken({ userId: 'b', username: 'backend', role: 'system_admin', orgId: '' }, SECRET);
  const orgAdmin = await signToken({ userId: 'o', username: 'org-a-admin', role: 'org_admin', orgId: 'a' }, SECRET);
  const postBulk = async (batch: Record<string, unknown>[]) => {
    const res = await fetch(`${url}/api/v1/events/bulk`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: batch }),
    });
    if (res.status !== 201) throw new Error(`bulk answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  };
  const posted = appEvents(EVENTS, `api-${name}`);
  t0 = performance.now();
  for (let i = 0; i < posted.length; i += 100) await postBulk(posted.slice(i, i + 100));
  const apiRate = EVENTS / ((performance.now() - t0) / 1000);
  report(`${name}: ingest ${EVENTS.toLocaleString('en')} events`, `API bulk: ${Math.round(apiRate).toLocaleString('en')} events/s (${(apiRate / baseRate).toFixed(2)}x)`, `archive batched ingest: ${Math.round(baseRate).toLocaleString('en')} events/s`, '>= 0.5x');

  // 2. The list over ROWS rows, idle and while 1,000 events/s are posted.
  t0 = performance.now();
  await fill(baseArchive, compiler(baseArchive.engine.dialect), { total: ROWS, now: Date.now() - 60_000, spanMs: 30 * DAY });
  baseArchive.noteWrite();
  const fillSeconds = (performance.now() - t0) / 1000;
  const listOnce = async (i: number) => {
    const start = performance.now();
    const res = await fetch(`${url}/api/v1/events?limit=50`, { headers: { authorization: `Bearer ${i % 2 ? orgAdmin : admin}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`list answered ${res.status}`);
    return performance.now() - start;
  };
  const listFor = async (seconds: number): Promise<number[]> => {
    const times: number[] = [];
    const end = performance.now() + seconds * 1000;
    for (let i = 0; performance.now() < end; i++) times.push(await listOnce(i));
    return times.sort((a, b) => a - b);
  };
  for (let i = 0; i < 20; i++) await listOnce(i); // warm up
  const idle = await listFor(SECONDS);
  let ingesting = true;
  let postedWhile = 0;
  const stream = appEvents(SECONDS * 1_000 + 1_000, `live-${name}`);
  const ingest = (async () => {
    const start = performance.now();
    for (let k = 0; ingesting; k++) {
      // 10 batches of 100 a second, on schedule (a late batch is sent at once).
      const due = start + k * 100;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const batch = stream.slice((k * 100) % (stream.length - 100), ((k * 100) % (stream.length - 100)) + 100).map((e, j) => ({ ...e, name: `${String(e.name)}-${k}-${j}` }));
      await postBulk(batch);
      postedWhile += 100;
    }
  })();
  const t1 = performance.now();
  const busy = await listFor(SECONDS);
  const busySeconds = (performance.now() - t1) / 1000;
  ingesting = false;
  await ingest;
  report(
    `${name}: list page 1 @ ${(ROWS + EVENTS * 2).toLocaleString('en')} rows`,
    `while ingesting ${Math.round(postedWhile / busySeconds).toLocaleString('en')} events/s: p50 ${ms(percentile(busy, 50))}, p99 ${ms(percentile(busy, 99))} (${busy.length} requests)`,
    `idle: p50 ${ms(percentile(idle, 50))}, p99 ${ms(percentile(idle, 99))} (${idle.length} requests)`,
    'p99 <= 20 ms at 1,000 events/s',
  );
  report(`${name}: fill ${ROWS.toLocaleString('en')} rows (setup)`, `${fillSeconds.toFixed(1)} s`, '', '');
  await server.close();
  await baseArchive.close();
}

async function main(): Promise<void> {
  const load = () => loadavg().map((n) => n.toFixed(1)).join(' ');
  console.log(`bench:ingest — ${EVENTS.toLocaleString('en')} events per ingest figure, list over ${ROWS.toLocaleString('en')} rows for ${SECONDS} s; load average ${load()}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'ovim-bench-ingest-'));
  try {
    let n = 0;
    await benchEngine('embedded (SQLite)', () => new SqliteEngine(join(dir, `history-${++n}.db`)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (process.env.BENCH_INGEST_POSTGRES !== '0') {
    const given = process.env.BENCH_DATABASE_URL;
    const server = given ? undefined : await TestPostgres.start();
    try {
      const db = `ovim_bench_ingest_${process.pid}`;
      await server?.createDatabase(db);
      const url = given ?? (server as TestPostgres).urlOf(db);
      await benchEngine('PostgreSQL', () => new PostgresEngine(url));
    } finally {
      await server?.stop();
    }
  }
  const widths = [0, 1, 2, 3].map((c) => Math.max(...[['figure', 'value', 'baseline', 'target'], ...table].map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' | ');
  console.log(line(['figure', 'value', 'baseline', 'target']));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of table) console.log(line(r));
  console.log(`\nload average at the end: ${load()}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
