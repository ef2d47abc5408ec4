// VM lifecycle events on the real control plane with the authored kubevirt.io/v1 VirtualMachine
// CRD: the test writes `status` as virt-controller would. The whole program runs (startOvim:
// operator, API, archive), so restarts keep the archive's "last reported" state. The its build
// on each other in order.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../src/config.js';
import type { EventRecorder } from '../../src/events/recorder.js';
import { signToken } from '../../src/http/auth.js';
import { installCrds, loadTestVmCrd } from '../../src/kube/crds.js';
import { isNotFound } from '../../src/kube/errors.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startOvim, type Ovim } from '../../src/main.js';
import type { VirtualDataCenter } from '../../src/resources/types.js';
import type { ControlPlane } from '../support/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { kubectlOk } from '../support/kubectl.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'vm-integration-secret-0123456789abcdef';
const sfx = randomBytes(2).toString('hex');
const ORG = `vmorg${sfx}`;
const VDC = 'dev';
const TINY = 'tiny';
const NS = `vdc-${ORG}-${VDC}`;
const TINY_NS = `vdc-${ORG}-${TINY}`;
const PLAIN_NS = `plain-${sfx}`;
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/virtualmachines.kubevirt.io';

interface CoreEvent {
  type: string;
  reason: string;
  message: string;
  count?: number;
  metadata: { name: string; annotations?: Record<string, string> };
  involvedObject: { apiVersion?: string; kind: string; name: string; namespace?: string; uid?: string };
}

