// What only the PostgreSQL engine does (the shared suite in archive.test.ts runs on it too):
// several replicas on one database, whole-partition retention, an outage of the server during
// a burst, and a password that never reaches a log line or an error.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { HistoryArchive } from '../../../src/history/archive.js';
import { HistoryUnavailableError } from '../../../src/history/engine.js';
import { PostgresEngine } from '../../../src/history/postgres.js';
import { MIGRATIONS } from '../../../src/history/schema.js';
import { freePort } from '../../support/controlplane.js';
import { freshPostgresDatabase } from '../../support/postgres-engine.js';
import { testPostgres } from '../../support/postgres.js';
import { waitFor } from '../../support/wait.js';
import { startServer } from '../http/support.js';
import { DAY, NOW, liveOwners, randomEvents } from './fixtures.js';
import type { EventObject } from '../../../src/events/store.js';

function capturingLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

/** The raw rows (every partition) through the engine. */
async function rawRows(archive: HistoryArchive): Promise<{ uid: string; count: number; last_timestamp: number }[]> {
  return archive.engine.read(archive['db'].selectFrom('events').select(['uid', 'count', 'last_timestamp']).orderBy('uid').compile());
}

async function partitions(archive: HistoryArchive): Promise<string[]> {
  const rows = await archive.engine.read<{ name: string }>({
    sql: `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'events'::regclass order by 1`,
    parameters: [],
  } as never);
  return rows.map((r) => r.name);
}

function vmEvent(uid: string, last: number, count = 1): EventObject {
  return {
    metadata: { name: `vm.${uid}`, namespace: 'vdc-a-x', uid },
    involvedObject: { kind: 'VirtualMachine', name: 'vm' },
    type: 'Normal',
    reason: 'VMStarted',
    message: `started ${uid}`,
    source: { component: 'ovim-controller' },
    firstTimestamp: new Date(last).toISOString(),
    lastTimestamp: new Date(last).toISOString(),
    count,
  };
}

