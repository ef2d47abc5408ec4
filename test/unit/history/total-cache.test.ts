// The list's cached total_count under steady writes: a write in the current hour recounts only
// the current hour; a write reaching back, a deletion or the hour turning recounts the older
// rows too; totals stay exact on both engines while rows arrive in either way.
import { expect } from 'chai';
import { HistoryArchive } from '../../../src/history/archive.js';
import { HOUR_MS } from '../../../src/history/schema.js';
import { TotalCache, type TotalWindow } from '../../../src/history/total-cache.js';
import { appEvent, archiveServer, iso, send } from './app-support.js';
import { ENGINES } from './engines.js';

describe('the total-count cache (pure)', () => {
  const H = 1_000 * HOUR_MS;
  let now = H + 10 * 60_000;
  const calls: string[] = [];
  const count = async (w?: TotalWindow) => {
    calls.push(w === undefined ? 'all' : 'before' in w ? `before ${w.before / HOUR_MS}` : `from ${w.from / HOUR_MS}`);
    return { total: 1, exact: true };
  };
  const take = () => calls.splice(0);

  it('recounts only what a write can change', async () => {
    const cache = new TotalCache(() => now);
    await cache.total('k', true, count);
    expect(take()).to.deep.equal(['before 1000', 'from 1000']);
    await cache.total('k', true, count);
    expect(take(), 'no write: cached').to.deep.equal([]);
    cache.noteWrite(now - 60_000);
    await cache.total('k', true, count);
    expect(take(), 'a write in this hour: this hour only').to.deep.equal(['from 1000']);
    cache.noteWrite(H - 1);
    await cache.total('k', true, count);
    expect(take(), 'a write reaching back: both parts').to.deep.equal(['before 1000', 'from 1000']);
    cache.noteWrite();
    await cache.total('k', true, count);
    expect(take(), 'a deletion: both parts').to.deep.equal(['before 1000', 'from 1000']);
    now += HOUR_MS;
    await cache.total('k', true, count);
    expect(take(), 'no write across the hour: still cached').to.deep.equal([]);
    cache.noteWrite(now);
    await cache.total('k', true, count);
    expect(take(), 'a new hour: the older part moves').to.deep.equal(['before 1001', 'from 1001']);
    cache.noteWrite(now);
    await cache.total('other', false, count);
    await cache.total('other', false, count);
    expect(take(), 'a total the rollup cannot split: whole, cached until a write').to.deep.equal(['all']);
    cache.noteWrite(now);
    await cache.total('other', false, count);
    expect(take()).to.deep.equal(['all']);
  });

  it('never keeps an answer counted while a write ran as current', async () => {
    const cache = new TotalCache(() => now);
    await cache.total('k', true, async (w) => {
      // A write lands while the count runs.
      if (w && 'from' in w) cache.noteWrite(now);
      return { total: 1, exact: true };
    });
    await cache.total('k', true, count);
    expect(take()).to.deep.equal(['from 1001']);
  });
});

for (const engineUnderTest of ENGINES) {
  describe(`list totals under writes on the ${engineUnderTest.name} archive`, function () {
    this.timeout(120_000);

    it('stay exact while posted events, a late Kubernetes Event and deletions arrive', async () => {
      const { archive, srv, close } = await archiveServer(engineUnderTest);
      try {
        const { token } = await import('../http/support.js');
        const admin = await token('system_admin', '', 'backend');
        const orgA = await token('org_admin', 'a');
        const total = async (bearer: string, query = '') => {
          const res = await send(srv, 'GET', `/api/v1/events?limit=1${query}`, bearer);
          expect(res.status, res.text).to.equal(200);
          return res.body.total_count as number;
        };
        const post = async (events: Record<string, unknown>[]) => {
          const res = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events });
          expect(res.status, res.text).to.equal(201);
          return res.body.ids as string[];
        };
        // Older rows (days ago) and recent ones, for two organizations.
        const base = Date.now();
        const old = (i: number, org: string) => appEvent({ name: `old-${org}-${i}`, org_id: org, namespace: `org-${org}`, event_time: iso(base - (3 + i) * HOUR_MS) });
        const recent = (i: number, org: string) => appEvent({ name: `new-${org}-${i}-${Math.random()}`, org_id: org, namespace: `org-${org}`, event_time: iso(Date.now() - 1_000) });
        await post([0, 1, 2].map((i) => old(i, 'a')).concat([old(0, 'c')]));
        let all = 4;
        let a = 3;
        expect([await total(admin), await total(orgA)]).to.deep.equal([all, a]);
        for (let round = 0; round < 3; round++) {
          await post([recent(round, 'a'), recent(round, 'c')]);
          all += 2;
          a += 1;
          expect([await total(admin), await total(orgA), await total(admin, '&type=Normal')], `round ${round}`).to.deep.equal([all, a, all]);
        }
        // A repeat of an old occurrence folds (count bumped, no new row); a new old one adds a row.
        await post([old(0, 'a'), old(7, 'a')]);
        a += 1;
        all += 1;
        expect([await total(admin), await total(orgA)]).to.deep.equal([all, a]);
        // A Kubernetes Event from hours ago, through the archive's own batches.
        archive.ingest({
          metadata: { name: 'vm.late', namespace: 'org-a', uid: 'late-uid' },
          involvedObject: { kind: 'VirtualMachine', name: 'vm' },
          type: 'Normal',
          reason: 'VMStarted',
          message: 'late',
          source: { component: 'ovim-controller' },
          firstTimestamp: iso(Date.now() - 5 * HOUR_MS),
          lastTimestamp: iso(Date.now() - 5 * HOUR_MS),
          count: 1,
        });
        await archive.flush();
        all += 1;
        a += 1;
        expect([await total(admin), await total(orgA)]).to.deep.equal([all, a]);
        // A soft delete of an old row.
        const [gone] = await post([old(9, 'a')]);
        expect((await send(srv, 'DELETE', `/api/v1/events/${String(gone)}`, admin)).status).to.equal(200);
        // (+1 row posted, -1 deleted; +1 EventDeleted security event, which has no organization.)
        all += 1;
        expect([await total(admin), await total(orgA)]).to.deep.equal([all, a]);
        expect(archive).to.be.instanceOf(HistoryArchive);
      } finally {
        await close();
      }
    });
  });
}
