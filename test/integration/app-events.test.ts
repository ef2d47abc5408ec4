// Application-level events on a real control plane (DESIGN.md section 7): an event the backend
// posts about an existing VirtualDataCenter is recorded on it as a Kubernetes Event (kubectl
// describe shows it; the Event names the stated user, unverified, and the archive row it
// mirrors), and the archive, fed by the Event watch, still holds one row for it. An event about
// a VDC that does not exist is stored but not mirrored.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { MANAGED_NAMESPACES_INFORMER, NamespaceOwners } from '../../src/events/owners.js';
import { EventRecorder } from '../../src/events/recorder.js';
import { EVENTS_INFORMER, EventStore } from '../../src/events/store.js';
import { signToken } from '../../src/http/auth.js';
import { AppEventMirror, cachedObjectLookup, kubeObjectLookup, type ApplicationRecording } from '../../src/http/app-event-mirror.js';
import { createApiServer, type ApiServer } from '../../src/http/server.js';
import { HistoryArchive } from '../../src/history/archive.js';
import { SqliteEngine } from '../../src/history/sqlite.js';
import { installCrds } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createMetrics } from '../../src/metrics.js';
import { organizationLabels } from '../../src/resources/naming.js';
import { OVIM_GROUP, OVIM_VERSION, ORGANIZATION_PLURAL, VDC_PLURAL } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { informerFor, type EventInformer, type NamespaceInformer } from '../support/informers.js';
import { kubectlOk } from '../support/kubectl.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const SECRET = 'app-events-integration-secret-0123456789';
const ORG = 'appev';
const ORG_NS = `org-${ORG}`;

