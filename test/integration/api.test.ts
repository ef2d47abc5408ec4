// The events API against a real control plane: the EventStore fed by the resilient informer on
// core/v1 Events, served over loopback. Events written by a plain client and by the recorder
// appear with every field right; count bumps update in place; deletions disappear; /health
// follows the informer's sync. Which organization a vdc-* namespace belongs to comes from the
// operator's namespace labels (a namespace informer), never from the events' annotations.
import { expect } from 'chai';
import { CoreV1Api, KubeConfig, type CoreV1Event } from '@kubernetes/client-node';
import { MANAGED_NAMESPACES_INFORMER, NamespaceOwners } from '../../src/events/owners.js';
import { EventRecorder } from '../../src/events/recorder.js';
import { EVENTS_INFORMER, EventStore } from '../../src/events/store.js';
import { signToken } from '../../src/http/auth.js';
import { createReachabilityProbe } from '../../src/http/health.js';
import type { ApiEvent } from '../../src/events/query.js';
import { createApiServer, type ApiServer } from '../../src/http/server.js';
import { createMetrics } from '../../src/metrics.js';
import { organizationLabels, vdcLabels } from '../../src/resources/naming.js';
import type { Organization, VirtualDataCenter } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';
import { informerFor, type EventInformer, type NamespaceInformer } from '../support/informers.js';

const SECRET = 'integration-secret-0123456789abcdef';
const ORG = 'apitest';
const ORG_NS = `org-${ORG}`;
const VDC_NS = `vdc-${ORG}-dev`;
const FOREIGN_NS = 'apitest-foreign';
// Organization "apitest-corp": its VDC "x" lives in vdc-apitest-corp-x, which also starts with
// "vdc-apitest-" (organization names may contain '-').
const CORP = 'apitest-corp';
const CORP_ORG_NS = `org-${CORP}`;
const CORP_VDC_NS = `vdc-${CORP}-x`;
// A vdc-* namespace without the operator's labels: nobody's organization.
const UNOWNED_NS = `vdc-${ORG}-unowned`;
/** Every namespace this suite creates, with the labels the operator would give it. */
const NAMESPACES: [string, Record<string, string> | undefined][] = [
  [ORG_NS, organizationLabels(ORG)],
  [VDC_NS, vdcLabels(ORG, 'dev')],
  [FOREIGN_NS, undefined],
  [CORP_ORG_NS, organizationLabels(CORP)],
  [CORP_VDC_NS, vdcLabels(CORP, 'x')],
  [UNOWNED_NS, undefined],
];

type Item = ApiEvent;

interface Page {
  events: Item[];
  total_count: number;
}

