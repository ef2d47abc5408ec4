// GET /api/v1/events/stream: the scope matrix equals the list's (system admin, organization
// admins of `a` and `a-b`, organization users), resume with Last-Event-ID loses nothing, a client
// that never reads is dropped with its queued bytes bounded, 429 past each cap, a token in the
// URL is refused, and the stream outlives an idle socket timeout thanks to its heartbeats.
import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { EventStore } from '../../../src/events/store.js';
import { signToken } from '../../../src/http/auth.js';
import { categoryOf } from '../../../src/history/categories.js';
import { queryCarriesToken } from '../../../src/http/stream-routes.js';
import { waitFor } from '../../support/wait.js';
import { SECRET, rawEvent, startServer, token, type EventSpec, type EventsBody, type TestServer } from './support.js';

/** Waits (polling every 10 ms) until `condition` holds. */
const until = (condition: () => boolean, what: string, timeoutMs: number) =>
  waitFor(what, async () => condition() || undefined, { timeoutMs, intervalMs: 10 });

interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

/** A stream read with a streaming fetch (the way the panel reads it). */
class SseClient {
  readonly messages: SseMessage[] = [];
  comments = 0;
  status = 0;
  ended = false;
  private readonly abort = new AbortController();
  private lastId: string | undefined;

  static async open(url: string, tok: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    const res = await fetch(url, { headers: { authorization: `Bearer ${tok}`, ...headers }, signal: client.abort.signal });
    client.status = res.status;
    if (res.status !== 200 || !res.body) {
      await res.text();
      client.ended = true;
      return client;
    }
    void client.pump(res.body);
    return client;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const msg: SseMessage = { event: 'message', id: undefined, data: '' };
          let isComment = true;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            isComment = false;
            const [field, ...rest] = line.split(': ');
            const value = rest.join(': ');
            if (field === 'event') msg.event = value;
            else if (field === 'id') msg.id = value;
            else if (field === 'data') msg.data = value;
          }
          if (isComment) this.comments++;
          else if (msg.data) {
            if (msg.id !== undefined) this.lastId = msg.id;
            this.messages.push(msg);
          }
        }
      }
    } catch {
      // aborted
    }
    this.ended = true;
  }

  get events(): { id: string; name: string; namespace: string; [k: string]: unknown }[] {
    return this.messages.filter((m) => m.event === 'message').map((m) => JSON.parse(m.data));
  }

  get lastEventId(): string | undefined {
    return this.lastId;
  }

  has(event: string): boolean {
    return this.messages.some((m) => m.event === event);
  }

  close(): void {
    this.abort.abort();
  }
}

const principals = {
  sysadmin: { role: 'system_admin', org: '', username: 'root' },
  adminA: { role: 'org_admin', org: 'a', username: 'boss-a' },
  adminAB: { role: 'org_admin', org: 'a-b', username: 'boss-ab' },
  userA: { role: 'org_user', org: 'a', username: 'u1' },
  memberA: { role: 'org_member', org: 'a', username: 'u2' },
  userAB: { role: 'org_user', org: 'a-b', username: 'u1' },
} as const;
type Who = keyof typeof principals;

/** The actor and owner as the admission webhook stamps them (only verified names count for org users). */
function verified(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!annotations) return undefined;
  const out = { ...annotations };
  if (out['ovim.io/actor']) out['ovim.io/actor-verified'] = 'true';
  if (out['ovim.io/owner']) out['ovim.io/owner-verified'] = 'true';
  return out;
}