describe('application-level events on a real control plane', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let dir: string;
  let archive: HistoryArchive;
  let store: EventStore;
  let informer: EventInformer;
  let namespaceInformer: NamespaceInformer;
  let recorder: EventRecorder;
  let client: KubeClient;
  let mirror: AppEventMirror;
  let vdcInformer: Awaited<ReturnType<typeof informerFor>>;
  /** Lookups the VDC cache could not answer. */
  const serverLookups: string[] = [];
  let server: ApiServer;
  let url: string;
  let admin: string;

  const post = async (body: unknown) => {
    const res = await fetch(`${url}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { id: string } };
  };
  const list = async (query: string) => {
    const res = await fetch(`${url}/api/v1/events?${query}`, { headers: { authorization: `Bearer ${admin}` } });
    return (await res.json()) as { events: { id: string; reason: string }[]; total_count: number };
  };

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await installCrds(cp.kubeConfig);
    await core.createNamespace({ body: { metadata: { name: ORG_NS, labels: organizationLabels(ORG) } } });
    await custom.createClusterCustomObject({
      group: OVIM_GROUP,
      version: OVIM_VERSION,
      plural: ORGANIZATION_PLURAL,
      body: { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: ORG }, spec: { displayName: 'App events', admins: ['appev-admins'] } },
    });
    await custom.createNamespacedCustomObject({
      group: OVIM_GROUP,
      version: OVIM_VERSION,
      plural: VDC_PLURAL,
      namespace: ORG_NS,
      body: {
        apiVersion: 'ovim.io/v1',
        kind: 'VirtualDataCenter',
        metadata: { name: 'dev', namespace: ORG_NS },
        spec: { organizationRef: ORG, displayName: 'Dev', quota: { cpu: '4', memory: '8Gi', storage: '100Gi' } },
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'ovim-app-events-it-'));
    const owners = new NamespaceOwners();
    namespaceInformer = await informerFor(cp.kubeConfig, MANAGED_NAMESPACES_INFORMER);
    owners.follow(namespaceInformer);
    store = new EventStore({ namespaceOwners: owners });
    informer = await informerFor(cp.kubeConfig, EVENTS_INFORMER);
    store.follow(informer);
    archive = await HistoryArchive.open({ engine: new SqliteEngine(join(dir, 'history.db')), owners });
    archive.follow(informer).followNamespaces(namespaceInformer);
    namespaceInformer.start();
    informer.start();
    await namespaceInformer.waitForSync();
    await informer.waitForSync();
    recorder = EventRecorder.create(cp.kubeConfig, { component: 'ovim-api' });
    client = await KubeClient.create(cp.kubeConfig);
    // VDCs from an informer cache, as the program wires it; the rest (and misses) from the server.
    vdcInformer = await informerFor(cp.kubeConfig, { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', plural: VDC_PLURAL });
    vdcInformer.start();
    await vdcInformer.waitForSync();
    const fromServer = kubeObjectLookup(client);
    const lookup = cachedObjectLookup(
      (kind) => (kind === 'VirtualDataCenter' ? vdcInformer : undefined),
      (kind, name, namespace) => {
        serverLookups.push(`${kind} ${namespace ?? ''}/${name}`);
        return fromServer(kind, name, namespace);
      },
    );
    mirror = new AppEventMirror(lookup, recorder as unknown as ApplicationRecording);
    server = createApiServer({
      store,
      history: archive,
      appEvents: { mirror, securityNamespace: 'default' },
      auth: { secret: new TextEncoder().encode(SECRET) },
      metrics: createMetrics(),
      health: { kubernetesReachable: () => true, informersSynced: () => informer.hasSynced(), leadership: () => 'disabled' },
    });
    url = await server.listen('127.0.0.1:0');
    admin = await signToken({ userId: 'backend-1', username: 'ovim-backend', role: 'system_admin', orgId: '' }, SECRET);
  });

  after(async function () {
    this.timeout(60_000);
    informer?.stop();
    namespaceInformer?.stop();
    vdcInformer?.stop();
    await server?.close();
    await recorder?.stop(5_000);
    client?.close();
    await archive?.close();
    await custom
      ?.deleteNamespacedCustomObject({ group: OVIM_GROUP, version: OVIM_VERSION, plural: VDC_PLURAL, namespace: ORG_NS, name: 'dev' })
      .catch(() => undefined);
    await custom?.deleteClusterCustomObject({ group: OVIM_GROUP, version: OVIM_VERSION, plural: ORGANIZATION_PLURAL, name: ORG }).catch(() => undefined);
    await core?.deleteNamespace({ name: ORG_NS }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('records an event about an existing VDC on it (kubectl describe), with the stated actor, and keeps one archive row', async () => {
    const res = await post({
      name: 'dev-resize-1',
      type: 'Normal',
      reason: 'VDCResizeRequested',
      message: 'Resize of VDC dev requested by alice in the UI',
      category: 'vdc',
      org_id: ORG,
      vdc_id: 'dev',
      username: 'alice',
      involved_object_kind: 'VirtualDataCenter',
      involved_object_name: 'dev',
      involved_object_namespace: ORG_NS,
    });
    expect(res.status).to.equal(201);
    const id = res.body.id;
    const described = await waitFor('the event in kubectl describe', async () => {
      const out = await kubectlOk(cp.kubeconfigPath, ['describe', 'vdc', 'dev', '-n', ORG_NS]);
      return /Normal\s+VDCResizeRequested\s+\S+\s+ovim-api\s+Resize of VDC dev requested by alice in the UI/.test(out) ? out : false;
    });
    expect(described).to.include('VDCResizeRequested');
    const k8s = (await core.listNamespacedEvent({ namespace: ORG_NS, fieldSelector: 'reason=VDCResizeRequested' })).items;
    expect(k8s).to.have.length(1);
    expect(k8s[0]?.metadata.annotations).to.include({
      'ovim.io/actor': 'alice',
      'ovim.io/actor-verified': 'false',
      'ovim.io/source-event-id': id,
    });
    // The watch delivered the Kubernetes copy (the in-memory store has it)...
    const copyUid = k8s[0]?.metadata.uid as string;
    await waitFor('the copy in the in-memory store', async () => store.get(copyUid) !== undefined);
    await archive.flush();
    // ...and the archive still holds the application's row only.
    const rows = await list('reason=VDCResizeRequested');
    expect(rows.events.map((e) => e.id)).to.deep.equal([id]);
    expect(mirror.counters).to.include({ mirrored: 1, failed: 0 });
    expect(serverLookups, 'the VDC came from the informer cache').to.deep.equal([]);
  });

  it('stores an event about a VDC that does not exist without recording a Kubernetes Event', async () => {
    const res = await post({
      reason: 'VDCResizeRequested',
      message: 'Resize of VDC ghost requested',
      org_id: ORG,
      involved_object_kind: 'VirtualDataCenter',
      involved_object_name: 'ghost',
      involved_object_namespace: ORG_NS,
    });
    expect(res.status).to.equal(201);
    await waitFor('the lookup to finish', async () => mirror.counters.notFound === 1);
    // A miss in the cache asks the API server (an object created a moment ago may not be cached yet).
    expect(serverLookups).to.deep.equal([`VirtualDataCenter ${ORG_NS}/ghost`]);
    const k8s = (await core.listNamespacedEvent({ namespace: ORG_NS, fieldSelector: 'involvedObject.name=ghost' })).items;
    expect(k8s).to.have.length(0);
    expect((await list('reason=VDCResizeRequested')).total_count).to.equal(2);
  });
});
