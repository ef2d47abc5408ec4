// The events API on the archive, per engine: the list answers exactly like the in-memory API for
// every tenant, plus until/actor/cursor; export (ndjson, csv) and stats are scoped; bad input is
// 400/403; a database that cannot answer gives 503, a failing one makes /health degraded; export
// memory stays bounded; a long query leaves the event loop turning.
import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ApiEvent, Scope } from '../../../src/events/query.js';
import { EventStore, compactEvent } from '../../../src/events/store.js';
import { HistoryArchive } from '../../../src/history/archive.js';
import { HistoryUnavailableError } from '../../../src/history/engine.js';
import { compiler } from '../../../src/history/sql.js';
import { fill } from '../../support/history-fill.js';
import { startServer, token, type TestServer } from '../http/support.js';
import { ENGINES } from './engines.js';
import { DAY, NOW, OWNERS, ids, liveOwners, randomEvents, reference } from './fixtures.js';

interface ListBody {
  events: ApiEvent[];
  total_count: number;
  total_count_exact: boolean;
  page: number;
  page_size: number;
  next_cursor: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Tokens of the tenant matrix, with the scope each one gets. */
async function tenants(): Promise<[string, string, Scope][]> {
  return [
    ['system admin', await token('system_admin'), { kind: 'all' }],
    ['org admin of a', await token('org_admin', 'a'), { kind: 'organization', organization: 'a' }],
    ['org admin of a-b', await token('org_admin', 'a-b'), { kind: 'organization', organization: 'a-b' }],
    ['org user alice of a', await token('org_user', 'a', 'alice'), { kind: 'own', organization: 'a', username: 'alice' }],
    ['org member bob of a-b', await token('org_member', 'a-b', 'bob'), { kind: 'own', organization: 'a-b', username: 'bob' }],
  ];
}

/** Forces a full collection (for heap measurements). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

for (const engineUnderTest of ENGINES) {
  describe(`events API on the ${engineUnderTest.name} archive`, function () {
    this.timeout(120_000);
    const events = randomEvents(2_000, 21);
    const records = events.map((e) => compactEvent(e)).filter((r) => r !== undefined);
    let db: ReturnType<typeof engineUnderTest.database>;
    let archive: HistoryArchive;
    let srv: TestServer;
    let memory: TestServer;
    let admin: string;

    before(async () => {
      db = engineUnderTest.database();
      const owners = liveOwners();
      archive = await HistoryArchive.open({ engine: db.engine(), owners });
      for (const [ns, org] of OWNERS) archive.rememberOwner(ns, org);
      for (const e of events) archive.ingest(e);
      await archive.flush();
      const store = new EventStore({ namespaceOwners: owners });
      for (const e of events) store.upsert(e);
      srv = await startServer({ store, history: archive });
      memory = await startServer({ store });
      admin = await token('system_admin');
    });
    after(async () => {
      await srv?.close();
      await memory?.close();
      await archive?.close();
      await db?.drop();
    });

    it('gives every tenant the in-memory answers for the in-memory parameters', async () => {
      for (const [who, t] of await tenants()) {
        for (const query of ['', '?type=warning', '?namespace=vdc-a-x', '?reason=VDCCreated&component=ovim', '?limit=200&page=3', `?since=${iso(NOW - 3 * DAY)}`]) {
          const a = await srv.get(`/api/v1/events${query}`, t);
          const b = await memory.get(`/api/v1/events${query}`, t);
          expect(a.status, `${who} ${query}`).to.equal(b.status);
          if (b.status !== 200) continue;
          const got = a.body as ListBody;
          const want = b.body as ListBody;
          expect(got.events, `${who} ${query}`).to.deep.equal(want.events);
          expect(got.total_count, `${who} ${query}`).to.equal(want.total_count);
          expect(got.total_count_exact).to.equal(true);
        }
      }
    });

    it('pages until/actor selections by next_cursor exactly like a brute-force reference, for every tenant', async () => {
      for (const [who, t, scope] of await tenants()) {
        for (const [query, filters] of [
          [`until=${iso(NOW - 10 * DAY)}`, { until: NOW - 10 * DAY }],
          ['actor=alice', { actor: 'alice' }],
          [`actor=bob&until=${iso(NOW - 2 * DAY)}&since=${iso(NOW - 20 * DAY)}`, { actor: 'bob', until: NOW - 2 * DAY, since: NOW - 20 * DAY }],
        ] as const) {
          const want = ids(reference(records, { filters, scope }, liveOwners()));
          const got: string[] = [];
          let cursor: string | null = '';
          let pages = 0;
          while (cursor !== null) {
            const res = await srv.get(`/api/v1/events?limit=37&${query}${cursor ? `&cursor=${cursor}` : ''}`, t);
            expect(res.status, JSON.stringify(res.body)).to.equal(200);
            const body = res.body as ListBody;
            expect(body.total_count, `${who} ${query}`).to.equal(want.length);
            got.push(...body.events.map((e) => e.id));
            cursor = body.next_cursor;
            expect(++pages).to.be.below(200);
          }
          expect(got, `${who} ${query}`).to.deep.equal(want);
        }
      }
    });

    it('answers bad cursors and cursor-with-page with 400, a foreign namespace with 403', async () => {
      const alice = await token('org_user', 'a', 'alice');
      for (const bad of ['%%%', 'bm90IGpzb24', Buffer.from('[1,2,3]').toString('base64url'), 'x'.repeat(2000)]) {
        const res = await srv.get(`/api/v1/events?cursor=${bad}`, admin);
        expect(res.status, bad).to.equal(400);
        expect((res.body as { error: string }).error).to.match(/cursor/);
      }
      const first = (await srv.get('/api/v1/events?limit=5', admin)).body as ListBody;
      expect((await srv.get(`/api/v1/events?cursor=${first.next_cursor}&page=2`, admin)).status).to.equal(400);
      expect((await srv.get('/api/v1/events?namespace=vdc-a-b-y', alice)).status).to.equal(403);
      expect((await srv.get('/api/v1/events/export?namespace=org-a-b', alice)).status).to.equal(403);
      expect((await srv.get('/api/v1/events/stats?namespace=org-a-b', alice)).status).to.equal(403);
      expect((await srv.get(`/api/v1/events?until=${iso(NOW)}`, admin)).status).to.equal(200);
      // Without the archive the history parameters are refused, not ignored.
      const off = await memory.get(`/api/v1/events?until=${iso(NOW)}`, admin);
      expect(off.status).to.equal(400);
      expect((off.body as { error: string }).error).to.match(/archive/);
      expect((await memory.get('/api/v1/events/export', admin)).status).to.equal(404);
    });

    it('exports every match, scoped, as ndjson and as csv', async () => {
      for (const [who, t, scope] of await tenants()) {
        const want = reference(records, { filters: { type: 'Warning' }, scope }, liveOwners());
        const nd = await srv.get('/api/v1/events/export?type=Warning', t);
        expect(nd.status).to.equal(200);
        expect(nd.headers.get('content-type')).to.match(/^application\/x-ndjson/);
        const lines = nd.text.split('\n').filter((l) => l !== '');
        expect(lines.map((l) => (JSON.parse(l) as ApiEvent).id), who).to.deep.equal(ids(want));
        const csv = await srv.get('/api/v1/events/export?type=Warning&format=csv', t);
        expect(csv.headers.get('content-type')).to.match(/^text\/csv/);
        const rows = csv.text.split('\r\n').filter((l) => l !== '');
        expect(rows[0]).to.equal(
          'id,name,namespace,type,reason,message,component,involved_object_kind,involved_object_name,first_timestamp,last_timestamp,count,organization,vdc,actor,actor_verified,category',
        );
        expect(rows.slice(1).map((r) => r.split(',')[0]), who).to.deep.equal(ids(want));
      }
    });

    it('neutralises spreadsheet formulas and quotes separators in csv', async () => {
      archive.ingest({
        metadata: { name: 'vdc-1.formula', namespace: 'org-a', uid: 'formula-1' },
        involvedObject: { kind: 'VirtualDataCenter', name: 'vdc-1' },
        type: 'Warning',
        reason: 'QuotaExceeded',
        message: '=HYPERLINK("http://x","click"), then "more"',
        source: { component: 'ovim-controller' },
        lastTimestamp: iso(NOW + 1000),
      });
      await archive.flush();
      const csv = await srv.get('/api/v1/events/export?format=csv&namespace=org-a&reason=QuotaExceeded', admin);
      expect(csv.text).to.include(`"'=HYPERLINK(""http://x"",""click""), then ""more"""`);
    });

    it('counts stats per bucket like the list, scoped, and validates the window', async () => {
      // Whole days: [NOW - 7 d, NOW).
      const since = iso(NOW - 7 * DAY);
      const until = iso(NOW - 1);
      for (const [who, t, scope] of await tenants()) {
        const res = await srv.get(`/api/v1/events/stats?bucket=1d&group_by=reason&since=${since}&until=${until}`, t);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        const body = res.body as { total: number; top: { key: string; count: number }[]; buckets: { start: string; total: number }[] };
        const want = reference(records, { filters: { since: NOW - 7 * DAY, until: NOW - 1 }, scope }, liveOwners());
        expect(body.total, who).to.equal(want.length);
        const byReason = new Map<string, number>();
        for (const r of want) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
        expect(new Map(body.top.map((k) => [k.key, k.count])), who).to.deep.equal(byReason);
        const counts = body.top.map((k) => k.count);
        expect(counts, 'most frequent first').to.deep.equal([...counts].sort((a, b) => b - a));
        expect(body.buckets.reduce((n, b) => n + b.total, 0)).to.equal(want.length);
      }
      for (const [query, why] of [
        ['bucket=0m', /bucket/],
        ['bucket=32d', /bucket/],
        ['bucket=1m&since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z', /more than 1000 buckets/],
        ['group_by=message', /group_by/],
        [`since=${iso(NOW)}&until=${since}`, /since/],
      ] as const) {
        const res = await srv.get(`/api/v1/events/stats?${query}`, admin);
        expect(res.status, query).to.equal(400);
        expect((res.body as { error: string }).error, query).to.match(why);
      }
    });

    it('documents export and stats in the OpenAPI document', async () => {
      const doc = (await srv.get('/api/v1/openapi.json', admin)).body as { paths: Record<string, { get: { parameters: { name: string }[] } }> };
      expect(doc.paths).to.include.keys(
        '/api/v1/events',
        '/api/v1/events/',
        '/api/v1/events/recent',
        '/api/v1/events/export',
        '/api/v1/events/stats',
        '/api/v1/events/stream',
        '/api/v1/openapi.json',
        '/health',
        '/healthz',
        '/readyz',
        '/metrics',
      );
      const names = (path: string) => doc.paths[path]?.get.parameters.map((p) => p.name);
      expect(names('/api/v1/events')).to.include.members(['until', 'actor', 'cursor']);
      expect(names('/api/v1/events/export')).to.include.members(['format', 'until', 'actor', 'namespace']);
      expect(names('/api/v1/events/stats')).to.include.members(['bucket', 'group_by', 'since', 'until']);
    });

    it('answers 503 (never 500) when the database cannot answer, and /health degraded while writes fail', async () => {
      const broken = engineUnderTest.database();
      const engine = broken.engine();
      const failing = await HistoryArchive.open({ engine, owners: liveOwners(), retryMinMs: 5, retryMaxMs: 10 });
      const server = await startServer({ history: failing });
      try {
        engine.read = () => Promise.reject(new Error('disk I/O error'));
        for (const path of ['/api/v1/events', '/api/v1/events/export', '/api/v1/events/stats']) {
          const res = await server.get(path, admin);
          expect(res.status, path).to.equal(503);
          expect((res.body as { error: string }).error, path).to.match(/history is unavailable.*disk I\/O error/);
        }
        engine.read = () => Promise.reject(new HistoryUnavailableError('history reader stopped'));
        expect((await server.get('/api/v1/events', admin)).status).to.equal(503);
        expect((await server.get('/health')).status).to.equal(200);
        engine.writeMany = () => Promise.reject(new Error('database is locked'));
        failing.ingest(events[0] as (typeof events)[number]);
        await failing.flush().catch(() => undefined);
        const health = await server.get('/health');
        expect(health.status).to.equal(503);
        const check = (health.body as { checks: { history: { status: string; reason: string; buffered: number } } }).checks.history;
        expect(check).to.include({ status: 'degraded', buffered: 1 });
        expect(check.reason).to.match(/database is locked/);
      } finally {
        await server.close();
        await failing.close();
        await broken.drop();
      }
    });

    it('exports 100,000 rows with heap growth under 50 MB', async function () {
      this.timeout(300_000);
      const big = engineUnderTest.database();
      const bigArchive = await HistoryArchive.open({ engine: big.engine() });
      const server = await startServer({ history: bigArchive });
      try {
        const total = 100_000;
        // 1 KB messages: 100 MB of export, so buffering it would show.
        await fill(bigArchive, compiler(bigArchive.engine.dialect), { total, now: NOW, spanMs: 30 * DAY, message: 'x'.repeat(1000) });
        const gc = collector();
        gc();
        // The heap and the memory outside it (the Buffers a response is written from).
        const used = () => {
          const m = process.memoryUsage();
          return m.heapUsed + m.external;
        };
        const base = used();
        let peak = 0;
        let lines = 0;
        let bytes = 0;
        let chunks = 0;
        const res = await fetch(`${server.url}/api/v1/events/export`, { headers: { authorization: `Bearer ${admin}` } });
        expect(res.status).to.equal(200);
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.length;
          for (let at = value.indexOf(10); at >= 0; at = value.indexOf(10, at + 1)) lines++;
          // A buffered export holds the body in memory while it is sent: a sample every ~200 chunks
          // (~6 MB) sees it.
          if (++chunks % 200 === 0) {
            gc();
            peak = Math.max(peak, used() - base);
          }
        }
        expect(lines).to.equal(total);
        expect(bytes).to.be.greaterThan(100_000_000);
        expect(peak / 1e6, 'heap growth in MB').to.be.below(50);
      } finally {
        await server.close();
        await bigArchive.close();
        await big.drop();
      }
    });

    it('answers a long query off the event loop: the loop keeps turning while it is in flight', async function () {
      this.timeout(300_000);
      // A million steps: a second or more of work for the database. Run on this thread, the loop
      // could not turn once before the answer; run elsewhere (the embedded engine's reader
      // thread, the PostgreSQL server), it turns all along. The loop delay during such a query
      // is a figure of `npm run bench:history`, not an assertion here.
      const steps = 1_000_000;
      const long = {
        sql:
          archive.engine.dialect === 'postgres'
            ? `select count(*) as n from generate_series(1, ${steps})`
            : `with recursive seq(i) as (select 1 union all select i + 1 from seq where i < ${steps}) select count(*) as n from seq`,
        parameters: [],
      } as unknown as Parameters<typeof archive.engine.read>[0];
      let answered = false;
      let turnsInFlight = 0;
      const query = archive.engine.read<{ n: number }>(long).finally(() => {
        answered = true;
      });
      while (!answered) {
        await new Promise<void>((r) => setImmediate(r));
        if (!answered) turnsInFlight++;
      }
      const [row] = await query;
      expect(Number(row?.n)).to.equal(steps);
      expect(turnsInFlight, 'event loop turns while the query was in flight').to.be.at.least(100);
    });
  });
}