const orgObject = (name: string) => ({ namespace: 'default', kind: 'Organization', objectName: name });
let at = 0;
const fixtures: EventSpec[] = ([
  { name: 'a.created', ...orgObject('a'), reason: 'OrganizationCreated', annotations: { 'ovim.io/actor': 'u1' } },
  { name: 'ab.created', ...orgObject('a-b'), reason: 'OrganizationCreated', annotations: { 'ovim.io/actor': 'u1' } },
  { name: 'dev.created', namespace: 'org-a', kind: 'VirtualDataCenter', objectName: 'dev', reason: 'VDCCreated', annotations: { 'ovim.io/actor': 'u1', 'ovim.io/vdc': 'dev' } },
  { name: 'dev.quota', namespace: 'org-a', kind: 'VirtualDataCenter', objectName: 'dev', type: 'Warning', reason: 'QuotaExceeded', annotations: { 'ovim.io/owner': 'u2' } },
  { name: 'vm1.started', namespace: 'vdc-a-dev', kind: 'VirtualMachine', objectName: 'vm1', reason: 'VMStarted', annotations: { 'ovim.io/actor': 'u2', 'ovim.io/owner': 'u1' } },
  { name: 'pod.pulled', namespace: 'vdc-a-dev', kind: 'Pod', objectName: 'launcher', reason: 'Pulled', component: 'kubelet' },
  // a-b's VDC namespace starts with "vdc-a-" too: only its owner label decides.
  { name: 'x.started', namespace: 'vdc-a-b-x', kind: 'VirtualMachine', objectName: 'vm9', reason: 'VMStarted', annotations: { 'ovim.io/organization': 'a', 'ovim.io/actor': 'u1' } },
  { name: 'ab.vdc', namespace: 'org-a-b', kind: 'VirtualDataCenter', objectName: 'x', type: 'Warning', reason: 'QuotaExceeded', annotations: { 'ovim.io/actor': 'u1' } },
  { name: 'ghost.started', namespace: 'vdc-a-ghost', kind: 'VirtualMachine', objectName: 'vm7', reason: 'VMStarted', annotations: { 'ovim.io/actor': 'u1' } },
  { name: 'dns.failed', namespace: 'kube-system', kind: 'Pod', objectName: 'coredns', type: 'Warning', reason: 'BackOff', annotations: { 'ovim.io/actor': 'u1' } },
  { name: 'orgish', namespace: 'org-ax', kind: 'Pod', objectName: 'p', annotations: { 'ovim.io/actor': 'u1' } },
] as EventSpec[]).map((f) => ({ ...f, annotations: verified(f.annotations), at: ++at }));

/** Who may see each fixture besides the system admin, written out by hand. */
const expected: Record<string, Who[]> = {
  'a.created': ['adminA', 'userA'],
  'ab.created': ['adminAB', 'userAB'],
  'dev.created': ['adminA', 'userA'],
  'dev.quota': ['adminA', 'memberA'],
  'vm1.started': ['adminA', 'userA', 'memberA'],
  'pod.pulled': ['adminA'],
  'x.started': ['adminAB', 'userAB'],
  'ab.vdc': ['adminAB', 'userAB'],
  'ghost.started': [],
  'dns.failed': [],
  orgish: [],
};

function newStore(): EventStore {
  const store = new EventStore();
  for (const [ns, org] of Object.entries({ 'org-a': 'a', 'vdc-a-dev': 'a', 'org-a-b': 'a-b', 'vdc-a-b-x': 'a-b' })) {
    store.namespaceOwners.set(ns, org);
  }
  return store;
}

/** A last event only `who` (and the system admin) can see: once it arrives, all before it has. */
function sentinel(who: Who): EventSpec {
  // It passes every filter of the matrix: Warning, VMStarted, a VirtualMachine of organization a.
  const p = principals[who];
  const namespace = p.role === 'system_admin' ? 'org-a' : `org-${p.org}`;
  const annotations = { 'ovim.io/actor': p.username, 'ovim.io/actor-verified': 'true', 'ovim.io/organization': 'a' };
  return { name: `sentinel-${who}`, namespace, type: 'Warning', reason: 'VMStarted', kind: 'VirtualMachine', objectName: `s-${who}`, annotations, at: 1000 };
}