describe('VM lifecycle events (KubeVirt VirtualMachines)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let ovim: Ovim | undefined;
  let dir: string;
  const config: OperatorConfig = { ...DEFAULT_CONFIG, resyncPeriodMs: 0, history: { path: '', archiveAllEvents: false } };

  const start = async () => {
    ovim = await startOvim(cp.kubeConfig, config, { address: '127.0.0.1:0', auth: { secret: new TextEncoder().encode(SECRET) }, maxEvents: 10_000 }, createLogger('error', true), {
      vmCrdPollMs: 200,
    });
    return ovim;
  };
  const stop = async () => {
    await ovim?.stop();
    ovim = undefined;
  };
  /** Until the VM queue is empty and every recorded event is written. */
  const settle = async () => {
    expect(await ovim?.vms.waitIdle(60_000), 'the VM watcher became idle').to.equal(true);
    expect(await ovim?.operator.waitIdle(60_000), 'the operator became idle').to.equal(true);
    expect(await (ovim?.operator.recorder as EventRecorder).flush(20_000), 'events flushed').to.equal(true);
  };

  const vmPath = (ns: string, name = '') => `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines${name ? `/${name}` : ''}`;
  async function createVm(ns: string, name: string, actor = 'vm-user'): Promise<string> {
    const vm = await api.create<{ metadata: { uid: string } }>(vmPath(ns), {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name, namespace: ns, annotations: { 'ovim.io/requested-by': actor } },
      spec: { runStrategy: 'Always', template: { spec: { domain: { devices: {} } } } },
    });
    return vm.metadata.uid;
  }
  /** The quota controller counts VMs only once it discovered the new kind (admission waits for it). */
  const quotaCountsVms = (ns: string) =>
    waitFor(`${ns}: the quota counts VMs`, async () => {
      const q = await api.get<{ status?: { used?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/resourcequotas/vdc-quota`);
      return q.status?.used?.['count/virtualmachines.kubevirt.io'] !== undefined;
    }, { timeoutMs: 120_000 });
  /** A status write as virt-controller does it (the status subresource). */
  async function setStatus(ns: string, name: string, status: Record<string, unknown>): Promise<void> {
    await api.patch(`${vmPath(ns, name)}/status`, { status }, 'merge');
  }
  async function deleteVm(ns: string, name: string): Promise<void> {
    await api.delete(vmPath(ns, name));
    await waitFor(`VM ${name} gone`, async () => {
      try {
        await api.get(vmPath(ns, name));
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    });
  }
  async function vmEvents(ns: string, uid: string): Promise<CoreEvent[]> {
    return (await api.list<CoreEvent>(`/api/v1/namespaces/${ns}/events`, { fieldSelector: `involvedObject.uid=${uid}` })).items;
  }
  /** Occurrences per reason (an Event's count folds repeats). */
  async function reasonCounts(ns: string, uid: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const events = (await vmEvents(ns, uid)).sort((a, b) => a.reason.localeCompare(b.reason));
    for (const e of events) out[e.reason] = (out[e.reason] ?? 0) + (e.count ?? 1);
    return out;
  }
  const waitReasons = (ns: string, uid: string, want: Record<string, number>) =>
    waitFor(`events ${JSON.stringify(want)}`, async () => {
      const got = await reasonCounts(ns, uid);
      const sorted = Object.fromEntries(Object.entries(want).sort(([a], [b]) => a.localeCompare(b)));
      return JSON.stringify(got) === JSON.stringify(sorted) ? got : undefined;
    });
  async function createVdc(name: string, virtualMachines: number): Promise<void> {
    await api.create(`/apis/ovim.io/v1/namespaces/org-${ORG}/virtualdatacenters`, {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name, namespace: `org-${ORG}` },
      spec: { organizationRef: ORG, displayName: name, quota: { cpu: '4', memory: '8Gi', storage: '100Gi', virtualMachines } },
    });
    await waitFor(`VDC ${name} active`, async () => (await api.get<VirtualDataCenter>(`/apis/ovim.io/v1/namespaces/org-${ORG}/virtualdatacenters/${name}`)).status?.phase === 'Active', { timeoutMs: 60_000 });
  }

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    api = await KubeClient.create(cp.kubeConfig);
    await installCrds(cp.kubeConfig);
    // Start without KubeVirt: another suite may have installed a VirtualMachine CRD.
    await api.delete(CRD_PATH).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await waitFor('no VirtualMachine CRD', async () => api.get(CRD_PATH).then(() => false, (err: unknown) => isNotFound(err)));
    dir = mkdtempSync(join(tmpdir(), 'ovim-vm-it-'));
    config.history = { path: join(dir, 'history.db'), archiveAllEvents: false };
    await start();
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name: ORG },
      spec: { displayName: ORG, admins: [`${ORG}-admins`] },
    });
    // The VDC lives in the organization's namespace, which the operator creates.
    await waitFor(`namespace org-${ORG}`, async () => api.get(`/api/v1/namespaces/org-${ORG}`).then(() => true, () => false), { timeoutMs: 60_000 });
    await createVdc(VDC, 50);
    await api.create('/api/v1/namespaces', { metadata: { name: PLAIN_NS } });
  });

  after(async function () {
    this.timeout(120_000);
    await stop();
    for (const [ns, name] of [[`org-${ORG}`, VDC], [`org-${ORG}`, TINY]]) {
      await api?.delete(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters/${name}`).catch(() => undefined);
    }
    await api?.delete(`/api/v1/namespaces/${PLAIN_NS}`).catch(() => undefined);
    // The organization's finalizer needs the operator; its namespaces go with the control plane.
    api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('without the CRD the operator is healthy and the VM watcher idle; it starts once the CRD is installed', async () => {
    const health = await fetch(`${ovim?.apiUrl}/health`);
    expect(health.status).to.equal(200);
    expect(ovim?.vms.watching).to.equal(false);
    expect(await installCrds(cp.kubeConfig, 30_000, loadTestVmCrd())).to.deep.equal(['virtualmachines.kubevirt.io']);
    await cp.restartControllerManager(); // its quota controller discovers the new kind at start
    await waitFor('the VM watcher started', async () => ovim?.vms.watching === true);
    await quotaCountsVms(NS);
  });

  it('the authored CRD: short names, printer columns, the printableStatus enum', async () => {
    const uid = await createVm(NS, 'crd-check');
    await setStatus(NS, 'crd-check', { printableStatus: 'Provisioning', created: false, ready: false });
    const table = await kubectlOk(cp.kubeconfigPath, ['get', 'vms', '-n', NS, 'crd-check']);
    expect(table).to.match(/NAME\s+AGE\s+STATUS\s+READY/).and.match(/crd-check\s+\S+\s+Provisioning/);
    let rejected = '';
    await setStatus(NS, 'crd-check', { printableStatus: 'Sleeping' }).catch((err: Error) => (rejected = err.message));
    expect(rejected).to.match(/Unsupported value: "Sleeping"/);
    await deleteVm(NS, 'crd-check');
    await settle();
    await waitReasons(NS, uid, { VMCreated: 1, VMDeleted: 1 });
  });

  let lifeUid = '';
  it('create, start, stop, delete: the four Normal events, in kubectl describe and get events', async () => {
    lifeUid = await createVm(NS, 'life');
    await waitReasons(NS, lifeUid, { VMCreated: 1 });
    for (const printableStatus of ['Provisioning', 'Starting', 'Running']) await setStatus(NS, 'life', { printableStatus });
    await setStatus(NS, 'life', { ready: true, created: true, conditions: [{ type: 'Ready', status: 'True' }] });
    await waitReasons(NS, lifeUid, { VMCreated: 1, VMStarted: 1 });
    await setStatus(NS, 'life', { printableStatus: 'Stopping', ready: false });
    await setStatus(NS, 'life', { printableStatus: 'Stopped' });
    await waitReasons(NS, lifeUid, { VMCreated: 1, VMStarted: 1, VMStopped: 1 });
    const described = await kubectlOk(cp.kubeconfigPath, ['describe', 'vm', '-n', NS, 'life']);
    for (const reason of ['VMCreated', 'VMStarted', 'VMStopped']) expect(described).to.match(new RegExp(`Normal\\s+${reason}\\s`));
    expect(described).to.include(`Virtual machine 'life' started in VDC '${VDC}' of organization '${ORG}'`);
    await deleteVm(NS, 'life');
    await waitReasons(NS, lifeUid, { VMCreated: 1, VMStarted: 1, VMStopped: 1, VMDeleted: 1 });
    // Hidden from nobody: kubectl finds them by kind, with the VM's apiVersion and uid.
    const out = await kubectlOk(cp.kubeconfigPath, ['get', 'events', '-n', NS, '--field-selector', 'involvedObject.kind=VirtualMachine,involvedObject.name=life', '-o', 'json']);
    const items = (JSON.parse(out) as { items: CoreEvent[] }).items;
    expect(items.map((e) => e.reason).sort()).to.deep.equal(['VMCreated', 'VMDeleted', 'VMStarted', 'VMStopped']);
    for (const e of items) {
      expect(e.involvedObject).to.include({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', uid: lifeUid, namespace: NS });
      expect(e.metadata.annotations).to.include({ 'ovim.io/organization': ORG, 'ovim.io/vdc': VDC });
      // VMDeleted's actor is the deleter, which only the webhook stamps (not installed here): none.
      expect(e.metadata.annotations?.['ovim.io/actor']).to.equal(e.reason === 'VMDeleted' ? undefined : 'vm-user');
    }
  });

  it('ErrImagePull before ever running → one ProvisioningFailed (ImagePullBackOff is the same occurrence)', async () => {
    const uid = await createVm(NS, 'pull');
    for (const printableStatus of ['Provisioning', 'ErrImagePull', 'ImagePullBackOff', 'ErrImagePull']) await setStatus(NS, 'pull', { printableStatus });
    await settle();
    await waitReasons(NS, uid, { VMCreated: 1, ProvisioningFailed: 1 });
    const [failed] = (await vmEvents(NS, uid)).filter((e) => e.reason === 'ProvisioningFailed');
    expect(failed?.type).to.equal('Warning');
    expect(failed?.message).to.match(/failed to provision: ErrImagePull/);
  });

  it('CrashLoopBackOff → one StartupFailed, none more on resync', async () => {
    const uid = await createVm(NS, 'crash');
    await setStatus(NS, 'crash', { printableStatus: 'Starting' });
    await setStatus(NS, 'crash', { printableStatus: 'CrashLoopBackOff', startFailure: { consecutiveFailCount: 1, retryAfterTimestamp: new Date().toISOString() } });
    await setStatus(NS, 'crash', { printableStatus: 'Starting', startFailure: { consecutiveFailCount: 1 } });
    await setStatus(NS, 'crash', { printableStatus: 'CrashLoopBackOff', startFailure: { consecutiveFailCount: 2 } });
    await settle();
    await waitReasons(NS, uid, { VMCreated: 1, StartupFailed: 1 });
    const before = ovim?.vms.recorded.get('StartupFailed');
    expect(ovim?.vms.controller.resyncAll()).to.be.greaterThan(0);
    await settle();
    expect(ovim?.vms.recorded.get('StartupFailed')).to.equal(before);
    expect(await reasonCounts(NS, uid)).to.deep.equal({ StartupFailed: 1, VMCreated: 1 });
  });

  let runUid = '';
  it('a restart mid-life repeats nothing, also after the API server deleted the earlier events', async () => {
    runUid = await createVm(NS, 'steady');
    await setStatus(NS, 'steady', { printableStatus: 'Running' });
    await waitReasons(NS, runUid, { VMCreated: 1, VMStarted: 1 });
    await settle();
    await stop();
    // The event TTL, explicitly: the Events are gone; only the archive remembers.
    for (const e of await vmEvents(NS, runUid)) await api.delete(`/api/v1/namespaces/${NS}/events/${e.metadata.name}`);
    await start();
    await waitFor('the VM watcher started', async () => ovim?.vms.watching === true);
    await settle();
    expect([...(ovim?.vms.recorded.entries() ?? [])]).to.deep.equal([]);
    expect(await vmEvents(NS, runUid)).to.deep.equal([]);
  });

  it('VMs created, started and deleted while the operator was stopped: caught up once on start', async () => {
    await stop();
    const uid = await createVm(NS, 'offline');
    await setStatus(NS, 'offline', { printableStatus: 'Running' });
    await deleteVm(NS, 'steady');
    await start();
    await waitFor('the VM watcher started', async () => ovim?.vms.watching === true);
    await settle();
    await waitReasons(NS, uid, { VMCreated: 1, VMStarted: 1 });
    await waitReasons(NS, runUid, { VMDeleted: 1 });
    // And a second start repeats none of it.
    await stop();
    await start();
    await waitFor('the VM watcher started', async () => ovim?.vms.watching === true);
    await settle();
    expect([...(ovim?.vms.recorded.entries() ?? [])]).to.deep.equal([]);
    expect(await reasonCounts(NS, uid)).to.deep.equal({ VMCreated: 1, VMStarted: 1 });
  });

  it('VMs outside VDC namespaces are ignored', async () => {
    const before = [...(ovim?.vms.recorded.entries() ?? [])];
    const uid = await createVm(PLAIN_NS, 'outsider');
    await setStatus(PLAIN_NS, 'outsider', { printableStatus: 'Running' });
    await waitFor('the watcher saw it', async () => ovim?.vms.informer?.get('outsider', PLAIN_NS)?.status?.printableStatus === 'Running');
    await settle();
    expect([...(ovim?.vms.recorded.entries() ?? [])]).to.deep.equal(before);
    expect(await vmEvents(PLAIN_NS, uid)).to.deep.equal([]);
  });

  it('the API: kind=VirtualMachine, vdc= finds VMDeleted of a deleted VM; an org user does not see VM events whose requester was only typed in (no webhook here: unverified)', async () => {
    const admin = await signToken({ userId: '1', username: 'root', role: 'system_admin' }, SECRET);
    const res = await fetch(`${ovim?.apiUrl}/api/v1/events?kind=VirtualMachine&vdc=${VDC}&reason=VMDeleted&limit=100`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { events: { involved_object_name: string; involved_object_kind: string; reason: string }[] };
    expect(body.events.map((e) => e.involved_object_name)).to.include.members(['life', 'steady']);
    expect(body.events.every((e) => e.involved_object_kind === 'VirtualMachine' && e.reason === 'VMDeleted')).to.equal(true);
    const user = await signToken({ userId: '2', username: 'vm-user', role: 'org_user', orgId: ORG }, SECRET);
    const mine = await fetch(`${ovim?.apiUrl}/api/v1/events?kind=VirtualMachine&limit=200`, { headers: { authorization: `Bearer ${user}` } });
    expect(mine.status).to.equal(200);
    const seen = (await mine.json()) as { events: { reason: string }[] };
    // The VMs name vm-user in requested-by, but no admission webhook stamped it (DESIGN.md section 8):
    // the system admin sees those events marked unverified, the org user named in them sees none.
    expect(seen.events).to.deep.equal([]);
    const named = await fetch(`${ovim?.apiUrl}/api/v1/events?kind=VirtualMachine&actor=vm-user&limit=200`, { headers: { authorization: `Bearer ${admin}` } });
    const byAdmin = (await named.json()) as { events: { reason: string; actor_verified?: boolean }[] };
    expect(new Set(byAdmin.events.map((e) => e.reason))).to.include('VMStarted');
    expect(byAdmin.events.every((e) => e.actor_verified === false)).to.equal(true);
  });

  it('VDC status: virtualMachines and pods {total, running}, shown by kubectl get vdc -o wide, written only when changed', async () => {
    // Left in the VDC namespace: pull (ErrImagePull), crash (CrashLoopBackOff), offline (Running).
    for (const name of ['p1', 'p2', 'p3']) {
      await api.create(`/api/v1/namespaces/${NS}/pods`, { metadata: { name }, spec: { containers: [{ name: 'c', image: 'example.invalid/app:1' }] } });
    }
    // No kubelet here: the test writes the phases.
    await api.patch(`/api/v1/namespaces/${NS}/pods/p1/status`, { status: { phase: 'Running' } }, 'merge');
    await api.patch(`/api/v1/namespaces/${NS}/pods/p3/status`, { status: { phase: 'Succeeded' } }, 'merge');
    const vdcPath = `/apis/ovim.io/v1/namespaces/org-${ORG}/virtualdatacenters/${VDC}`;
    const want = { virtualMachines: { total: 3, running: 1 }, pods: { total: 2, running: 1 } };
    let seen = '';
    await waitFor('the counts in the VDC status', async () => {
      const s = (await api.get<VirtualDataCenter>(vdcPath)).status;
      const got = { virtualMachines: { total: s?.virtualMachines?.total, running: s?.virtualMachines?.running }, pods: { total: s?.pods?.total, running: s?.pods?.running } };
      seen = JSON.stringify(got);
      return seen === JSON.stringify(want);
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last seen ${seen}`);
    });
    const wide = await kubectlOk(cp.kubeconfigPath, ['get', 'vdc', '-n', `org-${ORG}`, VDC, '-o', 'wide']);
    expect(wide).to.match(/VMS\s+RUNNING VMS/).and.match(new RegExp(`${VDC}\\s.*\\s3\\s+1\\s`));
    await settle();
    expect(await ovim?.workload.waitIdle(30_000)).to.equal(true);
    const writes = ovim?.workload.writes;
    for (const v of ovim?.operator.informers.vdcs.list() ?? []) if (v.status?.namespace) ovim?.workload.enqueue(v.status.namespace);
    ovim?.vms.controller.resyncAll();
    await settle();
    expect(await ovim?.workload.waitIdle(30_000)).to.equal(true);
    expect(ovim?.workload.writes, 'no status write on resync').to.equal(writes);
  });

  it("the VDC's count/virtualmachines.kubevirt.io quota at its hard limit gives QuotaExceeded", async () => {
    await createVdc(TINY, 1);
    await quotaCountsVms(TINY_NS);
    await createVm(TINY_NS, 'only');
    await waitFor('QuotaExceeded on the VDC', async () => {
      const list = await api.list<CoreEvent>(`/api/v1/namespaces/org-${ORG}/events`, { fieldSelector: `involvedObject.name=${TINY},reason=QuotaExceeded` });
      return list.items.length > 0 ? list.items : undefined;
    }, { timeoutMs: 90_000 });
  });

  it('the operator never wrote a VirtualMachine (its client counts every write by resource)', () => {
    const writes = ovim?.operator.client.stats.writesByResource ?? {};
    expect(Object.keys(writes).length, 'the client counted writes').to.be.greaterThan(0);
    expect(Object.keys(writes).filter((k) => k.includes('virtualmachines'))).to.deep.equal([]);
  });
});
