// EventRoutes on the real control plane: events written to the API server reach loopback
// receivers through the route engine (fed by the events informer), per tenant scope, signed,
// retried, refused by the SSRF guard, counted by thresholds, once across replicas.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { MANAGED_NAMESPACES_INFORMER, NamespaceOwners } from '../../src/events/owners.js';
import { EventRecorder } from '../../src/events/recorder.js';
import { ClientEventApi } from '../../src/events/sink.js';
import { EVENTS_INFORMER } from '../../src/events/store.js';
import { installCrds } from '../../src/kube/crds.js';
import { LeaderElector } from '../../src/kube/leader.js';
import { InformerFactory } from '../../src/kube/factory.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startRouteEngine, type RouteEngine, type RouteEngineOptions } from '../../src/routes/engine.js';
import { HEADERS, verifySignature } from '../../src/routes/sign.js';
import { systemResolver } from '../../src/routes/ssrf.js';
import type { EventRoute, EventRouteSpec } from '../../src/routes/types.js';
import { controlPlane } from '../support/hooks.js';
import { kubectl, kubectlOk } from '../support/kubectl.js';
import { CertificateAuthority } from '../support/pki.js';
import { Receiver } from '../support/receiver.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';
import { informerFor, type EventInformer } from '../support/informers.js';

const sfx = randomBytes(2).toString('hex');
const A = `ra${sfx}`;
const AB = `${A}-b`;
const NS_A = `org-${A}`;
const NS_AB = `org-${AB}`;
const OP_NS = `routes-op-${sfx}`;
const ROUTES = `/apis/ovim.io/v1/namespaces`;
const logger = createLogger(process.env.LOG_LEVEL_TEST ?? 'error', true);
// Down 20 s must fit in the retries: at least 22 s of (jittered) backoff before the last try.
const RETRY = { maxAttempts: 12, baseMs: 300, capMs: 6_000 };