describe('events stream (SSE)', function () {
  this.timeout(30_000);
  let server: TestServer;
  const tokens = {} as Record<Who, string>;
  const streamUrl = (query = '') => `${server.url}/api/v1/events/stream${query}`;

  before(async () => {
    for (const [who, p] of Object.entries(principals)) tokens[who as Who] = await token(p.role, p.org, p.username);
  });

  afterEach(async () => {
    if (!server) return;
    const closing = server.close();
    // The test's keep-alive sockets would hold close() for the client's 4 s idle timeout.
    server.server.app.server.closeAllConnections();
    await closing;
  });

  async function listNames(who: Who, query: string): Promise<string[]> {
    const res = await server.get(`/api/v1/events?limit=200${query}`, tokens[who]);
    expect(res.status).to.equal(200);
    return (res.body as EventsBody).events.map((e) => e.name).sort();
  }

  for (const query of ['', '&type=Warning', '&reason=VMStarted', '&namespace=org-a', '&kind=VirtualMachine&organization=a']) {
    it(`live deliveries and the connect snapshot equal the list for every principal (filters: ${query || 'none'})`, async () => {
      server = await startServer({ store: newStore() });
      const whos = Object.keys(principals) as Who[];
      const live = new Map<Who, SseClient>();
      for (const who of whos) {
        const nsForbidden = query.includes('namespace=org-a') && principals[who].org === 'a-b';
        const client = await SseClient.open(streamUrl(`?${query.slice(1)}`), tokens[who]);
        if (nsForbidden) {
          expect(client.status, who).to.equal(403);
          continue;
        }
        expect(client.status, who).to.equal(200);
        await until(() => client.has('ready'), `${who} ready`, 5000);
        live.set(who, client);
      }
      for (const f of fixtures) server.store.upsert(rawEvent(f));
      for (const who of live.keys()) server.store.upsert(rawEvent(sentinel(who)));
      for (const [who, client] of live) {
        await until(() => client.events.some((e) => e.name === `sentinel-${who}`), `${who} sentinel`, 5000);
        const streamed = client.events.map((e) => e.name).filter((n) => !n.startsWith('sentinel-')).sort();
        const listed = (await listNames(who, query)).filter((n) => !n.startsWith('sentinel-'));
        expect(streamed, `${who} live`).to.deep.equal(listed);
        if (query === '') {
          const byHand = fixtures.map((f) => f.name).filter((n) => who === 'sysadmin' || (expected[n] ?? []).includes(who)).sort();
          expect(streamed, `${who} by hand`).to.deep.equal(byHand);
        }
        client.close();
        // On connect: the same events, newest first, as the list's first page.
        const fresh = await SseClient.open(streamUrl(`?limit=200${query}`), tokens[who]);
        await until(() => fresh.has('ready'), `${who} snapshot`, 5000);
        const list = await server.get(`/api/v1/events?limit=200${query}`, tokens[who]);
        expect(fresh.events.map((e) => e.id), `${who} snapshot`).to.deep.equal((list.body as EventsBody).events.map((e) => e.id));
        fresh.close();
      }
    });
  }

  it('takes repeated filters (OR within a field) and category, live and on connect, exactly like a reference; refuses archive-only parameters', async () => {
    server = await startServer({ store: newStore() });
    const query = 'type=warning&type=normal&reason=VMStarted&reason=QuotaExceeded&reason=Pulled&namespace=org-a&namespace=vdc-a-dev&namespace=org-a-b&category=vm&category=quota';
    const want = (who: Who) =>
      fixtures
        .filter((f) => ['VMStarted', 'QuotaExceeded', 'Pulled'].includes(f.reason ?? 'Started'))
        .filter((f) => ['org-a', 'vdc-a-dev', 'org-a-b'].includes(f.namespace))
        .filter((f) => ['vm', 'quota'].includes(categoryOf(f.reason ?? 'Started', f.kind ?? 'Pod')))
        .map((f) => f.name)
        .filter((n) => who === 'sysadmin' || (expected[n] ?? []).includes(who))
        .sort();
    expect(want('sysadmin')).to.deep.equal(['ab.vdc', 'dev.quota', 'vm1.started']);
    const live = await SseClient.open(streamUrl(`?${query}`), tokens.sysadmin);
    expect(live.status).to.equal(200);
    await until(() => live.has('ready'), 'ready', 5000);
    for (const f of fixtures) server.store.upsert(rawEvent(f));
    server.store.upsert(rawEvent(sentinel('sysadmin')));
    await until(() => live.events.some((e) => e.name === 'sentinel-sysadmin'), 'sentinel', 5000);
    expect(live.events.map((e) => e.name).filter((n) => !n.startsWith('sentinel-')).sort()).to.deep.equal(want('sysadmin'));
    live.close();
    for (const who of ['sysadmin', 'adminAB'] as const) {
      const fresh = await SseClient.open(streamUrl(`?limit=200&${who === 'adminAB' ? query.replace('namespace=org-a&namespace=vdc-a-dev&', '') : query}`), tokens[who]);
      await until(() => fresh.has('ready'), `${who} snapshot`, 5000);
      const names = fresh.events.map((e) => e.name).filter((n) => !n.startsWith('sentinel-')).sort();
      expect(names, who).to.deep.equal(want(who));
      fresh.close();
    }
    // A foreign namespace among several → 403; what only archived rows can answer → 400.
    expect((await server.get(`/api/v1/events/stream?${query}`, tokens.adminAB)).status).to.equal(403);
    for (const q of ['org_id=a', 'user_id=u1', 'username=alice', 'search=quota', 'sort_by=count', 'include_deleted=true', 'page_size=5', 'category=gossip']) {
      const res = await server.get(`/api/v1/events/stream?${q}`, tokens.sysadmin);
      expect(res.status, q).to.equal(400);
    }
  });

  it('resumes with Last-Event-ID without losing or repeating an event, and says so when it cannot', async () => {
    server = await startServer({ store: newStore(), stream: { journalSize: 50 } });
    const first = await SseClient.open(streamUrl(), tokens.adminA);
    await until(() => first.has('ready'), 'ready', 5000);
    for (let i = 0; i < 3; i++) server.store.upsert(rawEvent({ name: `e${i}`, namespace: 'org-a', at: 10 + i }));
    await until(() => first.events.length === 3, 'three events', 5000);
    const resumeAt = first.lastEventId as string;
    first.close();
    await until(() => server.server.stream.stats().open === 0, 'stream closed', 5000);
    // While away: 5 new events, one update of e1, and noise outside the scope.
    for (let i = 3; i < 8; i++) server.store.upsert(rawEvent({ name: `e${i}`, namespace: 'org-a', at: 10 + i }));
    server.store.upsert(rawEvent({ name: 'foreign', namespace: 'org-a-b', at: 30 }));
    const second = await SseClient.open(streamUrl(), tokens.adminA, { 'last-event-id': resumeAt });
    await until(() => second.has('ready'), 'resumed', 5000);
    expect(second.events.map((e) => e.name)).to.deep.equal(['e3', 'e4', 'e5', 'e6', 'e7']);
    expect(second.has('reset')).to.equal(false);
    second.close();

    // Older than the journal (50 changes): a reset notice, then the newest events.
    for (let i = 0; i < 60; i++) server.store.upsert(rawEvent({ name: `f${i}`, namespace: 'org-a', at: 100 + i }));
    const third = await SseClient.open(streamUrl('?limit=5'), tokens.adminA, { 'last-event-id': resumeAt });
    await until(() => third.has('ready'), 'reset', 5000);
    expect(third.has('reset')).to.equal(true);
    expect(third.events.map((e) => e.name)).to.deep.equal(['f59', 'f58', 'f57', 'f56', 'f55']);
    third.close();
    const bogus = await SseClient.open(streamUrl('?limit=1'), tokens.adminA, { 'last-event-id': 'not-an-id' });
    await until(() => bogus.has('ready'), 'bogus id', 5000);
    expect(bogus.has('reset')).to.equal(true);
    bogus.close();
  });

  it('drops a client that never reads, with a final message, and its queued bytes stay under the bound', async () => {
    const bound = 64 * 1024;
    const store = new EventStore({ maxEvents: 200 });
    store.namespaceOwners.set('org-a', 'a');
    server = await startServer({ store, stream: { maxBufferedBytes: bound } });
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.sysadmin}\r\n\r\n`);
    socket.pause(); // never reads
    await until(() => server.server.stream.stats().open === 1, 'stream open', 5000);
    const big = 'x'.repeat(4000);
    // A reading client alongside must keep getting everything until then.
    const reader = await SseClient.open(streamUrl('?limit=1'), tokens.adminA);
    await until(() => reader.has('ready'), 'reader ready', 5000);
    let sent = 0;
    for (; sent < 50_000 && server.server.stream.stats().dropped === 0; sent++) {
      server.store.upsert(rawEvent({ name: `big${sent}`, namespace: 'kube-system', message: big, at: sent }));
      if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const stats = server.server.stream.stats();
    expect(stats.dropped, 'dropped').to.equal(1);
    expect(stats.peakBufferedBytes).to.be.at.most(bound);
    expect(stats.open, 'only the reader is left').to.equal(1);
    // The socket is cut: reading now drains what was queued, the final message, then the end.
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(received.length).to.be.lessThan(sent * 4100);
    if (received.includes('event: dropped')) expect(received).to.match(/client too slow/);
    const metrics = (await server.get('/metrics')).text;
    expect(metrics).to.match(/^ovim_event_streams_dropped_total 1$/m);
    expect(metrics).to.match(/^ovim_event_streams_open 1$/m);
    server.store.upsert(rawEvent({ name: 'after', namespace: 'org-a', at: 99_999 }));
    await until(() => reader.events.some((e) => e.name === 'after'), 'reader still served', 5000);
    reader.close();
  });

  it('answers 429 past 10 streams per token and past the total cap, and frees places on close', async () => {
    server = await startServer({ store: newStore(), stream: { maxStreams: 12 } });
    const open: SseClient[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await SseClient.open(streamUrl(), tokens.adminA);
      expect(c.status).to.equal(200);
      open.push(c);
    }
    const eleventh = await SseClient.open(streamUrl(), tokens.adminA);
    expect(eleventh.status).to.equal(429);
    const b1 = await SseClient.open(streamUrl(), tokens.adminAB);
    const b2 = await SseClient.open(streamUrl(), tokens.sysadmin);
    expect([b1.status, b2.status]).to.deep.equal([200, 200]);
    const over = await SseClient.open(streamUrl(), tokens.userA);
    expect(over.status).to.equal(429);
    const res = await server.get('/api/v1/events/stream', tokens.userA);
    expect(res.body).to.have.property('error').that.matches(/too many event streams/);
    open[0]?.close();
    await until(() => server.server.stream.stats().open === 11, 'a place freed', 5000);
    const again = await SseClient.open(streamUrl(), tokens.userA);
    expect(again.status).to.equal(200);
    for (const c of [...open, b1, b2, again]) c.close();
  });

  it('refuses a token in the query string, needs one in the header, and 403s a foreign namespace', async () => {
    server = await startServer({ store: newStore() });
    for (const q of [`?access_token=${tokens.sysadmin}`, `?token=abc`, `?namespace=${tokens.sysadmin}`, `?Authorization=Bearer%20${tokens.sysadmin}`]) {
      const res = await server.get(`/api/v1/events/stream${q}`, tokens.sysadmin);
      expect(res.status, q).to.equal(400);
      expect((res.body as { error: string }).error).to.match(/only in the Authorization header/);
      const bare = await server.get(`/api/v1/events/stream${q}`);
      expect(bare.status, q).to.equal(400);
    }
    expect((await server.get('/api/v1/events/stream')).status).to.equal(401);
    expect((await server.get('/api/v1/events/stream?namespace=org-a', tokens.adminAB)).status).to.equal(403);
    expect((await server.get('/api/v1/events/stream?until=2025-01-01T00:00:00Z', tokens.adminA)).status).to.equal(400);
    expect((await server.get('/api/v1/events/stream?limit=0', tokens.adminA)).status).to.equal(400);
    expect(queryCarriesToken({ reason: 'VMStarted', name: 'eyJ-not-a-jwt' })).to.equal(false);
  });

  it('ends a stream when its token expires, and lists the route in the OpenAPI document', async () => {
    server = await startServer({ store: newStore() });
    const shortLived = await signToken({ userId: '9', username: 'brief', role: 'system_admin' }, SECRET, { expiresInSeconds: 1 });
    const client = await SseClient.open(streamUrl(), shortLived);
    expect(client.status).to.equal(200);
    await until(() => client.has('end') && client.ended, 'the end at expiry', 10_000);
    expect(client.messages.find((m) => m.event === 'end')?.data).to.contain('token expired');
    expect(server.server.stream.stats().open).to.equal(0);
    const doc = (await server.get('/api/v1/openapi.json', tokens.sysadmin)).body as { paths: Record<string, unknown> };
    expect(doc.paths).to.have.property('/api/v1/events/stream');
  });

  it("exempts a stream's socket from the server's idle timeout (no heartbeat needed)", async () => {
    server = await startServer({ store: newStore(), stream: { heartbeatMs: 0 } });
    const http = server.server.app.server;
    http.timeout = 100;
    // The server arms each new socket with its idle timeout; the stream must disarm its own. A
    // state, not 500 ms of waiting for a close that must not come (which a loaded machine blurs).
    const sockets: Socket[] = [];
    http.on('connection', (socket: Socket) => sockets.push(socket));
    const client = await SseClient.open(streamUrl(), tokens.adminA);
    await until(() => client.has('ready'), 'ready', 5000);
    expect(sockets.map((s) => s.timeout), 'idle timeout of the stream socket').to.deep.equal([0]);
    server.store.upsert(rawEvent({ name: 'after-ready', namespace: 'org-a', at: 5 }));
    await until(() => client.events.some((e) => e.name === 'after-ready') || client.ended, 'the event or the end', 5000);
    expect(client.ended).to.equal(false);
    client.close();
  });

  it('keeps a stream open past the idle socket timeout, with heartbeats', async () => {
    server = await startServer({ store: newStore(), stream: { heartbeatMs: 50 } });
    // The server's idle socket timeout, as the API bounds set it, far shorter than the test.
    server.server.app.server.timeout = 100;
    const client = await SseClient.open(streamUrl(), tokens.adminA);
    await until(() => client.comments >= 6, 'heartbeats', 10_000);
    server.store.upsert(rawEvent({ name: 'late', namespace: 'org-a', at: 5 }));
    await until(() => client.events.some((e) => e.name === 'late'), 'event after the timeout', 5000);
    expect(client.ended).to.equal(false);
    client.close();
  });
});
