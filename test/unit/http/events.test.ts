// The HTTP contract of the events routes (DESIGN.md section 5), over a real loopback socket:
// every parameter and default, clamping, paging, the trailing-slash route, /recent, and a table
// of malformed requests that must be 400 (never 500).
import { expect } from 'chai';
import { EventStore } from '../../../src/events/store.js';
import { eventsResponseSchema, recentResponseSchema } from '../../../src/http/schemas.js';
import { rawEvent, rawRequest, schemaProblems, startServer, token, type EventsBody, type TestServer } from './support.js';

describe('HTTP events API', () => {
  let srv: TestServer;
  let admin: string;

  before(async () => {
    const store = new EventStore();
    // 260 plain events in ns-a (timestamps 0..259 s, two share each second from 200 on).
    for (let i = 0; i < 260; i++) {
      const at = i < 200 ? i : 200 + Math.floor((i - 200) / 2);
      store.upsert(rawEvent({ name: `pod-${String(i).padStart(3, '0')}.evt`, namespace: 'ns-a', uid: `a-${i}`, at }));
    }
    store.upsert(
      rawEvent({
        name: 'dev.1',
        namespace: 'org-acme',
        uid: 'vdc-warning',
        type: 'Warning',
        reason: 'QuotaExceeded',
        message: 'VDC dev uses 10 of 10 cpu',
        component: 'ovim-controller',
        kind: 'VirtualDataCenter',
        objectName: 'dev',
        first: '2025-01-01T01:00:00Z',
        last: '2025-01-01T02:00:00Z',
        count: 3,
        annotations: { 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev', 'ovim.io/actor': 'alex' },
      }),
    );
    store.upsert(
      rawEvent({
        name: 'acme.1',
        namespace: 'default',
        uid: 'org-created',
        reason: 'OrganizationCreated',
        component: 'ovim-api',
        kind: 'Organization',
        objectName: 'acme',
        last: '2025-01-01T01:30:00Z',
        annotations: { 'ovim.io/organization': 'acme' },
      }),
    );
    srv = await startServer({ store });
    admin = await token('system_admin');
  });

  after(async () => {
    await srv.close();
  });

  const events = async (query: string) => {
    const res = await srv.get(`/api/v1/events${query}`, admin);
    expect(res.status, res.text).to.equal(200);
    return res.body as EventsBody;
  };

  it('defaults: page 1, limit 50, newest first, total_count of all matches', async () => {
    const body = await events('');
    expect(body.page).to.equal(1);
    expect(body.page_size).to.equal(50);
    expect(body.events).to.have.length(50);
    expect(body.total_count).to.equal(262);
    expect(body.events[0]?.id).to.equal('vdc-warning');
    expect(body.events[1]?.id).to.equal('org-created');
    const stamps = body.events.map((e) => Date.parse(e.last_timestamp));
    for (let i = 1; i < stamps.length; i++) expect(stamps[i - 1]).to.be.at.least(stamps[i] as number);
  });

  it('returns every field of an event item', async () => {
    const body = await events('?reason=QuotaExceeded');
    expect(body.events).to.deep.equal([
      {
        id: 'vdc-warning',
        name: 'dev.1',
        namespace: 'org-acme',
        type: 'Warning',
        reason: 'QuotaExceeded',
        message: 'VDC dev uses 10 of 10 cpu',
        component: 'ovim-controller',
        involved_object_kind: 'VirtualDataCenter',
        involved_object_name: 'dev',
        first_timestamp: '2025-01-01T01:00:00Z',
        last_timestamp: '2025-01-01T02:00:00Z',
        count: 3,
        category: 'quota',
        organization: 'acme',
        vdc: 'dev',
        actor: 'alex',
        actor_verified: false,
      },
    ]);
  });

  it('clamps limit to 200 and reports the page size in effect', async () => {
    const body = await events('?limit=100000');
    expect(body.page_size).to.equal(200);
    expect(body.events).to.have.length(200);
    expect((await events(`?limit=${'9'.repeat(400)}`)).page_size).to.equal(200);
    expect((await events('?limit=200')).events).to.have.length(200);
    expect((await events('?limit=7')).events).to.have.length(7);
  });

  it('pages are stable 1-based slices; ties are ordered by name; past the end is []', async () => {
    const all = (await events('?namespace=ns-a&limit=200')).events.concat((await events('?namespace=ns-a&limit=200&page=2')).events);
    expect(all).to.have.length(260);
    const pieced = [];
    for (let page = 1; page <= 11; page++) pieced.push(...(await events(`?namespace=ns-a&limit=25&page=${page}`)).events);
    expect(pieced.map((e) => e.id)).to.deep.equal(all.map((e) => e.id));
    // The newest second holds pod-258 and pod-259: name ascending.
    expect(all.slice(0, 2).map((e) => e.name)).to.deep.equal(['pod-258.evt', 'pod-259.evt']);
    const beyond = await events('?namespace=ns-a&limit=50&page=99');
    expect(beyond.events).to.deep.equal([]);
    expect(beyond.total_count).to.equal(260);
    expect(beyond.page).to.equal(99);
  });

  it('empty result: events is [] (not null) and total_count 0', async () => {
    const res = await srv.get('/api/v1/events?reason=NoSuchReason', admin);
    expect(res.status).to.equal(200);
    expect(res.text).to.contain('"events":[]');
    expect(res.body).to.deep.equal({ events: [], total_count: 0, page: 1, page_size: 50 });
  });

  describe('filters', () => {
    const cases: [string, string, string[] | number][] = [
      ['type (case-insensitive)', '?type=warning', ['vdc-warning']],
      ['type Normal', '?type=NORMAL&limit=1', 261],
      ['component substring, case-insensitive', '?component=API', ['org-created']],
      ['namespace', '?namespace=org-acme', ['vdc-warning']],
      ['reason', '?reason=OrganizationCreated', ['org-created']],
      ['kind', '?kind=Organization', ['org-created']],
      ['name (involved object)', '?name=dev', ['vdc-warning']],
      ['organization', '?organization=acme', ['vdc-warning', 'org-created']],
      ['vdc', '?vdc=dev', ['vdc-warning']],
      ['since (RFC 3339, inclusive)', '?since=2025-01-01T01:30:00Z', ['vdc-warning', 'org-created']],
      ['since with an offset', '?since=2025-01-01T03:00:00%2B02:00', ['vdc-warning', 'org-created']],
      ['since with a fraction', '?since=2025-01-01T01:30:00.001Z', ['vdc-warning']],
      ['combined filters', '?type=Warning&organization=acme&kind=VirtualDataCenter&component=controller', ['vdc-warning']],
      ['filters that exclude each other', '?type=Warning&namespace=ns-a', []],
      ['empty filter values are ignored', '?type=&namespace=&limit=1', 262],
      ['unknown parameters are ignored', '?colour=blue&limit=1', 262],
    ];
    for (const [what, query, expected] of cases) {
      it(what, async () => {
        const body = await events(query);
        if (typeof expected === 'number') expect(body.total_count).to.equal(expected);
        else {
          expect(body.events.map((e) => e.id)).to.deep.equal(expected);
          expect(body.total_count).to.equal(expected.length);
        }
      });
    }
  });

  it('answers match the documented response schemas exactly', async () => {
    for (const query of ['', '?reason=QuotaExceeded', '?organization=acme', '?reason=None', '?limit=200&page=2']) {
      const res = await srv.get(`/api/v1/events${query}`, admin);
      expect(res.headers.get('content-type')).to.match(/^application\/json/);
      expect(schemaProblems(res.body, eventsResponseSchema), query).to.deep.equal([]);
    }
    const recent = await srv.get('/api/v1/events/recent?limit=50', admin);
    expect(schemaProblems(recent.body, recentResponseSchema)).to.deep.equal([]);
    expect(schemaProblems({ events: [{ id: 1 }] }, eventsResponseSchema), 'the checker finds problems').to.not.deep.equal([]);
  });

  it('reflects updates between requests (nothing stale is served)', async () => {
    const event = (count: number, message: string) =>
      rawEvent({ name: 'bumped.1', namespace: 'ns-bump', uid: 'bump', at: 5000 + count, count, message });
    srv.store.upsert(event(1, 'first'));
    const before = await events('?namespace=ns-bump');
    expect(before.events[0]).to.include({ count: 1, message: 'first' });
    srv.store.upsert(event(2, 'second'));
    const after = await events('?namespace=ns-bump');
    expect(after.events[0]).to.include({ count: 2, message: 'second', id: 'bump' });
    expect(after.total_count).to.equal(1);
    srv.store.remove(event(2, 'second'));
    expect((await events('?namespace=ns-bump')).events).to.deep.equal([]);
  });

  it('serves the trailing-slash route the same way', async () => {
    const a = await srv.get('/api/v1/events?limit=5&type=Normal', admin);
    const b = await srv.get('/api/v1/events/?limit=5&type=Normal', admin);
    expect(b.status).to.equal(200);
    expect(b.body).to.deep.equal(a.body);
  });

  describe('/api/v1/events/recent', () => {
    it('defaults to 10, newest first, with count', async () => {
      const res = await srv.get('/api/v1/events/recent', admin);
      expect(res.status).to.equal(200);
      const body = res.body as { events: EventsBody['events']; count: number };
      expect(body.count).to.equal(10);
      expect(body.events).to.have.length(10);
      expect(body.events.slice(0, 2).map((e) => e.id)).to.deep.equal(['vdc-warning', 'org-created']);
      const stamps = body.events.map((e) => Date.parse(e.last_timestamp));
      for (let i = 1; i < stamps.length; i++) expect(stamps[i - 1]).to.be.at.least(stamps[i] as number);
    });

    it('clamps limit to 50', async () => {
      const body = (await srv.get('/api/v1/events/recent?limit=500', admin)).body as { count: number };
      expect(body.count).to.equal(50);
      expect(((await srv.get('/api/v1/events/recent?limit=3', admin)).body as { count: number }).count).to.equal(3);
    });
  });

  describe('malformed requests → 400 with a JSON error (never 500)', () => {
    const bad: [string, RegExp][] = [
      ['/api/v1/events?limit=abc', /"limit".*positive integer/],
      ['/api/v1/events?limit=0', /"limit".*>= 1/],
      ['/api/v1/events?limit=-5', /"limit"/],
      ['/api/v1/events?limit=1.5', /"limit"/],
      ['/api/v1/events?limit=1e2', /"limit"/],
      ['/api/v1/events?limit=0x10', /"limit"/],
      ['/api/v1/events?limit=%205', /"limit"/],
      ['/api/v1/events?limit=', /"limit"/],
      ['/api/v1/events?limit=1&limit=2', /"limit"/],
      [`/api/v1/events?page=${'9'.repeat(400)}`, /"page"/],
      ['/api/v1/events?page=9007199254740992', /"page".*<= 9007199254740991/],
      ['/api/v1/events?page=0', /"page".*>= 1/],
      ['/api/v1/events?page=-1', /"page"/],
      ['/api/v1/events?page=two', /"page"/],
      ['/api/v1/events?page=1.0', /"page"/],
      ['/api/v1/events?type=Fatal', /"type"/],
      ['/api/v1/events?type=Error', /"type".*archive/],
      ['/api/v1/events?type=Normal&type=Warning', /"type"/],
      ['/api/v1/events?since=yesterday', /"since".*RFC 3339/],
      ['/api/v1/events?since=2025-01-01', /"since".*RFC 3339/],
      ['/api/v1/events?since=2025-01-01T00:00:00', /"since".*RFC 3339/],
      ['/api/v1/events?since=2025-13-01T00:00:00Z', /"since"/],
      ['/api/v1/events?since=2025-01-01T23:59:60Z', /"since".*RFC 3339/],
      ['/api/v1/events?namespace=a&namespace=b', /"namespace"/],
      [`/api/v1/events?reason=${'r'.repeat(300)}`, /"reason"/],
      ['/api/v1/events/?page=abc', /"page"/],
      ['/api/v1/events/recent?limit=0', /"limit"/],
      ['/api/v1/events/recent?limit=ten', /"limit"/],
    ];
    for (const [path, message] of bad) {
      it(`${decodeURIComponent(path).slice(0, 80)} → 400`, async () => {
        const res = await srv.get(path, admin);
        expect(res.status, res.text).to.equal(400);
        expect(res.headers.get('content-type')).to.match(/^application\/json/);
        expect(res.body).to.have.all.keys('error');
        expect((res.body as { error: string }).error).to.match(message);
      });
    }

    it('odd but harmless input is not an error', async () => {
      for (const path of [
        '/api/v1/events?namespace=%ZZ',
        '/api/v1/events?reason=%E2%9C%93',
        '/api/v1/events?name=%00',
        '/api/v1/events?limit=007',
        '/api/v1/events?component=%25',
      ]) {
        const res = await srv.get(path, admin);
        expect(res.status, `${path}: ${res.text}`).to.equal(200);
      }
    });
  });

  it('random query strings and odd paths never produce a 500', async function () {
    this.timeout(30_000);
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const keys = ['limit', 'page', 'type', 'component', 'namespace', 'reason', 'kind', 'name', 'organization', 'vdc', 'since', 'x'];
    const values = ['', '0', '1', '-1', '1.5', '99999999999999999999', 'abc', 'Warning', 'normal', '%', '%25', '%00', '%ZZ', '%E2%82', '[]', '{}', 'a'.repeat(300), '2025-01-01T00:00:00Z', '2025-01-01T00:00:00.1234567890Z', 'null', 'true', '__proto__', 'constructor'];
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)] as T;
    const paths = ['/api/v1/events', '/api/v1/events/', '/api/v1/events/recent'];
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(rnd() * 4);
      const query = Array.from({ length: n }, () => `${pick([...keys, '__proto__', 'limit[]', 'page[0]'])}=${pick(values)}`).join('&');
      const path = `${pick(paths)}?${query}`;
      const res = await srv.get(path, admin);
      expect([200, 400], `${path}: ${res.status} ${res.text.slice(0, 200)}`).to.include(res.status);
      expect(res.body, path).to.satisfy((b: unknown) => typeof b === 'object' && b !== null && ('events' in b || 'error' in b));
    }
    for (const path of ['/api/v1/events%', '/api/v1/%E0%A4%A', '/api/v1/events?%=%', '/api/v1/events?&&&', '/api/v1//events']) {
      const res = await srv.get(path, admin);
      expect(res.status, `${path}: ${res.text}`).to.be.oneOf([200, 400, 404]);
      expect(res.body, path).to.have.property(res.status === 200 ? 'events' : 'error');
    }
    // Dot segments reach the server only as raw request lines (fetch normalises them away).
    for (const path of ['/%2e%2e/%2e%2e/etc/passwd', '/api/v1/../../etc/passwd', '/api/v1/events/../../../etc/passwd', '/api/v1/events/%2e%2e/recent']) {
      const res = await rawRequest(srv.url, `GET ${path} HTTP/1.1`, { authorization: `Bearer ${admin}` });
      expect(res.status, `${path}: ${res.body}`).to.be.oneOf([400, 404]);
      expect(JSON.parse(res.body), path).to.have.property('error');
      expect(res.body, path).to.not.contain('root:');
    }
  });

  it('unknown routes are 404 with a JSON error', async () => {
    const res = await srv.get('/api/v1/nothing', admin);
    expect(res.status).to.equal(404);
    expect(res.body).to.deep.equal({ error: 'not found' });
  });
});