describe('history archive on PostgreSQL: replicas, partitions, outages', function () {
  this.timeout(180_000);

  it('two replicas starting together migrate once, and both open', async () => {
    const db = freshPostgresDatabase();
    const a = capturingLogger();
    const b = capturingLogger();
    const [one, two] = await Promise.all([
      HistoryArchive.open({ engine: db.engine(), logger: a.logger }),
      HistoryArchive.open({ engine: db.engine(), logger: b.logger }),
    ]);
    try {
      const applied = [...a.lines, ...b.lines].filter((l) => l.includes('applied schema migration'));
      expect(applied).to.have.length(MIGRATIONS.length);
      const versions = await one.engine.read<{ version: number }>(one['db'].selectFrom('schema_version').select('version').orderBy('version').compile());
      expect(versions.map((v) => v.version)).to.deep.equal(MIGRATIONS.map((m) => m.version));
      expect((await two.policies()).length).to.be.greaterThan(0);
    } finally {
      await Promise.all([one.close(), two.close()]);
      await db.drop();
    }
  });

  it('two replicas ingesting the same stream keep one row per uid with the highest count', async () => {
    const db = freshPostgresDatabase();
    const one = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners(), batchSize: 50 });
    const two = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners(), batchSize: 50 });
    try {
      const events = randomEvents(2_000, 21);
      // Every event arrives at both replicas, with count bumps, in different orders: one sees
      // the bumps in order, the other sees a stale copy after the newest.
      const bumped = events.map((e) => ({ ...e, count: (e.count ?? 1) + 5, lastTimestamp: new Date(Date.parse(String(e.lastTimestamp)) + 60_000).toISOString() }));
      for (let i = 0; i < events.length; i++) {
        one.ingest(events[i] as EventObject);
        one.ingest(bumped[i] as EventObject);
        two.ingest(bumped[events.length - 1 - i] as EventObject);
        two.ingest(events[events.length - 1 - i] as EventObject);
      }
      await Promise.all([one.flush(), two.flush()]);
      const rows = await rawRows(one);
      expect(rows).to.have.length(events.length);
      expect(new Set(rows.map((r) => r.uid)).size).to.equal(events.length);
      const want = new Map(bumped.map((e) => [e.metadata?.uid as string, e]));
      for (const r of rows) {
        const e = want.get(r.uid) as EventObject;
        expect(r.count, r.uid).to.equal(e.count);
        expect(r.last_timestamp, r.uid).to.equal(Date.parse(String(e.lastTimestamp)));
      }
    } finally {
      await Promise.all([one.close(), two.close()]);
      await db.drop();
    }
  });

  it('retention drops a wholly expired partition and leaves every other row', async () => {
    const db = freshPostgresDatabase();
    const archive = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners(), now: () => NOW });
    try {
      // vm Normal: 30 days. September 2025 expired entirely; January 2026 holds expired rows
      // and one kept by another policy (vm Warning, 60 days); February 2026 is recent.
      const sept = Date.UTC(2025, 8, 10);
      for (let i = 0; i < 40; i++) archive.ingest(vmEvent(`sept-${i}`, sept + i * 60_000));
      const jan = Date.UTC(2026, 0, 20);
      for (let i = 0; i < 10; i++) archive.ingest(vmEvent(`jan-${i}`, jan + i * 60_000));
      archive.ingest({ ...vmEvent('jan-warning', jan), type: 'Warning', reason: 'StartupFailed' });
      for (let i = 0; i < 10; i++) archive.ingest(vmEvent(`feb-${i}`, NOW - 2 * DAY + i));
      await archive.flush();
      expect(await partitions(archive)).to.include.members(['events_p202509', 'events_p202601', 'events_p202602']);

      const report = await archive.enforceRetention();
      expect(await partitions(archive)).to.not.include('events_p202509');
      expect(await partitions(archive)).to.include.members(['events_p202601', 'events_p202602']);
      const left = (await rawRows(archive)).map((r) => r.uid).sort();
      expect(left).to.deep.equal(['jan-warning', ...Array.from({ length: 10 }, (_, i) => `feb-${i}`)].sort());
      expect(report.deleted).to.equal(50);
      expect(archive.stats().deleted.find((d) => d.category === 'vm' && d.type === 'Normal' && d.cause === 'age')?.count).to.equal(50);
      // The rollup lost exactly the dropped rows.
      const hour = 3_600_000;
      const stats = await archive.countStats({ filters: { since: 0, until: Math.ceil(NOW / hour) * hour + 100 * hour - 1 }, scope: { kind: 'all' } }, hour, 'type');
      expect(stats.reduce((n, s) => n + s.n, 0)).to.equal(11);
      // …at both levels: whole days (the daily level) and the list's total (days, no window).
      const days = await archive.countStats({ filters: { since: 0, until: Math.ceil(NOW / DAY) * DAY + 5 * DAY - 1 }, scope: { kind: 'all' } }, DAY, 'type');
      expect(days.reduce((n, s) => n + s.n, 0)).to.equal(11);
      expect((await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 1, offset: 0 })).total).to.equal(11);
      // A late row of the dropped month is still archived (a partition is made again).
      archive.ingest(vmEvent('sept-late', sept));
      await archive.flush();
      expect((await rawRows(archive)).map((r) => r.uid)).to.include('sept-late');
    } finally {
      await archive.close();
      await db.drop();
    }
  });

  it('runs retention only while the replica leads', async () => {
    const db = freshPostgresDatabase();
    const archive = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners(), now: () => NOW });
    try {
      for (let i = 0; i < 5; i++) archive.ingest(vmEvent(`old-${i}`, NOW - 100 * DAY + i));
      await archive.flush();
      let asked = 0;
      let leading = false;
      archive.retention.start(1, 0, () => {
        asked++;
        return leading;
      });
      await waitFor('the follower to skip three retention passes', async () => asked >= 3, { intervalMs: 5 });
      expect(await rawRows(archive)).to.have.length(5);
      leading = true;
      await waitFor('the leader to enforce retention', async () => (await rawRows(archive)).length === 0);
    } finally {
      await archive.close();
      await db.drop();
    }
  });

  it('archives every event of a burst during which the server is down for 20 s: buffered, degraded, 503, then written', async function () {
    this.timeout(300_000);
    const server = await testPostgres();
    const db = freshPostgresDatabase();
    const { logger, lines } = capturingLogger();
    const archive = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners(), logger, retryMinMs: 50, retryMaxMs: 1_000 });
    const outage = server.managed ? undefined : 'external server: this test needs the server the harness starts';
    expect(outage, 'a server the test may stop').to.equal(undefined);
    const events = randomEvents(3_000, 33);
    try {
      for (const e of events.slice(0, 1_000)) archive.ingest(e);
      await archive.flush();
      await server.stopServer();
      const stoppedAt = Date.now();
      // The burst goes on while the server is down: 2,000 more events over 20 s.
      for (let step = 0; step < 20; step++) {
        for (const e of events.slice(1_000 + step * 100, 1_100 + step * 100)) archive.ingest(e);
        // The outage's length is the scenario (not a synchronisation): one step per second.
        await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + (step + 1) * 1_000 - Date.now())));
      }
      await waitFor('the archive to report degraded', async () => archive.health().status === 'degraded');
      expect(archive.health().reason).to.match(/history writes failing/);
      const refused = await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 1, offset: 0 }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(refused).to.be.instanceOf(HistoryUnavailableError);
      expect((refused as HistoryUnavailableError).statusCode).to.equal(503);
      expect(archive.stats().overflowed).to.equal(0);
      await server.startServer();
      // flush() waits for the batches in flight too (an empty buffer alone does not), and
      // rejects while writes still fail: polled until it resolves.
      await waitFor(
        'the buffer to drain',
        async () => {
          await archive.flush();
          return archive.health().status === 'ok';
        },
        { timeoutMs: 60_000 },
      );
      const page = await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 1, offset: 0 });
      expect(page.total).to.equal(events.length);
      expect(lines.join('\n')).to.match(/writes recovered/);
    } finally {
      await archive.close();
      await db.drop();
    }
  });

  it('reports degraded on an idle replica whose server is down (probe), and ok again once it is back', async function () {
    this.timeout(180_000);
    const server = await testPostgres();
    expect(server.managed, 'a server the test may stop (not OVIM_TEST_DATABASE_URL)').to.equal(true);
    const db = freshPostgresDatabase();
    const { logger, lines } = capturingLogger();
    const archive = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners(), logger, probeIntervalMs: 100 });
    const api = await startServer({ history: archive });
    let down = false;
    try {
      expect(archive.health().status).to.equal('ok');
      down = true;
      await server.stopServer();
      // Nothing is ingested: only the probe can notice.
      await waitFor('the idle archive to report degraded', async () => archive.health().status === 'degraded', { timeoutMs: 60_000 });
      expect(archive.health().reason).to.match(/history database unreachable/);
      expect(archive.stats().writeFailures).to.equal(0);
      const health = await api.get('/health');
      expect(health.status).to.equal(503);
      expect((health.body as { checks: { history: { status: string } } }).checks.history.status).to.equal('degraded');
      await server.startServer();
      down = false;
      await waitFor('the archive to report ok again', async () => archive.health().status === 'ok', { timeoutMs: 60_000 });
      expect((await api.get('/health')).status).to.equal(200);
      expect(lines.join('\n')).to.match(/database probe failed/).and.match(/reachable again/);
    } finally {
      if (down) await server.startServer();
      await api.close();
      await archive.close();
      await db.drop();
    }
  });

  it('never puts the password in an error or a log line', async () => {
    const secret = 'S3cret-pa55word';
    const port = await freePort();
    const { logger, lines } = capturingLogger();
    const engine = new PostgresEngine(`postgres://ovim:${secret}@127.0.0.1:${port}/archive?sslmode=disable`, { logger, connectTimeoutMs: 1_000 });
    expect(engine.location).to.equal('postgres://ovim@127.0.0.1:' + port + '/archive');
    const err = await HistoryArchive.open({ engine, logger }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.include(engine.location);
    expect(`${err?.message} ${err?.stack}`).to.not.include(secret);
    expect(lines.join('\n')).to.not.include(secret);
    // A URL that is not one is refused without echoing it.
    const bad = (() => {
      try {
        new PostgresEngine(`postgres://ovim:${secret}@[not a host/x`);
        return undefined;
      } catch (e) {
        return e as Error;
      }
    })();
    expect(bad?.message).to.match(/not a valid postgres:/).and.not.include(secret);
    // A wrong password against the real server: the server's refusal names no password either.
    const server = await testPostgres();
    const url = new URL(server.adminUrl);
    url.username = 'nobody_here';
    url.password = secret;
    const wrong = new PostgresEngine(url.toString(), { logger });
    const refused = await wrong.open().then(
      () => undefined,
      (e: Error) => e,
    );
    await wrong.close();
    expect(refused?.message).to.match(/nobody_here/).and.not.include(secret);
  });
});
