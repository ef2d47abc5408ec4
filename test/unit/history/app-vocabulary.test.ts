// The backend's query vocabulary on GET /api/v1/events (DESIGN.md section 7), per archive engine:
// random application-level events, random queries (repeated filters, context ids, full-text
// search, sort_by/sort_order, page_size, total_pages) for a system admin and an org admin,
// every page compared with a brute-force reference; bad parameters are 400s.
import { expect } from 'chai';
import { seededRandom } from '../../support/random.js';
import { startServer, token, type TestServer } from '../http/support.js';
import { archiveServer, send } from './app-support.js';
import { ENGINES } from './engines.js';

interface Posted {
  id: string;
  name: string;
  namespace: string;
  type: string;
  reason: string;
  category: string;
  component: string;
  org_id: string;
  vdc_id: string;
  vm_id: string;
  user_id: string;
  username: string;
  message: string;
  time: number;
}

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'power', 'disk', 'network', 'quota', 'Migration', 'snapshot'];
const POOLS = {
  type: ['Normal', 'Warning', 'Error'],
  reason: ['VMPowerOn', 'VMPowerOff', 'DiskAttached', 'LoginFailed', 'QuotaRaised'],
  category: ['vm', 'storage', 'security', 'quota', 'audit'],
  component: ['ovim-backend', 'ovim-ui', 'billing-sync'],
  org_id: ['a', 'a-b', 'c'],
  vdc_id: ['x', 'y', 'z'],
  vm_id: ['vm-1', 'vm-2', 'vm-3', 'vm-4'],
  user_id: ['u1', 'u2', 'u3'],
  username: ['alice', 'bob', 'carol'],
} as const;
type Field = keyof typeof POOLS;

