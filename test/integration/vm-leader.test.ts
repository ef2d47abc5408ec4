// The VM watcher and the workload counter under leader election, on the real control plane and
// a real PostgreSQL archive shared by two replicas (the deployment README describes for several
// replicas): a follower records no VM event and writes no count; a replica that gains the lease
// re-decides every VM at once against what the previous leader reported (nothing repeated, what
// happened meanwhile recorded once) and writes the VDCs' counts at once, not on the next change.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../src/config.js';
import type { EventRecorder } from '../../src/events/recorder.js';
import { installCrds, loadTestVmCrd } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startOvim, type Ovim } from '../../src/main.js';
import type { VirtualDataCenter } from '../../src/resources/types.js';
import type { ControlPlane } from '../support/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { testPostgres } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const sfx = randomBytes(2).toString('hex');
const ORG = `vmle${sfx}`;
const LEASE = `vm-le-${sfx}`;
const SECRET = 'vm-leader-secret-0123456789abcdefghij';
const VMS_NS = `vdc-${ORG}-vms`;
const PODS_NS = `vdc-${ORG}-pods`;

interface Lease {
  metadata: { resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

describe('VM watcher and workload counts under leader election (shared PostgreSQL archive)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let databaseUrl = '';
  const replicas: Ovim[] = [];

  const start = async (identity: string): Promise<Ovim> => {
    const config: OperatorConfig = {
      ...DEFAULT_CONFIG,
      resyncPeriodMs: 0,
      // With a database URL the file path is unused.
      history: { path: 'unused.db', archiveAllEvents: false, databaseUrl },
      // Long enough that a loaded machine does not make a renewing leader miss its deadline.
      leaderElection: { enabled: true, namespace: 'default', name: LEASE, identity, leaseDurationMs: 10_000, renewDeadlineMs: 8_000, retryPeriodMs: 1_000 },
    };
    const ovim = await startOvim(cp.kubeConfig, config, { address: '127.0.0.1:0', auth: { secret: new TextEncoder().encode(SECRET) }, maxEvents: 10_000 }, createLogger('error', true), {
      vmCrdPollMs: 200,
      // A lost lease stops the operator; the test stops the rest itself.
      onLostLeadership: () => undefined,
    });
    replicas.push(ovim);
    return ovim;
  };
  const settle = async (ovim: Ovim) => {
    expect(await ovim.vms.waitIdle(60_000), 'the VM watcher became idle').to.equal(true);
    expect(await ovim.workload.waitIdle(60_000), 'the workload counter became idle').to.equal(true);
    expect(await (ovim.operator.recorder as EventRecorder).flush(20_000), 'events flushed').to.equal(true);
  };
  const leasePath = `/apis/coordination.k8s.io/v1/namespaces/default/leases/${LEASE}`;
  /** Rewrites the Lease as another holder would (retried on a conflict with a renewing leader). */
  const writeLease = (spec: NonNullable<Lease['spec']>) =>
    waitFor('the lease written', async () => {
      const lease = await api.get<Lease>(leasePath);
      return api.request('PUT', leasePath, { verb: 'update', body: { ...lease, spec: { ...lease.spec, ...spec } } }).then(() => true, () => false);
    });
  const vmPath = (ns: string, name = '') => `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines${name ? `/${name}` : ''}`;
  const createVm = async (name: string) =>
    (await api.create<{ metadata: { uid: string } }>(vmPath(VMS_NS), { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name, annotations: { 'ovim.io/requested-by': 'vm-user' } }, spec: { runStrategy: 'Always', template: {} } })).metadata.uid;
  const setStatus = (name: string, printableStatus: string) => api.patch(`${vmPath(VMS_NS, name)}/status`, { status: { printableStatus } }, 'merge');
  /** Occurrences per reason in the API server (an Event's count folds repeats). */
  async function reasonCounts(uid: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const items = (await api.list<{ reason: string; count?: number }>(`/api/v1/namespaces/${VMS_NS}/events`, { fieldSelector: `involvedObject.uid=${uid}` })).items;
    for (const e of items.sort((a, b) => a.reason.localeCompare(b.reason))) out[e.reason] = (out[e.reason] ?? 0) + (e.count ?? 1);
    return out;
  }
  const waitReasons = (uid: string, want: Record<string, number>) =>
    waitFor(`events ${JSON.stringify(want)}`, async () => {
      const got = await reasonCounts(uid);
      return JSON.stringify(got) === JSON.stringify(Object.fromEntries(Object.entries(want).sort(([a], [b]) => a.localeCompare(b)))) ? got : undefined;
    });
  const vdcStatus = async (name: string) => (await api.get<VirtualDataCenter>(`/apis/ovim.io/v1/namespaces/org-${ORG}/virtualdatacenters/${name}`)).status;
  const countsOf = async (name: string) => {
    const s = await vdcStatus(name);
    const c = (x?: { total?: number; running?: number }) => x && { total: x.total, running: x.running };
    return JSON.stringify({ vms: c(s?.virtualMachines), pods: c(s?.pods) });
  };

  before(async function () {
    this.timeout(300_000);
    cp = await controlPlane();
    api = await KubeClient.create(cp.kubeConfig);
    await installCrds(cp.kubeConfig);
    // Newly installed: the quota controller discovers the kind when it starts (else within 30 s).
    if ((await installCrds(cp.kubeConfig, 30_000, loadTestVmCrd())).length > 0) await cp.restartControllerManager();
    const pg = await testPostgres();
    const name = `ovim_vmle_${sfx}`;
    await pg.createDatabase(name);
    databaseUrl = pg.urlOf(name);
  });

  after(async function () {
    this.timeout(120_000);
    for (const r of replicas.splice(0).reverse()) await r.stop();
    api?.close();
  });

  it('a follower records nothing; a new leader re-decides every VM without repeats and writes the counts at once', async () => {
    // Replica a leads: it provisions the VDCs and reports a VM that runs.
    const a = await start('replica-a');
    await waitFor('replica a leads', async () => a.operator.isLeader());
    await waitFor('the VM watcher started', async () => a.vms.watching);
    await api.create('/apis/ovim.io/v1/organizations', { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: ORG }, spec: { displayName: ORG, admins: [`${ORG}-admins`] } });
    await waitFor(`namespace org-${ORG}`, async () => api.get(`/api/v1/namespaces/org-${ORG}`).then(() => true, () => false), { timeoutMs: 60_000 });
    for (const vdc of ['vms', 'pods']) {
      await api.create(`/apis/ovim.io/v1/namespaces/org-${ORG}/virtualdatacenters`, {
        apiVersion: 'ovim.io/v1',
        kind: 'VirtualDataCenter',
        metadata: { name: vdc },
        spec: { organizationRef: ORG, displayName: vdc, quota: { cpu: '4', memory: '8Gi', storage: '100Gi', virtualMachines: 10 } },
      });
      await waitFor(`VDC ${vdc} active`, async () => (await vdcStatus(vdc))?.phase === 'Active', { timeoutMs: 60_000 });
    }
    // The quota admits VMs only once the quota controller counts them.
    await waitFor(`${VMS_NS}: the quota counts VMs`, async () => {
      const q = await api.get<{ status?: { used?: Record<string, string> } }>(`/api/v1/namespaces/${VMS_NS}/resourcequotas/vdc-quota`);
      return q.status?.used?.['count/virtualmachines.kubevirt.io'] !== undefined;
    }, { timeoutMs: 120_000 });
    const first = await createVm('first');
    await setStatus('first', 'Running');
    await waitReasons(first, { VMCreated: 1, VMStarted: 1 }).catch(async (err: Error) => {
      throw new Error(`${err.message}; replica a recorded ${JSON.stringify(Object.fromEntries(a.vms.recorded))}, events of the VM ${JSON.stringify(await reasonCounts(first))}, cached ${JSON.stringify(a.vms.informer?.get('first', VMS_NS))}`);
    });
    await waitFor('the counts of replica a', async () => (await countsOf('vms')) === JSON.stringify({ vms: { total: 1, running: 1 }, pods: { total: 0, running: 0 } }));
    // A pod that does not run yet (no kubelet here: the test writes the phases); the quota counts it now.
    await api.create(`/api/v1/namespaces/${PODS_NS}/pods`, { metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'example.invalid/app:1' }] } });
    await waitFor('the pod counted by replica a', async () => (await countsOf('pods')) === JSON.stringify({ vms: { total: 0, running: 0 }, pods: { total: 1, running: 0 } }));

    // Replica b follows: it sees the VM, records nothing, writes no count.
    const b = await start('replica-b');
    await waitFor('replica b watches VMs', async () => b.vms.informer?.get('first', VMS_NS)?.status?.printableStatus === 'Running');
    await settle(b);
    expect(b.operator.isLeader()).to.equal(false);
    expect([...b.vms.recorded.entries()], 'the follower recorded no VM event').to.deep.equal([]);
    expect(b.workload.writes, 'the follower wrote no count').to.equal(0);
    // What the leader reports after b started is in the shared archive only (b loaded its rows before).
    const later = await createVm('later');
    await setStatus('later', 'Running');
    await waitReasons(later, { VMCreated: 1, VMStarted: 1 });
    await settle(a);

    // Another holder takes the lease (as a replica would after a's lease expired): a stops leading.
    const now = new Date().toISOString().replace('Z', '000Z');
    await writeLease({ holderIdentity: 'someone-else', leaseDurationSeconds: 3600, renewTime: now, acquireTime: now });
    await waitFor('replica a lost the lease', async () => !a.operator.isLeader(), { timeoutMs: 60_000 });
    await a.stop();
    replicas.splice(replicas.indexOf(a), 1);

    // Meanwhile, with no leader: the VM stops, another is created and runs, the pod runs (a change
    // only the running count sees: nothing else writes that VDC's status when b takes over).
    await setStatus('first', 'Stopped');
    const second = await createVm('second');
    await setStatus('second', 'Running');
    await api.patch(`/api/v1/namespaces/${PODS_NS}/pods/p1/status`, { status: { phase: 'Running' } }, 'merge');
    await waitFor('replica b saw it all', async () =>
      b.vms.informer?.get('first', VMS_NS)?.status?.printableStatus === 'Stopped' && b.vms.informer?.get('later', VMS_NS) !== undefined && b.vms.informer?.get('second', VMS_NS)?.status?.printableStatus === 'Running' && b.workload.counts(PODS_NS).pods.running === 1,
    );
    await settle(b);
    expect(b.operator.isLeader()).to.equal(false);
    expect([...b.vms.recorded.entries()], 'still a follower: nothing recorded').to.deep.equal([]);
    expect(b.workload.writes).to.equal(0);
    expect(await reasonCounts(second)).to.deep.equal({});

    // The other holder lets go: b takes the lease and catches up at once.
    await writeLease({ holderIdentity: '', leaseDurationSeconds: 1 });
    await waitFor('replica b leads', async () => b.operator.isLeader(), { timeoutMs: 60_000 });
    await waitReasons(first, { VMCreated: 1, VMStarted: 1, VMStopped: 1 }).catch(async (err: Error) => {
      throw new Error(`${err.message}; replica b recorded ${JSON.stringify(Object.fromEntries(b.vms.recorded))}, events of the VM ${JSON.stringify(await reasonCounts(first))}`);
    });
    await waitReasons(second, { VMCreated: 1, VMStarted: 1 });
    await waitFor('the pod count written without another change', async () => (await countsOf('pods')) === JSON.stringify({ vms: { total: 0, running: 0 }, pods: { total: 1, running: 1 } }));
    await waitFor('the VM counts', async () => (await countsOf('vms')) === JSON.stringify({ vms: { total: 3, running: 2 }, pods: { total: 0, running: 0 } }));
    await settle(b);
    // Exactly what happened while nobody led; nothing replica a had reported.
    expect(Object.fromEntries(b.vms.recorded)).to.deep.equal({ VMStopped: 1, VMCreated: 1, VMStarted: 1 });
    expect(await reasonCounts(first)).to.deep.equal({ VMCreated: 1, VMStarted: 1, VMStopped: 1 });
    expect(await reasonCounts(later)).to.deep.equal({ VMCreated: 1, VMStarted: 1 });
  });
});
