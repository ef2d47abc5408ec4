// The archive against each engine of ENGINES (the same suite for every engine): idempotent
// ingestion, restart, tenant scopes equal to the in-memory store's, until/actor/cursor paging and
// stats against brute-force references, a refused unreadable file and a refused newer schema.
import { expect } from 'chai';
import type { CompiledQuery } from 'kysely';
import { readFileSync, writeFileSync } from 'node:fs';
import { NamespaceOwners } from '../../../src/events/owners.js';
import {
  scopeMatcher,
  type EventRecord,
  type NamespaceOwnership,
  type Scope,
} from '../../../src/events/query.js';
import { EventStore, compactEvent, type EventObject } from '../../../src/events/store.js';
import { EXACT_COUNT_LIMIT, HistoryArchive, type HistoryArchiveOptions } from '../../../src/history/archive.js';
import { compiler, type HistoryFilters, type StatsGroup } from '../../../src/history/sql.js';
import { statsLevel, windowParts } from '../../../src/history/rollup-levels.js';
import { rollupTotalQuery } from '../../../src/history/totals.js';
import { seededRandom } from '../../support/random.js';
import { ENGINES } from './engines.js';
import { DAY, NOW, OWNERS, SCOPES, allByCursor, ids, liveOwners, randomEvents, reference } from './fixtures.js';

/** Both rollup levels' counts (whole-hour and whole-day windows over everything) equal the rows' own. */
async function expectRollupMatchesRows(archive: HistoryArchive): Promise<void> {
  for (const unit of [3_600_000, DAY]) {
    const selection = { filters: { since: 0, until: Math.ceil((NOW + 400 * DAY) / unit) * unit - 1 }, scope: { kind: 'all' as const } };
    const level = statsLevel(unit, selection.filters.since, selection.filters.until);
    expect(level?.unitMs, 'the level answering').to.equal(unit);
    const fromRollup = await archive.countStats(selection, unit, 'reason');
    const want = new Map<string, number>();
    for await (const rows of archive.exportRows({ filters: {}, scope: { kind: 'all' } })) {
      for (const r of rows) {
        const k = `${Math.floor(r.last_timestamp / unit) * unit}|${r.reason}`;
        want.set(k, (want.get(k) ?? 0) + 1);
      }
    }
    expect(new Map(fromRollup.map((s) => [`${s.bucket}|${s.key}`, s.n])), `rollup per ${unit} ms`).to.deep.equal(want);
  }
}

function event(uid: string, over: Partial<{ count: number; last: number; first: number; message: string; namespace: string }> = {}): EventObject {
  const last = over.last ?? NOW;
  return {
    metadata: { name: `vdc-1.${uid}`, namespace: over.namespace ?? 'org-a', uid },
    involvedObject: { kind: 'VirtualDataCenter', name: 'vdc-1' },
    type: 'Warning',
    reason: 'QuotaExceeded',
    message: over.message ?? 'quota exceeded',
    source: { component: 'ovim-controller' },
    firstTimestamp: new Date(over.first ?? last).toISOString(),
    lastTimestamp: new Date(last).toISOString(),
    count: over.count ?? 1,
  };
}