const byDefault = (a: Posted, b: Posted) => b.time - a.time || cmp(a.name, b.name) || cmp(a.namespace, b.namespace) || cmp(a.id, b.id);
function cmp(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
const words = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

for (const engineUnderTest of ENGINES) {
  describe(`the backend's query vocabulary on the ${engineUnderTest.name} archive`, function () {
    this.timeout(180_000);
    let srv: TestServer;
    let close: () => Promise<void>;
    let admin: string;
    const posted: Posted[] = [];
    const now = Date.now();

    before(async () => {
      ({ srv, close } = await archiveServer(engineUnderTest));
      admin = await token('system_admin', '', 'backend');
      const random = seededRandom(15);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      for (let batch = 0; batch < 4; batch++) {
        const events = Array.from({ length: 100 }, (_, i) => {
          const e: Record<string, unknown> = { name: `ev-${batch}-${i}-${Math.floor(random() * 5)}` };
          for (const field of Object.keys(POOLS) as Field[]) e[field] = pick(POOLS[field]);
          e.namespace = `org-${String(e.org_id)}`;
          e.message = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(WORDS)).join(' ') + ` #${i}`;
          // Whole seconds over 10 days: ties in time are frequent, so the tie-breaks are tested too.
          e.event_time = new Date(Math.floor((now - random() * 10 * 86_400_000) / 1000) * 1000 - (i % 3) * 1000).toISOString();
          return e;
        });
        const res = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events });
        expect(res.status, res.text).to.equal(201);
        (res.body.ids as string[]).forEach((id, i) => {
          const e = events[i] as Record<string, string>;
          posted.push({ ...(e as unknown as Posted), id, time: Date.parse(e.event_time as string) });
        });
      }
    });
    after(async () => close?.());

    it('answers 60 random queries of every parameter exactly like a brute-force reference, page by page, for two scopes', async () => {
      const random = seededRandom(99);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      const scopes: [string, string, (p: Posted) => boolean][] = [
        ['system admin', admin, () => true],
        ['org admin of a', await token('org_admin', 'a'), (p) => p.org_id === 'a'],
      ];
      for (let q = 0; q < 60; q++) {
        const params = new URLSearchParams();
        const tests: ((p: Posted) => boolean)[] = [];
        const fields = (Object.keys(POOLS) as Field[]).filter(() => random() < 0.3);
        for (const field of fields) {
          const values = [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(POOLS[field])))];
          if (field === 'component') {
            // Substrings, case-insensitive.
            const parts = values.map((v) => v.slice(1, 6).toUpperCase());
            for (const part of parts) params.append('component', part);
            tests.push((p) => parts.some((part) => p.component.toLowerCase().includes(part.toLowerCase())));
            continue;
          }
          for (const v of values) params.append(field, field === 'type' ? v.toLowerCase() : v);
          tests.push((p) => (values as readonly string[]).includes(p[field]));
        }
        if (random() < 0.3) {
          const query = [...new Set([pick(WORDS), ...(random() < 0.5 ? [pick(WORDS)] : [])])];
          params.set('search', query.join(' ').toUpperCase());
          tests.push((p) => query.every((w) => words(p.message).includes(w.toLowerCase())));
        }
        let order = byDefault;
        if (random() < 0.6) {
          const by = pick(['last_timestamp', 'first_timestamp', 'count', 'type', 'reason'] as const);
          const dir = pick(['asc', 'desc'] as const);
          params.set('sort_by', by);
          params.set('sort_order', dir);
          const key = (p: Posted) => (by === 'type' ? p.type : by === 'reason' ? p.reason : by === 'count' ? 1 : p.time);
          if (!(by === 'last_timestamp' && dir === 'desc')) order = (a, b) => (dir === 'asc' ? 1 : -1) * cmp(key(a), key(b)) || cmp(a.id, b.id);
        }
        const pageSize = pick([7, 25, 200]);
        for (const [who, bearer, inScope] of scopes) {
          const want = posted.filter((p) => inScope(p) && tests.every((t) => t(p))).sort(order).map((p) => p.id);
          const got: string[] = [];
          let totalPages = 1;
          for (let page = 1; page <= totalPages; page++) {
            const res = await send(srv, 'GET', `/api/v1/events?${params.toString()}&page_size=${pageSize}&page=${page}`, bearer);
            expect(res.status, `${who} ${params.toString()}: ${res.text}`).to.equal(200);
            const body = res.body as { events: { id: string }[]; total_count: number; total_pages: number };
            expect(body.total_count, `${who} ${params.toString()}`).to.equal(want.length);
            expect(body.total_pages).to.equal(Math.ceil(want.length / pageSize));
            totalPages = body.total_pages;
            got.push(...body.events.map((e) => e.id));
          }
          expect(got, `${who} ${params.toString()}`).to.deep.equal(want);
          // Export and stats select with the same vocabulary (they have no order of their own).
          const filters = new URLSearchParams(params);
          filters.delete('sort_by');
          filters.delete('sort_order');
          const matching = posted.filter((p) => inScope(p) && tests.every((t) => t(p)));
          const exported = await send(srv, 'GET', `/api/v1/events/export?${filters.toString()}`, bearer);
          expect(exported.status, `export ${who} ${filters.toString()}: ${exported.text}`).to.equal(200);
          const lines = exported.text.split('\n').filter((l) => l !== '');
          expect(lines.map((l) => (JSON.parse(l) as { id: string }).id), `export ${who} ${filters.toString()}`).to.deep.equal(
            [...matching].sort(byDefault).map((p) => p.id),
          );
          const window = `since=${new Date(now - 11 * 86_400_000).toISOString()}&until=${new Date(now + 60_000).toISOString()}`;
          const stats = await send(srv, 'GET', `/api/v1/events/stats?${filters.toString()}&bucket=1d&group_by=category&${window}`, bearer);
          expect(stats.status, `stats ${who} ${filters.toString()}: ${stats.text}`).to.equal(200);
          expect(stats.body.total, `stats ${who} ${filters.toString()}`).to.equal(matching.length);
          const byCategory = new Map<string, number>();
          for (const p of matching) byCategory.set(p.category, (byCategory.get(p.category) ?? 0) + 1);
          const top = stats.body.top as { key: string; count: number }[];
          expect(Object.fromEntries(top.map((t) => [t.key, t.count]))).to.deep.equal(Object.fromEntries(byCategory));
        }
      }
    });

    it('finds words anywhere in messages by full-text search, whatever their case', async () => {
      const res = await send(srv, 'GET', '/api/v1/events?search=migration&limit=200', admin);
      const want = posted.filter((p) => words(p.message).includes('migration')).length;
      expect(want).to.be.greaterThan(0);
      expect((res.body as { total_count: number }).total_count).to.equal(want);
      // FTS syntax in the text is only words.
      const hostile = await send(srv, 'GET', `/api/v1/events?search=${encodeURIComponent('"power" OR NEAR(disk* -')}`, admin);
      expect(hostile.status).to.equal(200);
      expect((hostile.body as { total_count: number }).total_count).to.equal(posted.filter((p) => ['power', 'or', 'near', 'disk'].every((w) => words(p.message).includes(w))).length);
    });

    it('refuses bad vocabulary with 400 (unknown sort_by, cursor with another order, wordless search) and foreign namespaces with 403', async () => {
      for (const query of ['sort_by=name', 'sort_order=up', 'category=gossip', 'type=fatal', 'search=%20%21%21', 'sort_by=count&cursor=abc', 'include_deleted=yes', 'page_size=0']) {
        const res = await send(srv, 'GET', `/api/v1/events?${query}`, admin);
        expect(res.status, `${query}: ${res.text}`).to.equal(400);
      }
      for (const route of ['export', 'stats']) {
        for (const query of ['sort_by=count', 'sort_order=asc', 'page_size=5', 'category=gossip', 'search=%21%21', 'include_deleted=yes']) {
          const res = await send(srv, 'GET', `/api/v1/events/${route}?${query}`, admin);
          expect(res.status, `${route}?${query}: ${res.text}`).to.equal(400);
        }
      }
      const orgA = await token('org_admin', 'a');
      for (const route of ['', '/export', '/stats']) {
        expect((await send(srv, 'GET', `/api/v1/events${route}?include_deleted=true`, orgA)).status, `${route} include_deleted`).to.equal(403);
        expect((await send(srv, 'GET', `/api/v1/events${route}?namespace=org-a&namespace=org-c`, orgA)).status, `${route} namespaces`).to.equal(403);
      }
      expect((await send(srv, 'GET', '/api/v1/events?namespace=org-a&namespace=org-c', orgA)).status).to.equal(403);
      expect((await send(srv, 'GET', '/api/v1/events?namespace=org-a&namespace=org-a', orgA)).status).to.equal(200);
    });
  });
}

describe('the backend vocabulary without the archive', () => {
  it('answers the archive-only parameters with 400', async () => {
    const srv = await startServer();
    try {
      const admin = await token('system_admin');
      for (const query of ['category=vm', 'org_id=a', 'search=x', 'sort_by=count', 'type=normal&type=warning', 'include_deleted=true']) {
        const res = await send(srv, 'GET', `/api/v1/events?${query}`, admin);
        expect(res.status, query).to.equal(400);
        expect(res.body.error).to.include('archive');
      }
      const paged = await send(srv, 'GET', '/api/v1/events?page_size=3', admin);
      expect(paged.status).to.equal(200);
      expect(paged.body.page_size).to.equal(3);
    } finally {
      await srv.close();
    }
  });
});