describe('event routes', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let engine: RouteEngine;
  let recorder: EventRecorder;
  let mainLeads = true;
  let fakeNow = Date.now();
  let rebindAnswers: string[] = [];
  let resolverCalls = 0;
  let ca: CertificateAuthority;
  let caDir: string;
  const http = new Receiver();
  let httpsReceiver: Receiver;
  const stops: (() => Promise<void> | void)[] = [];
  let baseOptions: RouteEngineOptions;
  let eventsInformer: EventInformer;

  const nsObject = (name: string, org?: string) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: org ? { 'app.kubernetes.io/managed-by': 'ovim-operator', 'ovim.io/organization': org } : {} },
  });

  let eventSeq = 0;
  /** Writes a core/v1 Event about a VDC; returns its uid. */
  async function emit(namespace: string, reason: string, over: { type?: string; message?: string; name?: string } = {}): Promise<string> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const created = await api.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${namespace}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `ev-${sfx}-${++eventSeq}`, namespace },
      involvedObject: { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', name: over.name ?? 'dev', namespace },
      type: over.type ?? 'Warning',
      reason,
      message: over.message ?? `${reason} number ${eventSeq}`,
      source: { component: 'test' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    return created.metadata.uid;
  }

  async function createRoute(namespace: string, name: string, spec: EventRouteSpec): Promise<EventRoute> {
    return api.create<EventRoute>(`${ROUTES}/${namespace}/eventroutes`, { apiVersion: 'ovim.io/v1', kind: 'EventRoute', metadata: { name, namespace }, spec });
  }
  const getRoute = (namespace: string, name: string) => api.get<EventRoute>(`${ROUTES}/${namespace}/eventroutes/${name}`);
  const ready = async (namespace: string, name: string) => (await getRoute(namespace, name)).status?.conditions?.find((c) => c.type === 'Ready');
  async function routeEvents(namespace: string, name: string, reason: string): Promise<{ count?: number; message?: string }[]> {
    const list = await api.list<{ count?: number; message?: string; reason?: string; involvedObject: { name: string; kind: string } }>(`/api/v1/namespaces/${namespace}/events`);
    return list.items.filter((e) => e.involvedObject.kind === 'EventRoute' && e.involvedObject.name === name && e.reason === reason);
  }

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
    for (const ns of [nsObject(NS_A, A), nsObject(NS_AB, AB), nsObject(`vdc-${A}-dev`, A), nsObject(`vdc-${AB}-x`, AB), nsObject(OP_NS)]) {
      await api.create('/api/v1/namespaces', ns);
    }
    caDir = await mkdtemp(join(tmpdir(), 'ovim-routes-'));
    ca = await CertificateAuthority.open(caDir);
    const pair = await ca.issue('receiver', { commonName: 'localhost', usage: 'server', altNames: ['DNS:localhost', 'IP:127.0.0.1'] });
    httpsReceiver = new Receiver({ cert: await readFile(pair.certFile, 'utf8'), key: await readFile(pair.keyFile, 'utf8') });
    await http.listen(0);
    await httpsReceiver.listen(0);

    const owners = new NamespaceOwners();
    const nsInformer = await informerFor(cp.kubeConfig, MANAGED_NAMESPACES_INFORMER);
    owners.follow(nsInformer);
    const events = await informerFor(cp.kubeConfig, EVENTS_INFORMER);
    eventsInformer = events;
    nsInformer.start();
    events.start();
    await Promise.all([nsInformer.waitForSync(), events.waitForSync()]);
    const eventsClient = await KubeClient.create(cp.kubeConfig, { userAgent: 'ovim-operator/events' });
    recorder = new EventRecorder(new ClientEventApi(eventsClient), { component: 'ovim-controller', logger });
    stops.push(() => nsInformer.stop(), () => events.stop(), async () => {
      await recorder.flush(5_000);
      await recorder.stop(2_000);
      eventsClient.close();
    });
    baseOptions = {
      client: api,
      recorder,
      events,
      owners,
      operatorNamespace: OP_NS,
      isLeader: () => true,
      allowHttp: true,
      allowCidrs: ['127.0.0.1/32'],
      ca: await ca.caPem(),
      retry: RETRY,
      statusIntervalMs: 200,
      leadershipPollMs: 100,
      logger,
      resolve: async (host) => {
        if (host !== 'rebind.test') return systemResolver(host);
        resolverCalls++;
        return [{ address: rebindAnswers.shift() ?? '127.0.0.1', family: 4 }];
      },
    };
    engine = await startRouteEngine(new InformerFactory(api), { ...baseOptions, isLeader: () => mainLeads, now: () => fakeNow });
  });

  after(async function () {
    this.timeout(60_000);
    await engine?.stop();
    for (const s of stops.reverse()) await s();
    await http.close();
    await httpsReceiver?.close();
    for (const ns of [NS_A, NS_AB, `vdc-${A}-dev`, `vdc-${AB}-x`, OP_NS]) await api.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
    api?.close();
    if (caDir) await rm(caDir, { recursive: true, force: true });
  });

  it('refuses invalid routes with readable messages', async function () {
    const bad: [string, unknown, RegExp][] = [
      ['ftp url', { sink: { webhook: { url: 'ftp://x.example/' } } }, /must start with https:\/\//],
      ['credentials in the url', { sink: { webhook: { url: 'https://u:p@x.example/' } } }, /must not carry credentials/],
      ['unknown format', { sink: { webhook: { url: 'https://x.example/', format: 'xml' } } }, /Unsupported value: "xml"/],
      ['window without a unit', { threshold: { count: 5, window: '10' }, sink: { webhook: { url: 'https://x.example/' } } }, /threshold.window must be a number followed by s, m or h/],
      ['window too long', { threshold: { count: 5, window: '48h' }, sink: { webhook: { url: 'https://x.example/' } } }, /between 1s and 24h/],
      ['count of one', { threshold: { count: 1, window: '1m' }, sink: { webhook: { url: 'https://x.example/' } } }, /should be greater than or equal to 2/],
      ['no sink', {}, /spec.sink: Required value/],
    ];
    for (const [what, spec, message] of bad) {
      const res = await kubectl(cp.kubeconfigPath, ['-n', NS_A, 'create', '--dry-run=server', '-f', '-'], JSON.stringify({ apiVersion: 'ovim.io/v1', kind: 'EventRoute', metadata: { name: 'bad' }, spec }));
      expect(res.code, what).to.not.equal(0);
      expect(res.stderr, what).to.match(message);
    }
    const good = await kubectl(cp.kubeconfigPath, ['-n', NS_A, 'create', '--dry-run=server', '-f', '-'], JSON.stringify({ apiVersion: 'ovim.io/v1', kind: 'EventRoute', metadata: { name: 'good' }, spec: { sink: { webhook: { url: 'https://x.example/' } } } }));
    expect(good.code, good.stderr).to.equal(0);
  });

  it("a route in org-a receives org a's QuotaExceeded and never org a-b's; status counts it", async function () {
    await createRoute(NS_A, 'quota', { match: { reasons: ['QuotaExceeded'] }, sink: { webhook: { url: http.url('/quota'), format: 'json' } } });
    await waitFor('route Ready', async () => (await ready(NS_A, 'quota'))?.status === 'True');
    const other = await emit(NS_AB, 'QuotaExceeded');
    const otherVdc = await emit(`vdc-${AB}-x`, 'QuotaExceeded');
    const mine = await emit(NS_A, 'QuotaExceeded');
    const mineVdc = await emit(`vdc-${A}-dev`, 'QuotaExceeded');
    await emit(NS_A, 'VDCCreated', { type: 'Normal' });
    await waitFor('both of org a delivered', async () => http.at('/quota').length >= 2);
    expect(await engine.waitIdle(10_000)).to.equal(true);
    const keys = http.at('/quota').map((r) => r.headers[HEADERS.idempotencyKey]);
    expect(keys.sort()).to.deep.equal([`${mine}:1`, `${mineVdc}:1`].sort());
    expect(keys.join()).to.not.include(other).and.not.include(otherVdc);
    const body = JSON.parse(http.at('/quota')[0]?.body ?? '{}') as { event: { reason: string }; route: unknown };
    expect(body.event.reason).to.equal('QuotaExceeded');
    expect(body.route).to.deep.equal({ namespace: NS_A, name: 'quota' });
    const status = await waitFor('status written', async () => {
      const s = (await getRoute(NS_A, 'quota')).status;
      return s?.deliveredCount === 2 ? s : undefined;
    });
    expect(status).to.include({ failedCount: 0, observedGeneration: 1 });
    expect(status.lastDeliveryTime).to.be.a('string');
  });

  it('a count bump is a new occurrence with its own idempotency key', async function () {
    await createRoute(NS_A, 'bump', { match: { reasons: ['Bumped'] }, sink: { webhook: { url: http.url('/bump') } } });
    await waitFor('route Ready', async () => (await ready(NS_A, 'bump'))?.status === 'True');
    const uid = await emit(NS_A, 'Bumped');
    await waitFor('first delivery', async () => http.at('/bump').length === 1);
    const name = `ev-${sfx}-${eventSeq}`;
    await api.patch(`/api/v1/namespaces/${NS_A}/events/${name}`, { count: 2, lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }, 'merge');
    await waitFor('second delivery', async () => http.at('/bump').length === 2);
    expect(http.at('/bump').map((r) => r.headers[HEADERS.idempotencyKey])).to.deep.equal([`${uid}:1`, `${uid}:2`]);
  });

  it('slack over https, signed with the Secret: the body verifies and has the Slack shape', async function () {
    await api.create(`/api/v1/namespaces/${NS_A}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook-key' }, stringData: { token: 'very-secret' } });
    await createRoute(NS_A, 'slack', {
      match: { reasons: ['SlackMe'] },
      sink: { webhook: { url: httpsReceiver.url('/slack', 'localhost'), format: 'slack', secretRef: { name: 'hook-key', key: 'token' } } },
    });
    await waitFor('route Ready', async () => (await ready(NS_A, 'slack'))?.status === 'True');
    expect((await ready(NS_A, 'slack'))?.message).to.include('(signed)');
    await emit(NS_A, 'SlackMe', { message: 'cpu <!channel> & more' });
    const [req] = await waitFor('delivered', async () => (httpsReceiver.at('/slack').length ? httpsReceiver.at('/slack') : undefined));
    const ts = String(req?.headers[HEADERS.timestamp]);
    expect(verifySignature(Buffer.from('very-secret'), ts, req?.body ?? '', String(req?.headers[HEADERS.signature]))).to.equal(true);
    expect(verifySignature(Buffer.from('wrong'), ts, req?.body ?? '', String(req?.headers[HEADERS.signature]))).to.equal(false);
    const body = JSON.parse(req?.body ?? '{}') as { text: string; blocks: { type: string }[] };
    expect(body.text).to.include('&lt;!channel&gt; &amp; more');
    expect(body.blocks.map((b) => b.type)).to.deep.equal(['section', 'context']);
  });

  it('alertmanager: a v2 alerts array; a missing Secret makes the route not Ready until it exists', async function () {
    await createRoute(NS_A, 'am', { match: { reasons: ['AlertMe'] }, sink: { webhook: { url: http.url('/api/v2/alerts'), format: 'alertmanager' } } });
    await createRoute(NS_A, 'nosecret', { sink: { webhook: { url: http.url('/nosecret'), secretRef: { name: 'absent', key: 'k' } } } });
    await waitFor('am Ready', async () => (await ready(NS_A, 'am'))?.status === 'True');
    const c = await waitFor('nosecret not Ready', async () => {
      const r = await ready(NS_A, 'nosecret');
      return r?.status === 'False' ? r : undefined;
    });
    expect(c).to.include({ reason: 'SecretNotFound' });
    expect(c.message).to.include('Secret absent not found');
    await emit(NS_A, 'AlertMe');
    const [req] = await waitFor('delivered', async () => (http.at('/api/v2/alerts').length ? http.at('/api/v2/alerts') : undefined));
    const alerts = JSON.parse(req?.body ?? '[]') as { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string }[];
    expect(alerts).to.have.length(1);
    expect(alerts[0]?.labels).to.include({ alertname: 'AlertMe', severity: 'warning', namespace: NS_A });
    expect(http.at('/nosecret')).to.have.length(0);
    // The Secret created after its route: the route looks again (every 5 s while waiting).
    await api.create(`/api/v1/namespaces/${NS_A}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'absent' }, stringData: { k: 'late' } });
    await waitFor('nosecret Ready once its Secret exists', async () => (await ready(NS_A, 'nosecret'))?.status === 'True', { timeoutMs: 20_000 });
  });

  it('threshold 5 in 10m (fake clock): RouteTriggered and one delivery per crossing', async function () {
    await createRoute(NS_A, 'storm', { match: { reasons: ['Flap'] }, threshold: { count: 5, window: '10m' }, sink: { webhook: { url: http.url('/storm') } } });
    await waitFor('route Ready', async () => (await ready(NS_A, 'storm'))?.status === 'True');
    for (let i = 0; i < 7; i++) {
      fakeNow += 10_000;
      await emit(NS_A, 'Flap');
    }
    await waitFor('first crossing delivered', async () => http.at('/storm').length === 1);
    const triggered = await waitFor('RouteTriggered', async () => ((await routeEvents(NS_A, 'storm', 'RouteTriggered')).length ? routeEvents(NS_A, 'storm', 'RouteTriggered') : undefined));
    expect(triggered[0]?.message).to.include('5 matching occurrences within 10m');
    fakeNow += 11 * 60_000; // the window empties: re-armed
    const four: string[] = [];
    for (let i = 0; i < 4; i++) four.push(await emit(NS_A, 'Flap'));
    // The engine handles an event as the informer caches it.
    await waitFor('the four seen', async () => four.every((uid) => eventsInformer.list().some((e) => e.metadata?.uid === uid)));
    expect(await engine.waitIdle(5_000, `${NS_A}/storm`)).to.equal(true);
    expect(http.at('/storm')).to.have.length(1);
    await emit(NS_A, 'Flap');
    await waitFor('second crossing delivered', async () => http.at('/storm').length === 2);
    const body = JSON.parse(http.at('/storm')[1]?.body ?? '{}') as { threshold: unknown };
    expect(body.threshold).to.deep.equal({ count: 5, window: '10m' });
    await waitFor('two RouteTriggered occurrences', async () => (await routeEvents(NS_A, 'storm', 'RouteTriggered')).reduce((n, e) => n + (e.count ?? 1), 0) === 2);
  });

  describe('retries', function () {
    const down = new Receiver();
    let downUid = '';
    before(async function () {
      // Start both routes now: their retries run side by side.
      await down.listen(0);
      const port = down.port;
      await down.close();
      await createRoute(NS_A, 'down', { match: { reasons: ['DownTest'] }, sink: { webhook: { url: `http://127.0.0.1:${port}/down` } } });
      http.answer = (r) => (r.path === '/always500' ? 500 : 200);
      await createRoute(NS_A, 'broken', { match: { reasons: ['BrokenTest'] }, sink: { webhook: { url: http.url('/always500') } } });
      await waitFor('routes Ready', async () => (await ready(NS_A, 'down'))?.status === 'True' && (await ready(NS_A, 'broken'))?.status === 'True');
      downUid = await emit(NS_A, 'DownTest');
      await emit(NS_A, 'BrokenTest');
      down.port = port;
    });
    after(() => down.close());

    it('receiver down 20 s: delivered after it comes back, once', async function () {
      await new Promise((r) => setTimeout(r, 20_000)); // the outage itself, not a synchronisation
      await down.listen();
      await waitFor('delivered', async () => down.requests.length >= 1, { timeoutMs: 30_000 });
      expect(await engine.waitIdle(10_000, `${NS_A}/down`)).to.equal(true);
      expect(down.requests.map((r) => r.headers[HEADERS.idempotencyKey])).to.deep.equal([`${downUid}:1`]);
      await waitFor('status', async () => (await getRoute(NS_A, 'down')).status?.deliveredCount === 1);
      expect((await getRoute(NS_A, 'down')).status?.failedCount).to.equal(0);
    });

    it('receiver always 500: DeliveryFailed once after the last retry, failedCount 1', async function () {
      const events = await waitFor('DeliveryFailed', async () => ((await routeEvents(NS_A, 'broken', 'DeliveryFailed')).length ? routeEvents(NS_A, 'broken', 'DeliveryFailed') : undefined), { timeoutMs: 90_000 });
      expect(events).to.have.length(1);
      expect(events[0]?.count ?? 1).to.equal(1);
      expect(events[0]?.message).to.match(/failed after 12 attempt\(s\): 127\.0\.0\.1:\d+ answered HTTP 500/);
      expect(http.at('/always500')).to.have.length(12);
      const status = await waitFor('status', async () => {
        const s = (await getRoute(NS_A, 'broken')).status;
        return s?.failedCount === 1 ? s : undefined;
      });
      expect(status.deliveredCount).to.equal(0);
      expect(status.lastError).to.include('HTTP 500');
    });
  });

  it('SSRF: blocked destinations are refused with the range in status and DeliveryFailed; DNS rebinding is refused', async function () {
    const targets: [string, string, RegExp][] = [
      ['metadata', 'http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is link-local \(cloud metadata\)/],
      ['loopback', 'http://127.0.0.3:9/', /127\.0\.0\.3 is loopback/],
      ['ipv6-loopback', 'http://[::1]:9/', /::1 is loopback/],
      ['private', 'http://10.0.0.1/', /10\.0\.0\.1 is a private range/],
      ['shared', 'http://100.64.0.1/', /shared address space/],
    ];
    for (const [name, url] of targets) await createRoute(NS_A, `ssrf-${name}`, { match: { reasons: ['SsrfTest'] }, sink: { webhook: { url } } });
    await waitFor('routes Ready', async () => (await Promise.all(targets.map(([n]) => ready(NS_A, `ssrf-${n}`)))).every((c) => c?.status === 'True'));
    await emit(NS_A, 'SsrfTest');
    for (const [name, , why] of targets) {
      const s = await waitFor(`${name} refused`, async () => {
        const st = (await getRoute(NS_A, `ssrf-${name}`)).status;
        return st?.failedCount === 1 ? st : undefined;
      });
      expect(s.lastError, name).to.match(why);
      const failed = await waitFor(`${name} DeliveryFailed`, async () => ((await routeEvents(NS_A, `ssrf-${name}`, 'DeliveryFailed')).length ? routeEvents(NS_A, `ssrf-${name}`, 'DeliveryFailed') : undefined));
      expect(failed[0]?.message, name).to.match(/failed after 1 attempt\(s\): destination .* refused/);
    }

    // rebind.test answers the allowed 127.0.0.1 first, then 127.0.0.3 (loopback, not allowed).
    rebindAnswers = ['127.0.0.1', '127.0.0.3'];
    resolverCalls = 0;
    await createRoute(NS_A, 'rebind', { match: { reasons: ['RebindTest'] }, sink: { webhook: { url: `http://rebind.test:${http.port}/rebind` } } });
    await waitFor('route Ready', async () => (await ready(NS_A, 'rebind'))?.status === 'True');
    await emit(NS_A, 'RebindTest');
    await waitFor('first delivered to the checked address', async () => http.at('/rebind').length === 1);
    expect(resolverCalls).to.equal(1);
    await emit(NS_A, 'RebindTest');
    const s = await waitFor('second refused', async () => {
      const st = (await getRoute(NS_A, 'rebind')).status;
      return st?.failedCount === 1 ? st : undefined;
    });
    expect(s.lastError).to.match(/destination rebind\.test refused: 127\.0\.0\.3 is loopback/);
    expect(resolverCalls).to.equal(2);
    expect(http.at('/rebind')).to.have.length(1);
  });

  it('route edits apply without restart', async function () {
    await createRoute(NS_A, 'edit', { match: { reasons: ['EditOne'] }, sink: { webhook: { url: http.url('/edit-1') } } });
    await waitFor('route Ready', async () => (await ready(NS_A, 'edit'))?.status === 'True');
    await emit(NS_A, 'EditOne');
    await waitFor('delivered to the first url', async () => http.at('/edit-1').length === 1);
    await api.patch(`${ROUTES}/${NS_A}/eventroutes/edit`, { spec: { match: { reasons: ['EditTwo'] }, sink: { webhook: { url: http.url('/edit-2') } } } }, 'merge');
    await waitFor('generation 2 observed', async () => (await getRoute(NS_A, 'edit')).status?.observedGeneration === 2);
    await emit(NS_A, 'EditOne');
    await emit(NS_A, 'EditTwo');
    await waitFor('delivered to the second url', async () => http.at('/edit-2').length === 1);
    expect(await engine.waitIdle(10_000)).to.equal(true);
    expect(http.at('/edit-1')).to.have.length(1);
  });

  it('two replicas behind a Lease: each event delivered once, also across a leader change', async function () {
    mainLeads = false;
    await waitFor('main engine stepped down', async () => !engine.isLeading());
    const lease = `routes-${sfx}`;
    const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };
    const electors = ['one', 'two'].map((identity) => new LeaderElector({ client: api, namespace: 'default', name: lease, identity, ...timing }));
    const replicas: RouteEngine[] = [];
    for (const e of electors) {
      e.run({ onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
      replicas.push(await startRouteEngine(new InformerFactory(api), { ...baseOptions, isLeader: () => e.isLeader() }));
    }
    const [one, two] = replicas as [RouteEngine, RouteEngine];
    const [e1, e2] = electors as [LeaderElector, LeaderElector];
    try {
      await createRoute(NS_A, 'ha', { match: { reasons: ['HaTest'] }, sink: { webhook: { url: http.url('/ha') } } });
      await waitFor('a leader', async () => one.isLeading() || two.isLeading());
      // Ready is written by the leader once it has the route: events after that are its.
      await waitFor('route Ready', async () => (await ready(NS_A, 'ha'))?.status === 'True');
      const [leader, follower, leaderElector] = one.isLeading() ? [one, two, e1] : [two, one, e2];
      const uids = [await emit(NS_A, 'HaTest'), await emit(NS_A, 'HaTest'), await emit(NS_A, 'HaTest')];
      await waitFor('three delivered', async () => http.at('/ha').length >= 3);
      expect(await leader.waitIdle(10_000)).to.equal(true);
      // A graceful stop writes deliveredThrough, then releases the Lease.
      await leader.stop();
      await leaderElector.stop();
      await waitFor('the follower leads', async () => follower.isLeading(), { timeoutMs: 30_000 });
      uids.push(await emit(NS_A, 'HaTest'));
      await waitFor('the fourth delivered', async () => http.at('/ha').length >= 4);
      expect(await follower.waitIdle(10_000)).to.equal(true);
      const keys = http.at('/ha').map((r) => String(r.headers[HEADERS.idempotencyKey]));
      expect(keys.sort()).to.deep.equal(uids.map((u) => `${u}:1`).sort());
    } finally {
      for (const r of replicas) await r.stop();
      for (const e of electors) await e.stop();
      mainLeads = true;
    }
  });

  it('an org admin (impersonated) creates a route and its Secret in their namespace, not in another', async function () {
    for (const [org, ns] of [[A, NS_A], [AB, NS_AB]] as const) {
      await api.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'admins' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ovim:org-admin' },
        subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: `${org}-admins` }],
      });
    }
    const as = ['--as', `alice-${sfx}`, '--as-group', `${A}-admins`];
    await waitFor('binding in force', async () => (await kubectl(cp.kubeconfigPath, [...as, '-n', NS_A, 'auth', 'can-i', 'create', 'eventroutes.ovim.io'])).stdout.trim() === 'yes');
    const route = (ns: string) => JSON.stringify({ apiVersion: 'ovim.io/v1', kind: 'EventRoute', metadata: { name: 'mine', namespace: ns }, spec: { sink: { webhook: { url: 'https://hooks.example.com/x', secretRef: { name: 'mine', key: 'k' } } } } });
    const secret = (ns: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mine', namespace: ns }, stringData: { k: 'v' } });
    for (const manifest of [route(NS_A), secret(NS_A)]) {
      const res = await kubectl(cp.kubeconfigPath, [...as, 'create', '-f', '-'], manifest);
      expect(res.code, res.stderr).to.equal(0);
    }
    for (const manifest of [route(NS_AB), secret(NS_AB)]) {
      const res = await kubectl(cp.kubeconfigPath, [...as, 'create', '-f', '-'], manifest);
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.match(/forbidden/i);
    }
    const vdc = await kubectl(cp.kubeconfigPath, [...as, '-n', `vdc-${A}-dev`, 'auth', 'can-i', 'create', 'eventroutes.ovim.io']);
    expect(vdc.stdout.trim()).to.equal('no');
  });

  it('the operator reads Secrets only where ovim:route-secrets is bound to it, and may bind it only to itself in org-*', async function () {
    const sa = ['--as', 'system:serviceaccount:ovim-system:ovim-operator'];
    // The operator's permissions as shipped (the RBAC test applies the same files).
    await kubectl(cp.kubeconfigPath, ['create', 'namespace', 'ovim-system']);
    for (const file of ['service_account.yaml', 'role.yaml', 'role_binding.yaml', 'route_secrets_binding.yaml']) {
      await kubectlOk(cp.kubeconfigPath, ['apply', '--server-side', '-f', `config/rbac/${file}`]);
    }
    await waitFor('the operator confinement policy in force', async () => {
      const res = await kubectl(cp.kubeconfigPath, [...sa, 'create', 'namespace', 'probe-outside', '--dry-run=server']);
      return res.code !== 0 && /ValidatingAdmissionPolicy 'ovim-operator-namespaces'/.test(res.stderr);
    });
    // As the operator would (config/policies confine it): bind ovim:route-secrets in org a.
    const binding = (ns: string, subject = 'ovim-operator') => JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'ovim-route-secrets', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ovim:route-secrets' },
      subjects: [{ kind: 'ServiceAccount', name: subject, namespace: 'ovim-system' }],
    });
    const created = await kubectl(cp.kubeconfigPath, [...sa, 'create', '-f', '-'], binding(NS_A));
    expect(created.code, created.stderr).to.equal(0);
    await waitFor('secrets readable in org a', async () => (await kubectl(cp.kubeconfigPath, [...sa, '-n', NS_A, 'auth', 'can-i', 'get', 'secrets'])).stdout.trim() === 'yes');
    for (const ns of ['kube-system', 'default', NS_AB, `vdc-${A}-dev`]) {
      const res = await kubectl(cp.kubeconfigPath, [...sa, '-n', ns, 'get', 'secrets']);
      expect(res.code, ns).to.not.equal(0);
      expect(res.stderr, ns).to.match(/forbidden/i);
    }
    const listAll = await kubectl(cp.kubeconfigPath, [...sa, 'get', 'secrets', '-A']);
    expect(listAll.stderr).to.match(/forbidden/i);
    // The confinement policy: not to another subject, not in a VDC namespace, not in kube-system.
    const other = await kubectl(cp.kubeconfigPath, [...sa, 'create', '--dry-run=server', '-f', '-'], binding(NS_AB, 'someone-else'));
    expect(other.stderr).to.match(/may bind ovim:route-secrets only to its own ServiceAccount, only in org-\* namespaces|forbidden/i);
    const inVdc = await kubectl(cp.kubeconfigPath, [...sa, 'create', '--dry-run=server', '-f', '-'], binding(`vdc-${A}-dev`));
    expect(inVdc.code).to.not.equal(0);
    expect(inVdc.stderr).to.match(/only in org-\* namespaces/);
    const inSystem = await kubectl(cp.kubeconfigPath, [...sa, 'create', '--dry-run=server', '-f', '-'], binding('kube-system'));
    expect(inSystem.code).to.not.equal(0);
  });
});