/** The second-precision RFC 3339 form of a Date (what Event timestamps hold). */
const seconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('events API on a real control plane', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let store: EventStore;
  let informer: EventInformer;
  let namespaceInformer: NamespaceInformer;
  let server: ApiServer;
  let url: string;
  let admin: string;
  let recorder: EventRecorder | undefined;

  const get = async (path: string, token = admin) => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  /** Starts the informer if the /health test did not (e.g. when run with --grep). */
  const synced = async () => {
    informer.start();
    await informer.waitForSync();
  };
  const list = async (query: string, token = admin) => {
    const res = await get(`/api/v1/events?limit=200&${query}`, token);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body as Page;
  };

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    for (const [name, labels] of NAMESPACES) await core.createNamespace({ body: { metadata: { name, labels } } });
    const namespaceOwners = new NamespaceOwners();
    namespaceInformer = await informerFor(cp.kubeConfig, MANAGED_NAMESPACES_INFORMER);
    namespaceOwners.follow(namespaceInformer);
    namespaceInformer.start();
    await namespaceInformer.waitForSync();
    store = new EventStore({ namespaceOwners });
    informer = await informerFor(cp.kubeConfig, EVENTS_INFORMER);
    store.follow(informer);
    server = createApiServer({
      store,
      auth: { secret: new TextEncoder().encode(SECRET) },
      metrics: createMetrics(),
      health: { kubernetesReachable: () => true, informersSynced: () => informer.hasSynced(), leadership: () => 'disabled' },
    });
    url = await server.listen('127.0.0.1:0');
    admin = await signToken({ userId: '1', username: 'root', role: 'system_admin' }, SECRET);
  });

  after(async function () {
    this.timeout(60_000);
    informer?.stop();
    namespaceInformer?.stop();
    await recorder?.stop(5_000);
    await server?.close();
    for (const [name] of NAMESPACES) await core?.deleteNamespace({ name }).catch(() => undefined);
  });

  it('/health is 503 before the event informer syncs and 200 after', async function () {
    this.timeout(60_000);
    const before = await fetch(`${url}/health`);
    expect(before.status).to.equal(503);
    expect(((await before.json()) as { checks: { informers: { status: string } } }).checks.informers.status).to.equal('syncing');
    expect((await fetch(`${url}/readyz`)).status).to.equal(503);
    informer.start();
    await informer.waitForSync();
    const after = await fetch(`${url}/health`);
    expect(after.status).to.equal(200);
    expect((await fetch(`${url}/readyz`)).status).to.equal(200);
  });

  describe('an event written by a plain client', () => {
    const name = 'quota.plain-client-1';
    const first = new Date('2025-05-05T10:00:00Z');
    const last = new Date('2025-05-05T10:30:00Z');
    let created: CoreV1Event;
    before(synced);

    it('appears with all fields right', async function () {
      this.timeout(30_000);
      created = await core.createNamespacedEvent({
        namespace: VDC_NS,
        body: {
          metadata: {
            name,
            namespace: VDC_NS,
            annotations: {
              'ovim.io/organization': ORG,
              'ovim.io/vdc': 'dev',
              'ovim.io/actor': 'alex',
              'ovim.io/owner': 'kim',
            },
          },
          involvedObject: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', namespace: VDC_NS, uid: '00000000-0000-0000-0000-000000000001' },
          type: 'Warning',
          reason: 'StartupFailed',
          message: 'VM vm-1 failed to start: exceeded quota',
          source: { component: 'ovim-controller' },
          // The typed client serializes Date fields; strings would not survive its ObjectSerializer.
          firstTimestamp: first,
          lastTimestamp: last,
          count: 1,
        },
      });
      // What reached the server.
      const stored = await core.readNamespacedEvent({ name, namespace: VDC_NS });
      expect(seconds(stored.lastTimestamp as Date)).to.equal('2025-05-05T10:30:00Z');
      expect(seconds(stored.firstTimestamp as Date)).to.equal('2025-05-05T10:00:00Z');

      const page = await waitFor('the event in the API', async () => {
        const p = await list(`namespace=${VDC_NS}`);
        return p.total_count === 1 ? p : undefined;
      });
      expect(page.events[0]).to.deep.equal({
        id: created.metadata.uid,
        name,
        namespace: VDC_NS,
        type: 'Warning',
        reason: 'StartupFailed',
        message: 'VM vm-1 failed to start: exceeded quota',
        component: 'ovim-controller',
        involved_object_kind: 'VirtualMachine',
        involved_object_name: 'vm-1',
        first_timestamp: '2025-05-05T10:00:00Z',
        last_timestamp: '2025-05-05T10:30:00Z',
        count: 1,
        category: 'vm',
        organization: ORG,
        vdc: 'dev',
        actor: 'alex',
        actor_verified: false,
      });
      // The store keeps the compact record only.
      const record = store.get(created.metadata.uid as string);
      expect(record).to.not.have.property('metadata');
      expect(record?.owner).to.equal('kim');
    });

    it('updates in place on a count bump', async function () {
      this.timeout(30_000);
      const current = await core.readNamespacedEvent({ name, namespace: VDC_NS });
      current.count = 5;
      current.lastTimestamp = new Date('2025-05-05T11:00:00Z');
      current.message = 'VM vm-1 failed to start: exceeded quota (again)';
      await core.replaceNamespacedEvent({ name, namespace: VDC_NS, body: current });
      const page = await waitFor('the count bump in the API', async () => {
        const p = await list(`namespace=${VDC_NS}`);
        return p.events[0]?.count === 5 ? p : undefined;
      });
      expect(page.total_count).to.equal(1);
      expect(page.events[0]?.id).to.equal(created.metadata.uid);
      expect(page.events[0]?.last_timestamp).to.equal('2025-05-05T11:00:00Z');
      expect(page.events[0]?.first_timestamp).to.equal('2025-05-05T10:00:00Z');
      expect(page.events[0]?.message).to.match(/\(again\)$/);
      expect(store.size).to.equal([...store.records()].length);
    });

    it('disappears when the API server deletes it', async function () {
      this.timeout(30_000);
      await core.deleteNamespacedEvent({ name, namespace: VDC_NS });
      await waitFor('the event to disappear', async () => (await list(`namespace=${VDC_NS}`)).total_count === 0);
      expect(store.get(created.metadata.uid as string)).to.equal(undefined);
    });
  });

  describe('events written by the recorder', () => {
    const org: Organization = {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name: ORG, uid: '00000000-0000-0000-0000-00000000a0a0', annotations: { 'ovim.io/requested-by': 'alex' } },
      spec: { displayName: 'API test', admins: ['apitest-admins'] },
    };
    const vdc: VirtualDataCenter = {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name: 'dev', namespace: ORG_NS, uid: '00000000-0000-0000-0000-00000000d0d0', annotations: { 'ovim.io/owner': 'kim' } },
      spec: { organizationRef: ORG, displayName: 'Dev', quota: { cpu: '4', memory: '8Gi', storage: '100Gi' } },
    };
    before(synced);

    it('appear with organization, vdc, actor and component, and count bumps update in place', async function () {
      this.timeout(60_000);
      // Verified actors and owners, as the admission webhook's stamps make them (admission.test.ts):
      // an organization user's scope counts only those.
      const stamped = { actorVerified: () => true, ownerVerified: () => true };
      const rec = EventRecorder.create(cp.kubeConfig, { component: 'ovim-controller', actorVerifier: stamped });
      recorder = rec;
      const startedAt = Date.now();
      rec.recordOrganizationCreated(org, 'alex');
      rec.recordVdcCreated(vdc, org, 'alex');
      rec.record(vdc, 'Warning', 'QuotaExceeded', 'VDC dev uses 4 of 4 cpu', { actor: 'alex' });
      expect(await rec.flush(20_000)).to.equal(true);

      const orgAdmin = await signToken({ userId: '2', username: 'boss', role: 'org_admin', orgId: ORG }, SECRET);
      const page = await waitFor('the recorder events in the API', async () => {
        const p = await list('component=ovim-controller', orgAdmin);
        return p.total_count >= 3 ? p : undefined;
      });
      const byReason = new Map(page.events.map((e) => [e.reason, e]));
      const created = byReason.get('OrganizationCreated');
      expect(created).to.include({
        namespace: 'default',
        type: 'Normal',
        component: 'ovim-controller',
        involved_object_kind: 'Organization',
        involved_object_name: ORG,
        organization: ORG,
        actor: 'alex',
        count: 1,
      });
      const vdcCreated = byReason.get('VDCCreated');
      expect(vdcCreated).to.include({
        namespace: ORG_NS,
        involved_object_kind: 'VirtualDataCenter',
        involved_object_name: 'dev',
        organization: ORG,
        vdc: 'dev',
        actor: 'alex',
      });
      const quota = byReason.get('QuotaExceeded');
      expect(quota).to.include({ type: 'Warning', message: 'VDC dev uses 4 of 4 cpu', count: 1 });
      for (const e of page.events) {
        expect(e.last_timestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        expect(Date.parse(e.last_timestamp)).to.be.within(startedAt - 2_000, Date.now() + 2_000);
        expect(e.id).to.match(/^[0-9a-f-]{36}$/);
      }

      // The same warning again: one Event, its count bumped (patched), the same id in the API.
      rec.record(vdc, 'Warning', 'QuotaExceeded', 'VDC dev uses 4 of 4 cpu', { actor: 'alex' });
      expect(await rec.flush(20_000)).to.equal(true);
      const bumped = await waitFor('the recorder count bump', async () => {
        const p = await list('reason=QuotaExceeded', orgAdmin);
        return p.events[0]?.count === 2 ? p : undefined;
      });
      expect(bumped.total_count).to.equal(1);
      expect(bumped.events[0]?.id).to.equal(quota?.id);

      // An organization user sees the events that name them, the admin of another organization none.
      const kim = await signToken({ userId: '3', username: 'kim', role: 'org_user', orgId: ORG }, SECRET);
      const kims = await list('', kim);
      expect(kims.events.map((e) => e.reason).sort()).to.deep.equal(['QuotaExceeded', 'VDCCreated']);
      const stranger = await signToken({ userId: '4', username: 'x', role: 'org_admin', orgId: 'someone-else' }, SECRET);
      expect((await list('', stranger)).total_count).to.equal(0);
      expect((await get(`/api/v1/events?namespace=${ORG_NS}`, stranger)).status).to.equal(403);
    });
  });

  it('the reachability probe for /health reports the API server, and an unreachable one', async function () {
    this.timeout(30_000);
    const probe = createReachabilityProbe(cp.kubeConfig, { intervalMs: 60_000 });
    const nowhere = new KubeConfig();
    nowhere.loadFromOptions({
      clusters: [{ name: 'nowhere', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'c', cluster: 'nowhere', user: 'u' }],
      currentContext: 'c',
    });
    const unreachable = createReachabilityProbe(nowhere, { intervalMs: 60_000, timeoutMs: 2_000 });
    try {
      expect(probe.reachable()).to.equal(false, 'nothing known before the first answer');
      await Promise.all([probe.ready(), unreachable.ready()]);
      expect(probe.reachable()).to.equal(true);
      expect(unreachable.reachable()).to.equal(false);
    } finally {
      probe.stop();
      unreachable.stop();
    }
  });

  it('a foreign namespace is visible to system admins only', async function () {
    this.timeout(30_000);
    await synced();
    await core.createNamespacedEvent({
      namespace: FOREIGN_NS,
      body: {
        metadata: { name: 'foreign.1', namespace: FOREIGN_NS },
        involvedObject: { kind: 'Pod', name: 'p', namespace: FOREIGN_NS },
        type: 'Normal',
        reason: 'Pulled',
        message: 'pulled',
        source: { component: 'kubelet' },
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
        count: 1,
      },
    });
    await waitFor('the foreign event', async () => (await list(`namespace=${FOREIGN_NS}`)).total_count === 1);
    const orgAdmin = await signToken({ userId: '2', username: 'boss', role: 'org_admin', orgId: ORG }, SECRET);
    expect((await get(`/api/v1/events?namespace=${FOREIGN_NS}`, orgAdmin)).status).to.equal(403);
    expect((await list('reason=Pulled', orgAdmin)).events.filter((e) => e.namespace === FOREIGN_NS)).to.deep.equal([]);
  });

  describe('events without annotations in VDC namespaces (kubelet, scheduler, KubeVirt)', () => {
    const kubeletEvent = (namespace: string, name: string) =>
      core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name, namespace },
          involvedObject: { kind: 'Pod', name: 'virt-launcher-vm-9', namespace },
          type: 'Normal',
          reason: 'Pulled',
          message: 'Container image pulled',
          source: { component: 'kubelet' },
          firstTimestamp: new Date(),
          lastTimestamp: new Date(),
          count: 1,
        },
      });
    before(synced);

    it("belong to the organization the namespace's labels name, not to a prefix-sharing one", async function () {
      this.timeout(30_000);
      expect(store.namespaceOwners.ownerOf(CORP_VDC_NS)).to.equal(CORP);
      expect(store.namespaceOwners.ownerOf(VDC_NS)).to.equal(ORG);
      const created = await kubeletEvent(CORP_VDC_NS, 'corp-pod.pulled');
      const corpAdmin = await signToken({ userId: '5', username: 'corp-boss', role: 'org_admin', orgId: CORP }, SECRET);
      const orgAdmin = await signToken({ userId: '2', username: 'boss', role: 'org_admin', orgId: ORG }, SECRET);
      // The owner's admin sees it (and so the store has it).
      await waitFor("the kubelet event in the owner's view", async () =>
        (await list(`namespace=${CORP_VDC_NS}`, corpAdmin)).events.some((e) => e.id === created.metadata?.uid),
      );
      // The admin of "apitest" neither lists it nor may ask for its namespace.
      const seen = await list('', orgAdmin);
      expect(seen.events.filter((e) => e.namespace === CORP_VDC_NS)).to.deep.equal([]);
      expect((await list('reason=Pulled', orgAdmin)).events.map((e) => e.namespace)).to.not.include(CORP_VDC_NS);
      const filtered = await get(`/api/v1/events?namespace=${CORP_VDC_NS}`, orgAdmin);
      expect(filtered.status, JSON.stringify(filtered.body)).to.equal(403);
      // Nor do its users, even when such an event names them (annotations are not ownership).
      await core.createNamespacedEvent({
        namespace: CORP_VDC_NS,
        body: {
          metadata: { name: 'corp-vm.misnamed', namespace: CORP_VDC_NS, annotations: { 'ovim.io/organization': ORG, 'ovim.io/actor': 'alex' } },
          involvedObject: { kind: 'VirtualMachine', name: 'vm-9', namespace: CORP_VDC_NS },
          type: 'Normal',
          reason: 'VMStopped',
          message: 'stopped',
          source: { component: 'ovim-controller' },
          firstTimestamp: new Date(),
          lastTimestamp: new Date(),
          count: 1,
        },
      });
      await waitFor('the misnamed event', async () =>
        (await list(`namespace=${CORP_VDC_NS}&reason=VMStopped`, corpAdmin)).total_count === 1,
      );
      const alex = await signToken({ userId: '6', username: 'alex', role: 'org_user', orgId: ORG }, SECRET);
      expect((await list('reason=VMStopped', alex)).events.map((e) => e.namespace)).to.not.include(CORP_VDC_NS);
      expect((await list('reason=VMStopped', orgAdmin)).events.map((e) => e.namespace)).to.not.include(CORP_VDC_NS);
    });

    it("in a namespace of the caller's organization are the organization admin's", async function () {
      this.timeout(30_000);
      const created = await kubeletEvent(VDC_NS, 'own-pod.pulled');
      const orgAdmin = await signToken({ userId: '2', username: 'boss', role: 'org_admin', orgId: ORG }, SECRET);
      await waitFor('the kubelet event in the admin view', async () =>
        (await list(`namespace=${VDC_NS}`, orgAdmin)).events.some((e) => e.id === created.metadata?.uid),
      );
    });

    it('in a vdc-* namespace without the operator labels are visible to system admins only', async function () {
      this.timeout(30_000);
      expect(store.namespaceOwners.ownerOf(UNOWNED_NS)).to.equal(undefined);
      await kubeletEvent(UNOWNED_NS, 'unowned-pod.pulled');
      await waitFor('the unowned event', async () => (await list(`namespace=${UNOWNED_NS}`)).total_count === 1);
      const orgAdmin = await signToken({ userId: '2', username: 'boss', role: 'org_admin', orgId: ORG }, SECRET);
      expect((await get(`/api/v1/events?namespace=${UNOWNED_NS}`, orgAdmin)).status).to.equal(403);
      expect((await list('reason=Pulled', orgAdmin)).events.map((e) => e.namespace)).to.not.include(UNOWNED_NS);
    });
  });
});