for (const engineUnderTest of ENGINES) {
  describe(`history archive on the ${engineUnderTest.name} engine`, function () {
    this.timeout(120_000);

    /** A fresh database for tests that change data. */
    async function fresh(options: Partial<HistoryArchiveOptions> = {}) {
      const db = engineUnderTest.database();
      const archive = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners(), ...options }).catch(async (err: unknown) => {
        await db.drop();
        throw err;
      });
      return {
        db,
        archive,
        async done() {
          await archive.close();
          await db.drop();
        },
      };
    }

    describe('ingestion', () => {
      it('updates a count bump in place, never moves count or last timestamp backwards, clamps the future', async () => {
        const { archive, done } = await fresh({ now: () => NOW });
        try {
          archive.ingest(event('u1', { count: 1, last: NOW - 60_000, message: 'first' }));
          await archive.flush();
          archive.ingest(event('u1', { count: 5, last: NOW - 30_000, message: 'fifth' }));
          await archive.flush();
          // A stale copy (a relist racing a bump) changes nothing.
          archive.ingest(event('u1', { count: 2, last: NOW - 50_000, message: 'stale' }));
          await archive.flush();
          archive.ingest(event('u2', { last: NOW + 3_600_000, first: NOW + 3_000_000 }));
          archive.ingest(event('u3', { last: NOW + 20_000 }));
          await archive.flush();
          const page = await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 10, offset: 0 });
          expect(page.total).to.equal(3);
          const u1 = page.items.find((r) => r.uid === 'u1');
          expect(u1).to.include({ count: 5, last_timestamp: NOW - 30_000, message: 'fifth' });
          const u2 = page.items.find((r) => r.uid === 'u2');
          expect(u2).to.include({ last_timestamp: NOW, first_timestamp: NOW });
          expect(page.items.find((r) => r.uid === 'u3')?.last_timestamp, 'within 30 s: kept').to.equal(NOW + 20_000);
          // A count bump that moves u1 into the next hour moves it in the rollup too.
          archive.ingest(event('u1', { count: 6, last: NOW + 10_000 }));
          await archive.flush();
          await expectRollupMatchesRows(archive);
        } finally {
          await done();
        }
      });

      it('keeps everything across a restart (a new engine on the same database)', async () => {
        const { db, archive } = await fresh();
        const events = randomEvents(500, 3);
        for (const e of events) archive.ingest(e);
        await archive.flush();
        const before = await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 200, offset: 0 });
        await archive.close();
        const reopened = await HistoryArchive.open({ engine: db.engine(), owners: liveOwners() });
        try {
          const after = await reopened.list({ filters: {}, scope: { kind: 'all' } }, { limit: 200, offset: 0 });
          expect(after.total).to.equal(500);
          expect(after.items).to.deep.equal(before.items);
          // Backfill after the restart (the informer's first list) is idempotent.
          for (const e of events) reopened.ingest(e);
          await reopened.flush();
          expect((await reopened.list({ filters: {}, scope: { kind: 'all' } }, { limit: 1, offset: 0 })).total).to.equal(500);
        } finally {
          await reopened.close();
          await db.drop();
        }
      });

      it('archives OVIM kinds and managed namespaces by default, everything with archiveAllEvents', async () => {
        const foreign = { ...event('f1', { namespace: 'apps' }), involvedObject: { kind: 'Pod', name: 'p' }, source: { component: 'kubelet' } };
        const ovimKindElsewhere = event('f2', { namespace: 'apps' });
        for (const archiveAllEvents of [false, true]) {
          const { archive, done } = await fresh({ archiveAllEvents });
          try {
            archive.ingest(foreign);
            archive.ingest(ovimKindElsewhere);
            archive.ingest(event('f3', { namespace: 'vdc-a-x' }));
            await archive.flush();
            const page = await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 10, offset: 0 });
            expect(ids(page.items).sort(), `archiveAllEvents=${archiveAllEvents}`).to.deep.equal(
              archiveAllEvents ? ['f1', 'f2', 'f3'] : ['f2', 'f3'],
            );
          } finally {
            await done();
          }
        }
      });

      it('bounds its buffer while the database refuses writes, counts the overflow, reports degraded, and recovers', async () => {
        let refuse = true;
        const db = engineUnderTest.database();
        const engine = db.engine();
        const writeMany = engine.writeMany.bind(engine);
        engine.writeMany = (sql, rows) => (refuse ? Promise.reject(new Error('database or disk is full')) : writeMany(sql, rows));
        const archive = await HistoryArchive.open({ engine, owners: liveOwners(), bufferSize: 100, retryMinMs: 5, retryMaxMs: 20 });
        try {
          for (const e of randomEvents(150, 4)) archive.ingest(e);
          const failed = await archive.flush().then(
            () => undefined,
            (err: Error) => err,
          );
          expect(failed?.message).to.match(/disk is full/);
          expect(archive.health()).to.include({ status: 'degraded', buffered: 100 });
          expect(archive.health().reason).to.match(/disk is full/);
          expect(archive.stats().overflowed).to.equal(50);
          refuse = false;
          await archive.flush();
          expect(archive.health()).to.deep.equal({ status: 'ok', buffered: 0 });
          expect((await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 1, offset: 0 })).total).to.equal(100);
        } finally {
          await archive.close();
          await db.drop();
        }
      });
    });

    describe('queries', () => {
      const events = randomEvents(3_000);
      let db: ReturnType<typeof engineUnderTest.database>;
      let archive: HistoryArchive;
      let records: EventRecord[];
      let owners: NamespaceOwners;

      before(async () => {
        db = engineUnderTest.database();
        owners = liveOwners();
        archive = await HistoryArchive.open({ engine: db.engine(), owners });
        for (const [ns, org] of OWNERS) archive.rememberOwner(ns, org);
        for (const e of events) archive.ingest(e);
        await archive.flush();
        records = events.map((e) => compactEvent(e) as EventRecord);
      });
      after(async () => {
        await archive?.close();
        await db?.drop();
      });

      it('answers every scope of the tenant matrix like the in-memory store, page by page', async () => {
        const store = new EventStore({ namespaceOwners: owners });
        for (const e of events) store.upsert(e);
        const filterSets: HistoryFilters[] = [{}, { type: 'Warning' }, { namespace: 'vdc-a-x' }, { reason: 'VDCCreated', component: 'OVIM' }];
        for (const scope of SCOPES) {
          for (const filters of filterSets) {
            for (const page of [1, 2, 7]) {
              const want = store.query(filters, scope, { page, limit: 50 });
              const got = await archive.list({ filters, scope }, { limit: 50, offset: (page - 1) * 50 });
              const what = `${JSON.stringify(scope)} ${JSON.stringify(filters)} page ${page}`;
              expect(got.total, what).to.equal(want.total);
              expect(ids(got.items), what).to.deep.equal(ids(want.items));
            }
          }
        }
      });

      it("keeps a deleted VDC namespace's events with its organization", async () => {
        const gone = new NamespaceOwners();
        for (const [ns, org] of OWNERS) if (ns !== 'vdc-a-gone') gone.set(ns, org);
        // The live owners no longer know vdc-a-gone; the archive remembers it was organization a's.
        const archiveAfter = await HistoryArchive.open({ engine: db.engine(), owners: gone });
        try {
          expect(archiveAfter.owners.ownerOf('vdc-a-gone')).to.equal('a');
          const scope: Scope = { kind: 'organization', organization: 'a' };
          const got = await allByCursor(archiveAfter, { filters: { namespace: 'vdc-a-gone' }, scope }, 200);
          const want = reference(records, { filters: { namespace: 'vdc-a-gone' }, scope }, liveOwners());
          expect(want.length).to.be.greaterThan(0);
          expect(ids(got)).to.deep.equal(ids(want));
          const other = await archiveAfter.list({ filters: { namespace: 'vdc-a-gone' }, scope: { kind: 'organization', organization: 'a-b' } }, { limit: 10, offset: 0 });
          expect(other.total).to.equal(0);
        } finally {
          await archiveAfter.close();
        }
      });

      it('pages until/actor/since selections by cursor and by offset exactly like a brute-force reference', async () => {
        const rnd = seededRandom(11);
        for (let i = 0; i < 40; i++) {
          const scope = SCOPES[Math.floor(rnd() * SCOPES.length)] as Scope;
          const filters: HistoryFilters = {};
          if (rnd() < 0.5) filters.until = NOW - Math.floor(rnd() * 30) * DAY;
          if (rnd() < 0.5) filters.since = NOW - Math.floor(rnd() * 30) * DAY;
          if (rnd() < 0.4) filters.actor = ['alice', 'bob', 'nobody'][Math.floor(rnd() * 3)];
          if (rnd() < 0.3) filters.type = rnd() < 0.5 ? 'Normal' : 'Warning';
          const selection = { filters, scope };
          const want = reference(records, selection, owners);
          const limit = 1 + Math.floor(rnd() * 120);
          const what = JSON.stringify(selection);
          expect(ids(await allByCursor(archive, selection, limit)), what).to.deep.equal(ids(want));
          const page = 1 + Math.floor(rnd() * 3);
          const byOffset = await archive.list(selection, { limit, offset: (page - 1) * limit });
          expect(ids(byOffset.items), what).to.deep.equal(ids(want.slice((page - 1) * limit, page * limit)));
          expect(byOffset.total, what).to.equal(want.length);
          expect(byOffset.totalExact).to.equal(true);
        }
      });

      it('counts totals from the hourly rollup exactly like a brute-force count, partial hours included', async () => {
        const rnd = seededRandom(17);
        const hour = 3_600_000;
        const reasons = [...new Set(records.map((r) => r.reason))];
        const instant = () => {
          const t = NOW - Math.floor(rnd() * 31 * DAY);
          // Whole hours, an hour's last millisecond, and anywhere inside an hour.
          const k = rnd();
          return k < 0.2 ? Math.floor(t / hour) * hour : k < 0.4 ? Math.floor(t / hour) * hour - 1 : t;
        };
        let fromRollup = 0;
        for (let i = 0; i < 60; i++) {
          const scope = SCOPES[Math.floor(rnd() * SCOPES.length)] as Scope;
          const filters: HistoryFilters = {};
          if (rnd() < 0.7) filters.since = instant();
          if (rnd() < 0.7) filters.until = rnd() < 0.2 && filters.since !== undefined ? filters.since + Math.floor(rnd() * hour) : instant();
          if (rnd() < 0.3) filters.type = rnd() < 0.5 ? 'Normal' : 'Warning';
          if (rnd() < 0.3) filters.namespace = ['org-a', 'vdc-a-x', 'vdc-a-gone', 'apps'][Math.floor(rnd() * 4)];
          if (rnd() < 0.3) filters.reason = reasons[Math.floor(rnd() * reasons.length)];
          const selection = { filters, scope };
          if (rollupTotalQuery(compiler(archive.engine.dialect), selection)) fromRollup++;
          const page = await archive.list(selection, { limit: 5, offset: 0 });
          const what = JSON.stringify(selection);
          expect(page.total, what).to.equal(reference(records, selection, owners).length);
          expect(page.totalExact, what).to.equal(true);
        }
        // Per-user scopes are counted from the rows; the others from the rollup.
        expect(fromRollup).to.be.above(30);
      });

      it('counts totals from the daily level, the edge hours and the partial hours exactly like a brute-force count', async () => {
        const rnd = seededRandom(23);
        const hour = 3_600_000;
        const reasons = [...new Set(records.map((r) => r.reason))];
        const instant = () => {
          const t = NOW - Math.floor(rnd() * 33 * DAY);
          // Whole days, a day's last millisecond, whole hours, an hour's last millisecond, anywhere.
          const k = rnd();
          if (k < 0.2) return Math.floor(t / DAY) * DAY;
          if (k < 0.3) return Math.floor(t / DAY) * DAY - 1;
          if (k < 0.5) return Math.floor(t / hour) * hour;
          if (k < 0.6) return Math.floor(t / hour) * hour - 1;
          return t;
        };
        let fromDays = 0;
        for (let i = 0; i < 80; i++) {
          const scope = SCOPES[Math.floor(rnd() * SCOPES.length)] as Scope;
          const filters: HistoryFilters = {};
          if (rnd() < 0.8) filters.since = instant();
          if (rnd() < 0.8) filters.until = instant();
          if (rnd() < 0.3) filters.type = rnd() < 0.5 ? 'Normal' : 'Warning';
          if (rnd() < 0.3) filters.namespace = ['org-a', 'vdc-a-x', 'vdc-a-gone', 'apps'][Math.floor(rnd() * 4)];
          if (rnd() < 0.2) filters.reason = reasons[Math.floor(rnd() * reasons.length)];
          const selection = { filters, scope };
          if (rollupTotalQuery(compiler(archive.engine.dialect), selection) && windowParts(filters.since, filters.until).days) fromDays++;
          const page = await archive.list(selection, { limit: 5, offset: 0 });
          const what = JSON.stringify(selection);
          expect(page.total, what).to.equal(reference(records, selection, owners).length);
          expect(page.totalExact, what).to.equal(true);
        }
        expect(fromDays, 'selections summed from the daily level').to.be.above(35);
      });

      it('counts stats per bucket and group exactly like a brute-force count', async () => {
        const bucket = 6 * 3_600_000;
        for (const scope of SCOPES) {
          for (const [group, filters] of [
            // Not whole hours: counted from the rows.
            ['reason', { since: NOW - 10 * DAY, until: NOW - 2 * DAY }],
            ['organization', { since: NOW - 10 * DAY + 1, until: NOW - 2 * DAY }],
            // Whole hours on the rollup's dimensions: counted from the rollup.
            ['reason', { since: NOW - 10 * DAY, until: NOW - 2 * DAY - 1 }],
            ['type', { since: NOW - 10 * DAY, until: NOW - 2 * DAY - 1, namespace: 'vdc-a-x' }],
            ['namespace', { since: NOW - 30 * DAY, until: NOW - 1, type: 'Warning' }],
            ['organization', { since: NOW - 30 * DAY, until: NOW - 1 }],
          ] as [StatsGroup, HistoryFilters][]) {
            const got = await archive.countStats({ filters, scope }, bucket, group);
            const want = new Map<string, number>();
            for (const r of reference(records, { filters, scope }, owners)) {
              const key = group === 'organization' ? (scopeOrg(r, owners) ?? null) : r[group as 'reason' | 'type' | 'namespace'];
              const k = `${Math.floor(r.lastTimestamp / bucket) * bucket}|${key}`;
              want.set(k, (want.get(k) ?? 0) + 1);
            }
            const gotMap = new Map(got.map((s) => [`${s.bucket}|${s.key}`, s.n]));
            expect(gotMap, `${JSON.stringify(scope)} by ${group}`).to.deep.equal(want);
          }
        }
      });
    });

    describe('retention', () => {
      it('removes exactly the expired rows per (category, type), honours the floors and max_events per organization', async () => {
        const { archive, done } = await fresh({ now: () => NOW });
        try {
          const at = (days: number) => NOW - days * DAY;
          const rows: [string, string, string, string, number][] = [
            // uid, reason, kind, namespace, age in days
            ['vm-normal-29', 'VMStarted', 'VirtualMachine', 'vdc-a-x', 29],
            ['vm-normal-31', 'VMStarted', 'VirtualMachine', 'vdc-a-x', 31],
            ['vm-warning-31', 'StartupFailed', 'VirtualMachine', 'vdc-a-x', 31],
            ['vm-warning-61', 'StartupFailed', 'VirtualMachine', 'vdc-a-x', 61],
            ['audit-200', 'DeletionRequested', 'VirtualDataCenter', 'org-a', 200],
            ['audit-400', 'DeletionRequested', 'VirtualDataCenter', 'org-a', 400],
            ['security-100', 'AccessDenied', 'Organization', 'org-a', 100],
            ['security-181', 'AccessDenied', 'Organization', 'org-a', 181],
          ];
          for (const [uid, reason, kind, namespace, age] of rows) {
            archive.ingest({ ...event(uid, { namespace, last: at(age) }), reason, involvedObject: { kind, name: 'x' }, type: reason === 'StartupFailed' || reason === 'AccessDenied' ? 'Warning' : 'Normal' });
          }
          // max_events per organization: vdc Normal capped at 3; organization a has 5, a-b has 2.
          for (let i = 0; i < 5; i++) archive.ingest({ ...event(`vdc-a-${i}`, { last: at(1) - i }), reason: 'VDCCreated', type: 'Normal' });
          for (let i = 0; i < 2; i++) archive.ingest({ ...event(`vdc-ab-${i}`, { namespace: 'org-a-b', last: at(1) - i }), reason: 'VDCCreated', type: 'Normal' });
          // Security rows beyond any count: never evicted by count.
          for (let i = 0; i < 4; i++) archive.ingest({ ...event(`sec-${i}`, { last: at(1) - i }), reason: 'AccessDenied', type: 'Warning', involvedObject: { kind: 'Organization', name: 'a' } });
          await archive.flush();
          await archive.setPolicy({ category: 'vdc', type: 'Normal', retentionDays: 90, maxEvents: 3 });
          await archive.setPolicy({ category: 'security', type: 'Warning', retentionDays: 180, maxEvents: 2 });
          const refused = await archive.setPolicy({ category: 'audit', type: 'Normal', retentionDays: 30, maxEvents: null }).then(
            () => undefined,
            (e: Error) => e,
          );
          expect(refused?.message).to.match(/at least 90/);

          const report = await archive.enforceRetention();
          const left = ids((await archive.list({ filters: {}, scope: { kind: 'all' } }, { limit: 200, offset: 0 })).items).sort();
          expect(left).to.deep.equal(
            [
              'vm-normal-29',
              'vm-warning-31',
              'audit-200',
              'security-100',
              'vdc-a-0',
              'vdc-a-1',
              'vdc-a-2',
              'vdc-ab-0',
              'vdc-ab-1',
              'sec-0',
              'sec-1',
              'sec-2',
              'sec-3',
            ].sort(),
          );
          expect(report.deleted).to.equal(6);
          const deleted = archive.stats().deleted;
          const n = (category: string, type: string, cause: string) =>
            deleted.find((d) => d.category === category && d.type === type && d.cause === cause)?.count ?? 0;
          expect(n('vm', 'Normal', 'age')).to.equal(1);
          expect(n('vm', 'Warning', 'age')).to.equal(1);
          expect(n('audit', 'Normal', 'age')).to.equal(1);
          expect(n('security', 'Warning', 'age')).to.equal(1);
          expect(n('vdc', 'Normal', 'count')).to.equal(2);
          // A second pass finds nothing more.
          expect((await archive.enforceRetention()).deleted).to.equal(0);
          await expectRollupMatchesRows(archive);
          // Keys whose rows all went are out of both levels.
          for (const table of ['event_rollup', 'event_rollup_daily']) {
            const [zero] = await archive.engine.read<{ n: number }>({ sql: `select count(*) as n from ${table} where n <= 0`, parameters: [] } as unknown as CompiledQuery);
            expect(Number(zero?.n), table).to.equal(0);
          }
        } finally {
          await done();
        }
      });
    });

    describe('opening', () => {
      it('refuses an unreadable file, naming it, and leaves it untouched', async () => {
        const db = engineUnderTest.database();
        const engine = db.engine();
        try {
          if (engine.dialect !== 'sqlite') return; // a file is the embedded engine's matter
          writeFileSync(engine.location, 'this is not a database, but somebody needs it'.repeat(100));
          const before = readFileSync(engine.location);
          const err = await HistoryArchive.open({ engine }).then(
            () => undefined,
            (e: Error) => e,
          );
          expect(err?.message).to.include(engine.location).and.match(/not a database|unreadable/);
          expect(readFileSync(engine.location).equals(before)).to.equal(true);
        } finally {
          await db.drop();
        }
      });

      it('refuses a schema newer than it knows, before writing anything', async () => {
        const db = engineUnderTest.database();
        try {
          const first = await HistoryArchive.open({ engine: db.engine() });
          await first.engine.write([first['db'].insertInto('schema_version').values({ version: 999, applied_at: 0 }).compile()]);
          const before = await first.engine.read<{ n: number }>(first['db'].selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).compile());
          await first.close();
          const engine = db.engine();
          const snapshot = () => (engine.dialect === 'sqlite' ? readFileSync(engine.location) : Buffer.alloc(0));
          const bytes = snapshot();
          const err = await HistoryArchive.open({ engine }).then(
            () => undefined,
            (e: Error) => e,
          );
          expect(err?.name).to.equal('SchemaTooNewError');
          expect(err?.message).to.match(/schema version 999, newer than this operator knows/).and.include(engine.location);
          expect(before[0]?.n).to.equal(0);
          expect(snapshot().equals(bytes), 'the file is unchanged').to.equal(true);
        } finally {
          await db.drop();
        }
      });
    });

    it('flags total_count as an estimate above the exact limit where rows are counted, exact from the rollup', async () => {
      // The limit scaled down 100x from EXACT_COUNT_LIMIT (rows 100x further apart): the same
      // decisions as at full size, without writing 105,000 rows.
      const limit = EXACT_COUNT_LIMIT / 100;
      const spacing = 100_000;
      const { archive, done } = await fresh({ exactCountLimit: limit });
      try {
        const n = limit + 50;
        for (let i = 0; i < n; i++) {
          archive.ingestRow({ ...rowTemplate, uid: `bulk-${i}`, name: `e.${i}`, last_timestamp: NOW - i * spacing, first_timestamp: NOW - i * spacing });
        }
        await archive.flush();
        // A filter the hourly rollup does not hold (the object's kind): the rows are counted.
        const byKind: HistoryFilters = { kind: 'VirtualDataCenter' };
        const page = await archive.list({ filters: byKind, scope: { kind: 'all' } }, { limit: 10, offset: 0 });
        expect(page.totalExact).to.equal(false);
        // Evenly spread rows: the time-based estimate lands close to the truth.
        expect(page.total).to.be.within(n * 0.95, n * 1.05);
        const few = await archive.list({ filters: { ...byKind, until: NOW - 100 * spacing }, scope: { kind: 'all' } }, { limit: 10, offset: 0 });
        expect(few.totalExact).to.equal(true);
        expect(few.total).to.equal(n - 100);
        // On the rollup's dimensions the total is exact at any size.
        for (const filters of [{}, { type: 'Normal', since: NOW - 500 * spacing + 1 }] as HistoryFilters[]) {
          const exact = await archive.list({ filters, scope: { kind: 'organization', organization: 'a' } }, { limit: 10, offset: 0 });
          expect(exact.totalExact, JSON.stringify(filters)).to.equal(true);
          expect(exact.total, JSON.stringify(filters)).to.equal(filters.since === undefined ? n : 500);
        }
      } finally {
        await done();
      }
    });
  });
}

/** The organization an event belongs to for scopes (the `organization` stats group). */
function scopeOrg(r: EventRecord, owners: NamespaceOwnership): string | undefined {
  for (const org of ['a', 'a-b', 'c']) if (scopeMatcher({ kind: 'organization', organization: org }, owners)(r)) return org;
  return undefined;
}

const rowTemplate = {
  uid: '',
  name: '',
  namespace: 'org-a',
  type: 'Normal',
  reason: 'VDCCreated',
  message: 'bulk',
  component: 'ovim-controller',
  kind: 'VirtualDataCenter',
  object_name: 'v',
  first_timestamp: 0,
  last_timestamp: 0,
  count: 1,
  organization: 'a',
  vdc: null,
  actor: null,
  owner: null,
  actor_verified: 0,
  owner_verified: 0,
  category: 'vdc',
  writer: 'kubernetes',
  org_id: 'a',
  vdc_id: null,
  vm_id: null,
  user_id: null,
  username: null,
  action: null,
  metadata: null,
  annotations: null,
  labels: null,
  ingested_at: 0,
  deleted_at: null,
};
