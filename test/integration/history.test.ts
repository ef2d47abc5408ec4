// The archive on a real control plane: fed by the same Event informer as the EventStore (one
// watch), it keeps an Event the API server deleted (the TTL's effect, done explicitly here) with
// its final count, keeps a deleted VDC namespace's events with their organization, and keeps
// everything across a restart.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { MANAGED_NAMESPACES_INFORMER, NamespaceOwners } from '../../src/events/owners.js';
import type { ApiEvent } from '../../src/events/query.js';
import { EVENTS_INFORMER, EventStore } from '../../src/events/store.js';
import { signToken } from '../../src/http/auth.js';
import { createApiServer, type ApiServer } from '../../src/http/server.js';
import { HistoryArchive } from '../../src/history/archive.js';
import { SqliteEngine } from '../../src/history/sqlite.js';
import { createMetrics } from '../../src/metrics.js';
import { organizationLabels, vdcLabels } from '../../src/resources/naming.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import { informerFor, type EventInformer, type NamespaceInformer } from '../support/informers.js';

const SECRET = 'history-integration-secret-0123456789';
const ORG = 'hist';
const ORG_NS = `org-${ORG}`;
const VDC_NS = `vdc-${ORG}-dev`;

interface Page {
  events: ApiEvent[];
  total_count: number;
}

describe('event archive on a real control plane', function () {
  this.timeout(120_000);
  let core: CoreV1Api;
  let dir: string;
  let archive: HistoryArchive;
  let store: EventStore;
  let owners: NamespaceOwners;
  let informer: EventInformer;
  let namespaceInformer: NamespaceInformer;
  let server: ApiServer;
  let url: string;
  let orgAdmin: string;
  let otherAdmin: string;

  const serve = async () => {
    server = createApiServer({
      store,
      history: archive,
      auth: { secret: new TextEncoder().encode(SECRET) },
      metrics: createMetrics(),
      health: { kubernetesReachable: () => true, informersSynced: () => informer.hasSynced(), leadership: () => 'disabled' },
    });
    url = await server.listen('127.0.0.1:0');
  };
  const list = async (query: string, token = orgAdmin) => {
    const res = await fetch(`${url}/api/v1/events?limit=200&${query}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as Page;
    expect(res.status, JSON.stringify(body)).to.equal(200);
    return body;
  };

  before(async function () {
    this.timeout(180_000);
    const cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ORG_NS, labels: organizationLabels(ORG) } } });
    await core.createNamespace({ body: { metadata: { name: VDC_NS, labels: vdcLabels(ORG, 'dev') } } });
    dir = mkdtempSync(join(tmpdir(), 'ovim-history-it-'));
    owners = new NamespaceOwners();
    namespaceInformer = await informerFor(cp.kubeConfig, MANAGED_NAMESPACES_INFORMER);
    owners.follow(namespaceInformer);
    store = new EventStore({ namespaceOwners: owners });
    informer = await informerFor(cp.kubeConfig, EVENTS_INFORMER);
    store.follow(informer);
    archive = await HistoryArchive.open({ engine: new SqliteEngine(join(dir, 'history.db')), owners });
    // The same informers: one watch on Events feeds both the store and the archive.
    archive.follow(informer).followNamespaces(namespaceInformer);
    namespaceInformer.start();
    informer.start();
    await namespaceInformer.waitForSync();
    await informer.waitForSync();
    await serve();
    orgAdmin = await signToken({ userId: '1', username: 'hist-admin', role: 'org_admin', orgId: ORG }, SECRET);
    otherAdmin = await signToken({ userId: '2', username: 'other-admin', role: 'org_admin', orgId: 'other' }, SECRET);
  });

  after(async function () {
    this.timeout(60_000);
    informer?.stop();
    namespaceInformer?.stop();
    await server?.close();
    await archive?.close();
    for (const ns of [ORG_NS, VDC_NS]) await core?.deleteNamespace({ name: ns }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps an Event the API server deleted, with its final count, and a deleted VDC namespace with its organization', async () => {
    const name = 'vm-1.history-1';
    const created = await core.createNamespacedEvent({
      namespace: VDC_NS,
      body: {
        metadata: { name, namespace: VDC_NS, annotations: { 'ovim.io/actor': 'alex' } },
        involvedObject: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm-1', namespace: VDC_NS },
        type: 'Warning',
        reason: 'StartupFailed',
        message: 'VM vm-1 failed to start',
        source: { component: 'ovim-controller' },
        firstTimestamp: new Date('2026-01-01T10:00:00Z'),
        lastTimestamp: new Date('2026-01-01T10:00:00Z'),
        count: 1,
      },
    });
    const uid = created.metadata?.uid as string;
    await waitFor('the event in the archive', async () => (await list(`namespace=${VDC_NS}`)).total_count === 1);

    const current = await core.readNamespacedEvent({ name, namespace: VDC_NS });
    current.count = 5;
    current.lastTimestamp = new Date('2026-01-01T11:00:00Z');
    await core.replaceNamespacedEvent({ name, namespace: VDC_NS, body: current });
    await waitFor('the count bump in the archive', async () => (await list(`namespace=${VDC_NS}`)).events[0]?.count === 5);

    await core.deleteNamespacedEvent({ name, namespace: VDC_NS });
    await waitFor('the deletion to reach the in-memory store', async () => store.get(uid) === undefined);
    const kept = await list(`namespace=${VDC_NS}&actor=alex`);
    expect(kept.events.map((e) => [e.id, e.count, e.last_timestamp])).to.deep.equal([[uid, 5, '2026-01-01T11:00:00Z']]);
    const foreign = await fetch(`${url}/api/v1/events?namespace=${VDC_NS}`, { headers: { authorization: `Bearer ${otherAdmin}` } });
    expect(foreign.status, 'another organization').to.equal(403);

    await core.deleteNamespace({ name: VDC_NS });
    await waitFor('the namespace to be gone', async () => owners.ownerOf(VDC_NS) === undefined, { timeoutMs: 90_000 });
    const afterDeletion = await list(`namespace=${VDC_NS}`);
    expect(afterDeletion.events.map((e) => e.id)).to.deep.equal([uid]);
    const all = await list('');
    expect(all.events.map((e) => e.id)).to.include(uid);
    const other = await list('', otherAdmin);
    expect(other.events.map((e) => e.id)).to.not.include(uid);

    // A restart (new engine, new archive, new server on the same file) keeps everything.
    await server.close();
    await archive.close();
    archive = await HistoryArchive.open({ engine: new SqliteEngine(join(dir, 'history.db')), owners: new NamespaceOwners() });
    await serve();
    const restarted = await list(`namespace=${VDC_NS}`);
    expect(restarted.events.map((e) => [e.id, e.count])).to.deep.equal([[uid, 5]]);
  });
});
