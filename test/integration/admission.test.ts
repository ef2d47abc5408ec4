// The admission webhook against the real kube-apiserver, which calls it over TLS on loopback:
// actors come from the authenticated user (kubectl --as), never from what the YAML says; the
// finalizer comes with the create; deletions are attributed to the deleting user across an
// operator restart; trusted requesters; VirtualMachines in VDC namespaces; two replicas share
// one certificate, which rotates before it expires; with the webhook down, creates and updates
// are refused and deletes go through. The its build on each other in order.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:tls';
import { expect } from 'chai';
import { DEFAULT_CONFIG, type OperatorConfig, type WebhookConfig } from '../../src/config.js';
import { startAdmission, type Admission } from '../../src/admission/index.js';
import { STAMPS } from '../../src/admission/stamps.js';
import { createCa, issueServing, pemBlocks, servesFor } from '../../src/admission/certs.js';
import { SharedCertificate } from '../../src/admission/secrets.js';
import { startVmWatcher, type VmWatcher } from '../../src/controllers/vm-watcher.js';
import { VmStates } from '../../src/history/vm-states.js';
import { installCrds, loadTestVmCrd } from '../../src/kube/crds.js';
import { InformerFactory } from '../../src/kube/factory.js';
import { isNotFound } from '../../src/kube/errors.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startOperator, type Operator } from '../../src/operator.js';
import type { Organization } from '../../src/resources/types.js';
import { MANAGED_NAMESPACES_INFORMER, NamespaceOwners } from '../../src/events/owners.js';
import { EVENTS_INFORMER, EventStore } from '../../src/events/store.js';
import { signToken } from '../../src/http/auth.js';
import { createApiServer } from '../../src/http/server.js';
import { createMetrics } from '../../src/metrics.js';
import { controlPlane } from '../support/hooks.js';
import { kubectl, kubectlOk } from '../support/kubectl.js';
import { freePort, type ControlPlane } from '../support/controlplane.js';
import { waitFor } from '../support/wait.js';
import { informerFor } from '../support/informers.js';

const sfx = randomBytes(2).toString('hex');
const NS = `ovim-admission-${sfx}`;
const GROUP = `admission-testers-${sfx}`;
const BACKEND = `system:serviceaccount:${NS}:backend`;
const OTHER_SA = `system:serviceaccount:${NS}:other`;
const JWT_SECRET = 'admission-test-secret-0123456789abcdef';
const config: OperatorConfig = { ...DEFAULT_CONFIG, resyncPeriodMs: 0, workers: { organization: 2, vdc: 2, quota: 1 } };

interface CoreEvent {
  reason: string;
  count?: number;
  message: string;
  metadata: { annotations?: Record<string, string> };
}

const orgYaml = (name: string, annotations: Record<string, string> = {}) =>
  JSON.stringify({
    apiVersion: 'ovim.io/v1',
    kind: 'Organization',
    metadata: { name, annotations },
    spec: { displayName: `Org ${name}`, admins: [`${name}-admins`] },
  });

const vmYaml = (name: string, namespace: string, annotations: Record<string, string> = {}, finalizers: string[] = []) => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name, namespace, annotations, finalizers },
  spec: { runStrategy: 'Halted', template: { spec: { domain: { devices: {} } } } },
});

const vdcYaml = (name: string, org: string) =>
  JSON.stringify({
    apiVersion: 'ovim.io/v1',
    kind: 'VirtualDataCenter',
    metadata: { name, namespace: `org-${org}`, annotations: { 'ovim.io/requested-by': 'mallory' } },
    spec: { organizationRef: org, displayName: `VDC ${name}`, quota: { cpu: '2', memory: '4Gi', storage: '10Gi' } },
  });

describe('admission webhook (the API server calls it)', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let op: Operator | undefined;
  let vms: VmWatcher | undefined;
  // What the VM watcher last reported, kept across operator restarts (the archive's role).
  const vmStates = new VmStates(undefined);
  let admission: Admission | undefined;
  let webhook: WebhookConfig;
  const extra: Admission[] = [];
  const org = `adm-${sfx}`;
  const preOrg = `adm-pre-${sfx}`;

  /** kubectl as `user` in the testers' group. */
  const as = (user: string, args: string[], input?: string) =>
    kubectlOk(cp.kubeconfigPath, [`--as=${user}`, `--as-group=${GROUP}`, ...args], input);
  // Short-lived serving certificates: renewed every ~15 s while the tests run.
  const certificate = { leafValidityMs: 60_000, renewBeforeMs: 45_000 };
  const startWebhook = async () => {
    admission = await startAdmission(cp.kubeConfig, webhook, { namespace: NS, logger: createLogger('error', true), checkIntervalMs: 1_000, certificate });
  };
  const startOp = async () => {
    op = await startOperator(cp.kubeConfig, config, createLogger('error', true), { actorVerifier: admission?.verifier });
    vms = await startVmWatcher(new InformerFactory(op.client), op, vmStates, { crdPollMs: 200 });
  };
  const stopOp = async () => {
    await vms?.stop();
    vms = undefined;
    await op?.stop();
    op = undefined;
  };
  const events = async (kind: string, name: string, namespace: string, reason: string) =>
    (
      await api.list<CoreEvent>(`/api/v1/namespaces/${namespace}/events`, {
        fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name},reason=${reason}`,
      })
    ).items;
  const event = (kind: string, name: string, namespace: string, reason: string, actor?: string) =>
    waitFor(`${reason} on ${kind} ${name}${actor ? ` by ${actor}` : ''}`, async () => {
      const found = await events(kind, name, namespace, reason);
      return found.find((e) => !actor || e.metadata.annotations?.['ovim.io/actor'] === actor);
    }, { timeoutMs: 60_000 });
  const getOrg = (name: string) => api.get<Organization>(`/apis/ovim.io/v1/organizations/${name}`);
  const gone = (path: string) =>
    waitFor(`${path} to be gone`, async () => {
      try {
        await api.get(path);
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    }, { timeoutMs: 90_000 });

  /** The events API over the cluster's Events and the operator's namespaces, as `startOvim` serves it. */
  const withEventsApi = async (use: (url: string) => Promise<void>) => {
    const namespaces = await informerFor(cp.kubeConfig, MANAGED_NAMESPACES_INFORMER);
    const store = new EventStore({ namespaceOwners: new NamespaceOwners().follow(namespaces) });
    const informer = await informerFor(cp.kubeConfig, EVENTS_INFORMER);
    store.follow(informer);
    namespaces.start();
    informer.start();
    const server = createApiServer({
      store,
      auth: { secret: new TextEncoder().encode(JWT_SECRET) },
      metrics: createMetrics(),
      health: { kubernetesReachable: () => true, informersSynced: () => informer.hasSynced(), leadership: () => 'disabled' },
    });
    try {
      await namespaces.waitForSync();
      await informer.waitForSync();
      await use(await server.listen('127.0.0.1:0'));
    } finally {
      informer.stop();
      namespaces.stop();
      await server.close();
    }
  };

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
    await api.create('/api/v1/namespaces', { metadata: { name: NS } });
    // Tenants of the test: full rights on the ovim.io kinds and VirtualMachines, nothing more.
    await api.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: GROUP },
      rules: [
        { apiGroups: ['ovim.io'], resources: ['organizations', 'virtualdatacenters'], verbs: ['*'] },
        { apiGroups: ['kubevirt.io'], resources: ['virtualmachines'], verbs: ['*'] },
      ],
    });
    await api.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: GROUP },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: GROUP },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: GROUP }],
    });
    // The authored KubeVirt VirtualMachine CRD (crds/test).
    const installed = await installCrds(cp.kubeConfig, 30_000, loadTestVmCrd());
    await waitFor('the VirtualMachine CRD', async () => (await kubectl(cp.kubeconfigPath, ['get', 'virtualmachines', '-A'])).code === 0);
    // The VDC quotas count VirtualMachines: the quota controller discovers a new kind when it
    // starts (else on its 30 s discovery cycle).
    if (installed.length > 0) await cp.restartControllerManager();

    // An Organization from before the webhook: its requester is only stated.
    await startOp();
    await kubectlOk(cp.kubeconfigPath, ['create', '-f', '-'], orgYaml(preOrg, { 'ovim.io/requested-by': 'mallory' }));
    await event('Organization', preOrg, 'default', 'OrganizationCreated', 'mallory');
    await stopOp();

    const port = await freePort();
    webhook = {
      ...DEFAULT_CONFIG.webhook,
      port,
      host: '127.0.0.1',
      url: `https://127.0.0.1:${port}`,
      trustedRequesters: [BACKEND],
      secretName: 'ovim-webhook-tls',
    };
    await startWebhook();
    await startOp();
  });

  after(async function () {
    this.timeout(60_000);
    await stopOp();
    // Leave no Organization of this suite behind for the operators of later suites.
    const list = await api.list<Organization>('/apis/ovim.io/v1/organizations');
    for (const o of list.items.filter((i) => i.metadata.name?.startsWith('adm-') && i.metadata.name.includes(sfx))) {
      const path = `/apis/ovim.io/v1/organizations/${o.metadata.name}`;
      await api.patch(path, { metadata: { finalizers: null } }, 'merge').catch(() => undefined);
      await api.delete(path).catch(() => undefined);
    }
    for (const a of [admission, ...extra]) await a?.stop();
    // The webhooks are cluster-wide: later suites must not meet them.
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      await kubectl(cp.kubeconfigPath, ['delete', kind, 'ovim-operator', '--ignore-not-found']);
    }
    await kubectl(cp.kubeconfigPath, ['delete', 'clusterrole,clusterrolebinding', GROUP, '--ignore-not-found']);
    api?.close();
  });

  it('an object from before the webhook: its events say the actor is not verified', async function () {
    const [created] = await events('Organization', preOrg, 'default', 'OrganizationCreated');
    expect(created?.metadata.annotations).to.include({ 'ovim.io/actor': 'mallory', 'ovim.io/actor-verified': 'false' });
  });

  it('alice creates an Organization whose YAML says requested-by: mallory: requested-by alice, the finalizer from creation, Created by alice (verified)', async function () {
    const created = JSON.parse(await as('alice', ['create', '-f', '-', '-o', 'json'], orgYaml(org, { 'ovim.io/requested-by': 'mallory' }))) as Organization;
    expect(created.metadata.annotations?.['ovim.io/requested-by']).to.equal('alice');
    expect(created.metadata.annotations).to.not.have.property(STAMPS.requestedVia);
    // The create's own response already holds the finalizer: the operator did not add it.
    expect(created.metadata.finalizers).to.deep.equal(['ovim.io/organization-cleanup']);
    const e = await event('Organization', org, 'default', 'OrganizationCreated');
    expect(e.metadata.annotations).to.include({ 'ovim.io/actor': 'alice', 'ovim.io/actor-verified': 'true' });
    expect(e.message).to.equal(`Organization '${org}' created by alice`);
  });

  it('requested-by cannot be changed afterwards', async function () {
    await as('bob', ['annotate', '--overwrite', 'organization', org, 'ovim.io/requested-by=bob']);
    expect((await getOrg(org)).metadata.annotations?.['ovim.io/requested-by']).to.equal('alice');
    await as('bob', ['annotate', 'organization', org, 'ovim.io/requested-by-']);
    expect((await getOrg(org)).metadata.annotations?.['ovim.io/requested-by']).to.equal('alice');
  });

  it('bob updates the spec: Updated by bob (verified)', async function () {
    await as('bob', ['patch', 'organization', org, '--type=merge', '-p', JSON.stringify({ spec: { description: 'changed by bob' } })]);
    expect((await getOrg(org)).metadata.annotations?.[STAMPS.lastModifiedBy]).to.equal('bob');
    const e = await event('Organization', org, 'default', 'OrganizationUpdated');
    expect(e.metadata.annotations).to.include({ 'ovim.io/actor': 'bob', 'ovim.io/actor-verified': 'true' });
    expect(e.message).to.match(new RegExp(`^Organization '${org}' updated by bob`));
  });

  it('carol forces a reconcile while typing force-reconcile-by: dave: the actor is carol', async function () {
    await as('carol', ['annotate', '--overwrite', 'organization', org, `ovim.io/force-reconcile=${Date.now()}`, 'ovim.io/force-reconcile-by=dave']);
    expect((await getOrg(org)).metadata.annotations?.['ovim.io/force-reconcile-by']).to.equal('carol');
    const e = await event('Organization', org, 'default', 'ReconcileForced');
    expect(e.metadata.annotations).to.include({ 'ovim.io/actor': 'carol', 'ovim.io/actor-verified': 'true' });
    expect(e.message).to.equal(`Manual reconciliation triggered for organization '${org}' by carol`);
  });

  it('a VirtualMachine created in a VDC namespace gets its requester stamped', async function () {
    await as('alice', ['create', '-f', '-'], vdcYaml('dev', org));
    const vdcNs = `vdc-${org}-dev`;
    // The VDC's ResourceQuota counts VirtualMachines: the API server refuses them until the quota
    // controller has computed its usage.
    await waitFor(`the usage of ${vdcNs}/vdc-quota`, async () => {
      const used = await kubectl(cp.kubeconfigPath, ['get', 'resourcequota', 'vdc-quota', '-n', vdcNs, '-o', 'jsonpath={.status.used}']);
      return used.code === 0 && used.stdout.includes('count/virtualmachines.kubevirt.io');
    }, { timeoutMs: 60_000 });
    const vm = vmYaml('vm1', vdcNs, { 'ovim.io/requested-by': 'mallory' });
    const created = JSON.parse(await as('dave', ['create', '-f', '-', '-o', 'json'], JSON.stringify(vm))) as Organization;
    expect(created.metadata.annotations?.['ovim.io/requested-by']).to.equal('dave');
    expect(created.metadata.finalizers ?? []).to.deep.equal([]);
    // Outside VDC namespaces the webhook is not called.
    const outside = JSON.parse(await as('dave', ['create', '-f', '-', '-o', 'json'], JSON.stringify({ ...vm, metadata: { ...vm.metadata, namespace: NS } }))) as Organization;
    expect(outside.metadata.annotations?.['ovim.io/requested-by']).to.equal('mallory');
    const vdcCreated = await event('VirtualDataCenter', 'dev', `org-${org}`, 'VDCCreated');
    expect(vdcCreated.metadata.annotations).to.include({ 'ovim.io/actor': 'alice', 'ovim.io/actor-verified': 'true' });
  });

  it('a VirtualMachine deleted in a VDC namespace: VMDeleted by the deleting user (verified), also when the operator restarts before it is gone', async function () {
    const vdcNs = `vdc-${org}-dev`;
    const vmEvent = (name: string, reason: string) => event('VirtualMachine', name, vdcNs, reason);
    // vm1 (dave's) goes at once: it has no finalizer.
    await vmEvent('vm1', 'VMCreated');
    await as('fay', ['delete', 'virtualmachine', 'vm1', '-n', vdcNs]);
    const deleted = await vmEvent('vm1', 'VMDeleted');
    expect(deleted.metadata.annotations).to.include({ 'ovim.io/actor': 'fay', 'ovim.io/actor-verified': 'true' });
    // DeletionRequested is an Organization/VDC event; a VM only carries the stamp.
    expect(await events('VirtualMachine', 'vm1', vdcNs, 'DeletionRequested')).to.deep.equal([]);

    // vm2 is held by a finalizer (as KubeVirt's controller holds VMs) while the operator restarts.
    await as('dave', ['create', '-f', '-'], JSON.stringify(vmYaml('vm2', vdcNs, {}, ['test.ovim.io/hold'])));
    await vmEvent('vm2', 'VMCreated');
    await as('gus', ['delete', 'virtualmachine', 'vm2', '-n', vdcNs, '--wait=false']);
    const path = `/apis/kubevirt.io/v1/namespaces/${vdcNs}/virtualmachines/vm2`;
    const held = await api.get<Organization>(path);
    expect(held.metadata.deletionTimestamp).to.be.a('string');
    expect(held.metadata.annotations?.[STAMPS.deletionRequestedBy]).to.equal('gus');
    await stopOp();
    await startOp();
    await waitFor('the VM watcher started', async () => vms?.watching === true);
    await api.patch(path, { metadata: { finalizers: null } }, 'merge');
    await gone(path);
    const vm2 = await vmEvent('vm2', 'VMDeleted');
    expect(vm2.metadata.annotations).to.include({ 'ovim.io/actor': 'gus', 'ovim.io/actor-verified': 'true' });
  });

  it('VMs gone while the operator was down: one VMDeleted each, its deleter and owner verified from the reported row; a tampered row is not', async function () {
    const vdcNs = `vdc-${org}-dev`;
    const path = (name: string) => `/apis/kubevirt.io/v1/namespaces/${vdcNs}/virtualmachines/${name}`;
    const rowOf = (name: string) => vmStates.all().find((r) => r.namespace === vdcNs && r.name === name);
    const owned = { 'ovim.io/owner': 'dave' };
    // vm3 and vm5 are held by a finalizer, vm4 goes at once.
    await as('dave', ['create', '-f', '-'], JSON.stringify(vmYaml('vm3', vdcNs, owned, ['test.ovim.io/hold'])));
    await as('dave', ['create', '-f', '-'], JSON.stringify(vmYaml('vm4', vdcNs, owned)));
    await as('dave', ['create', '-f', '-'], JSON.stringify(vmYaml('vm5', vdcNs, owned, ['test.ovim.io/hold'])));
    for (const name of ['vm3', 'vm4', 'vm5']) {
      const created = await event('VirtualMachine', name, vdcNs, 'VMCreated');
      expect(created.metadata.annotations).to.include({ 'ovim.io/owner': 'dave', 'ovim.io/owner-verified': 'true' });
    }
    // gus deletes vm3 and vm5 while the operator runs: it sees them terminating with his stamp.
    for (const name of ['vm3', 'vm5']) await as('gus', ['delete', 'virtualmachine', name, '-n', vdcNs, '--wait=false']);
    await waitFor('the rows of vm3 and vm5 to hold the deletion stamp', async () =>
      ['vm3', 'vm5'].every((n) => rowOf(n)?.stamps?.[STAMPS.deletionRequestedBy] === 'gus' && rowOf(n)?.deletionTimestamp !== undefined));
    await vms?.waitIdle();
    await stopOp();

    // While it is down: vm3 and vm5 go, gus deletes vm4 (the webhook stamps it; no watcher sees it),
    // and someone with the archive but not the proof key rewrites vm5's deleter.
    const vm5 = rowOf('vm5');
    if (!vm5?.stamps) throw new Error('vm5 has no reported row with stamps');
    vmStates.set({ ...vm5, stamps: { ...vm5.stamps, [STAMPS.deletionRequestedBy]: 'mallory' } });
    for (const name of ['vm3', 'vm5']) await api.patch(path(name), { metadata: { finalizers: null } }, 'merge');
    await as('gus', ['delete', 'virtualmachine', 'vm4', '-n', vdcNs]);
    for (const name of ['vm3', 'vm4', 'vm5']) await gone(path(name));
    await startOp();

    const vm3 = await event('VirtualMachine', 'vm3', vdcNs, 'VMDeleted');
    expect(vm3.metadata.annotations).to.include({ 'ovim.io/actor': 'gus', 'ovim.io/actor-verified': 'true', 'ovim.io/owner': 'dave', 'ovim.io/owner-verified': 'true' });
    // No watcher saw vm4's deletion stamp: no deleter (never the requester), the owner still verified.
    const vm4 = await event('VirtualMachine', 'vm4', vdcNs, 'VMDeleted');
    expect(vm4.metadata.annotations).to.not.have.property('ovim.io/actor');
    expect(vm4.metadata.annotations).to.include({ 'ovim.io/owner': 'dave', 'ovim.io/owner-verified': 'true' });
    const tampered = await event('VirtualMachine', 'vm5', vdcNs, 'VMDeleted');
    expect(tampered.metadata.annotations).to.include({ 'ovim.io/actor': 'mallory', 'ovim.io/actor-verified': 'false', 'ovim.io/owner-verified': 'false' });
    // Once each: the rows are gone, and a resync of the restarted watcher finds nothing to repeat.
    await vms?.waitIdle();
    expect(['vm3', 'vm4', 'vm5'].map(rowOf)).to.deep.equal([undefined, undefined, undefined]);
    for (const name of ['vm3', 'vm4', 'vm5']) {
      expect((await events('VirtualMachine', name, vdcNs, 'VMDeleted')).map((e) => e.count ?? 1)).to.deep.equal([1]);
    }
    // Through the events API, organization users see the VMDeleted whose verified owner or deleter they are.
    await withEventsApi(async (url) => {
      const deletedSeenBy = async (username: string) => {
        const token = await signToken({ userId: username, username, role: 'org_user', orgId: org }, JWT_SECRET);
        const res = await fetch(`${url}/api/v1/events?kind=VirtualMachine&namespace=${vdcNs}&reason=VMDeleted`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).to.equal(200);
        return ((await res.json()) as { events: { involved_object_name: string }[] }).events.map((e) => e.involved_object_name).sort();
      };
      await waitFor('the API to hold the caught-up VMDeleted', async () => (await deletedSeenBy('dave')).includes('vm4'));
      expect(await deletedSeenBy('dave')).to.deep.equal(['vm3', 'vm4']); // the verified owner; not vm5 (tampered)
      expect(await deletedSeenBy('gus')).to.include('vm3').and.not.include('vm5'); // the verified deleter
      expect(await deletedSeenBy('mallory')).to.deep.equal([]); // a deleter written into the row
    });
  });

  it('an Organization created with generateName is verified from creation (the webhook names it)', async function () {
    const yaml = JSON.parse(orgYaml('gen')) as { metadata: Record<string, unknown> };
    yaml.metadata = { generateName: `adm-gen-${sfx}-`, annotations: { 'ovim.io/requested-by': 'mallory' } };
    const created = JSON.parse(await as('kim', ['create', '-f', '-', '-o', 'json'], JSON.stringify(yaml))) as Organization;
    const name = created.metadata.name ?? '';
    expect(name).to.match(new RegExp(`^adm-gen-${sfx}-[a-z0-9]{5}$`));
    expect(created.metadata.annotations?.['ovim.io/requested-by']).to.equal('kim');
    const e = await event('Organization', name, 'default', 'OrganizationCreated');
    expect(e.metadata.annotations).to.include({ 'ovim.io/actor': 'kim', 'ovim.io/actor-verified': 'true' });
  });

  it('erin deletes: DeletionRequested, then DeletionBlocked and Deleted by erin, across an operator restart', async function () {
    await as('erin', ['delete', 'organization', org, '--wait=false']);
    const requested = await event('Organization', org, 'default', 'DeletionRequested');
    expect(requested.metadata.annotations).to.include({ 'ovim.io/actor': 'erin', 'ovim.io/actor-verified': 'true' });
    expect(requested.message).to.equal(`Deletion of Organization '${org}' requested by erin`);
    const blocked = await event('Organization', org, 'default', 'DeletionBlocked');
    expect(blocked.metadata.annotations).to.include({ 'ovim.io/actor': 'erin', 'ovim.io/actor-verified': 'true' });
    expect((await getOrg(org)).metadata.annotations?.[STAMPS.deletionRequestedBy]).to.equal('erin');
    // Recorded once (the API server may validate one delete again when its update retries).
    expect((await events('Organization', org, 'default', 'DeletionRequested')).map((e) => e.count ?? 1)).to.deep.equal([1]);

    // The link lives on the object: a fresh operator still knows who deleted it.
    await stopOp();
    await startOp();
    await as('alice', ['delete', 'virtualdatacenter', 'dev', '-n', `org-${org}`, '--wait=false']);
    const vdcDeleted = await event('VirtualDataCenter', 'dev', `org-${org}`, 'VDCDeleted');
    expect(vdcDeleted.metadata.annotations).to.include({ 'ovim.io/actor': 'alice', 'ovim.io/actor-verified': 'true' });
    await gone(`/apis/ovim.io/v1/organizations/${org}`);
    const deleted = await event('Organization', org, 'default', 'OrganizationDeleted');
    expect(deleted.metadata.annotations).to.include({ 'ovim.io/actor': 'erin', 'ovim.io/actor-verified': 'true' });
    expect(deleted.message).to.equal(`Organization '${org}' deleted by erin`);
  });

  it('a trusted requester keeps its stated actor and is named in requested-via; the same YAML from another account does not', async function () {
    const trusted = `adm-trusted-${sfx}`;
    const other = `adm-other-${sfx}`;
    const a = JSON.parse(await as(BACKEND, ['create', '-f', '-', '-o', 'json'], orgYaml(trusted, { 'ovim.io/requested-by': 'frank' }))) as Organization;
    expect(a.metadata.annotations).to.include({ 'ovim.io/requested-by': 'frank', 'ovim.io/requested-via': BACKEND });
    const b = JSON.parse(await as(OTHER_SA, ['create', '-f', '-', '-o', 'json'], orgYaml(other, { 'ovim.io/requested-by': 'frank' }))) as Organization;
    expect(b.metadata.annotations?.['ovim.io/requested-by']).to.equal(OTHER_SA);
    expect(b.metadata.annotations).to.not.have.property('ovim.io/requested-via');
    const ea = await event('Organization', trusted, 'default', 'OrganizationCreated');
    expect(ea.metadata.annotations).to.include({ 'ovim.io/actor': 'frank', 'ovim.io/actor-verified': 'true' });
    const eb = await event('Organization', other, 'default', 'OrganizationCreated');
    expect(eb.metadata.annotations).to.include({ 'ovim.io/actor': OTHER_SA, 'ovim.io/actor-verified': 'true' });
  });

  it('an owner named by someone else is not verified; one naming themselves is', async function () {
    const owned = `adm-owned-${sfx}`;
    const forged = `adm-forged-${sfx}`;
    await as('gina', ['create', '-f', '-'], orgYaml(owned, { 'ovim.io/owner': 'gina' }));
    await as('gina', ['create', '-f', '-'], orgYaml(forged, { 'ovim.io/owner': 'hank', 'ovim.io/owner-verified': 'true' }));
    expect((await getOrg(forged)).metadata.annotations).to.not.have.property('ovim.io/owner-verified');
    const a = await event('Organization', owned, 'default', 'OrganizationCreated');
    expect(a.metadata.annotations).to.include({ 'ovim.io/owner': 'gina', 'ovim.io/owner-verified': 'true' });
    const b = await event('Organization', forged, 'default', 'OrganizationCreated');
    expect(b.metadata.annotations).to.include({ 'ovim.io/owner': 'hank', 'ovim.io/owner-verified': 'false' });
  });

  it("the events API: an organization user sees the events whose verified actor or owner they are, and no one else's", async function () {
    await withEventsApi(async (url) => {
      /** The Organization events `username` (an org_user of `org`) sees. */
      const seen = async (username: string, orgId: string) => {
        const token = await signToken({ userId: username, username, role: 'org_user', orgId }, JWT_SECRET);
        const res = await fetch(`${url}/api/v1/events?kind=Organization&name=${orgId}`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).to.equal(200);
        return ((await res.json()) as { events: { reason: string; actor?: string; actor_verified?: boolean }[] }).events;
      };
      const owned = `adm-owned-${sfx}`;
      const forged = `adm-forged-${sfx}`;
      await waitFor('the store to hold the suite\'s events', async () => (await seen('gina', owned)).some((e) => e.reason === 'OrganizationCreated'));
      expect((await seen('gina', owned)).map((e) => e.reason)).to.include('OrganizationCreated'); // verified owner
      expect(await seen('hank', forged)).to.deep.equal([]); // owner named by someone else
      expect((await seen('gina', forged)).map((e) => e.reason)).to.include('OrganizationCreated'); // its verified actor
      expect(await seen('mallory', preOrg)).to.deep.equal([]); // actor only stated, before the webhook
      const alices = await seen('alice', org);
      expect(alices.map((e) => [e.reason, e.actor, e.actor_verified])).to.deep.include(['OrganizationCreated', 'alice', true]);
      expect(alices.map((e) => e.actor)).to.not.include('bob'); // bob's Updated is bob's
      expect((await seen('bob', org)).map((e) => [e.reason, e.actor_verified])).to.deep.include(['OrganizationUpdated', true]);
    });
  });

  it('two replicas serve the webhook with one certificate', async function () {
    const port = await freePort();
    const second = await startAdmission(cp.kubeConfig, { ...webhook, port }, {
      namespace: NS,
      installConfigurations: false,
      checkIntervalMs: 1_000,
      certificate,
    });
    extra.push(second);
    const served = (p: number) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: p, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.end();
        });
        socket.on('error', reject);
      });
    // Both read the one Secret; a renewal between the two reads is caught by re-checking.
    await waitFor('both replicas serving the same certificate', async () => {
      await Promise.all([admission?.check(), second.check()]);
      const [a, b] = await Promise.all([served(admission?.port ?? 0), served(port)]);
      return a === b && a === second.material().fingerprint;
    });
    const secrets = await api.list(`/api/v1/namespaces/${NS}/secrets`);
    expect(secrets.items.map((s) => s.metadata?.name).sort()).to.deep.equal(['ovim-webhook-tls', 'ovim-webhook-tls-actor-key']);
  });

  it('renews the short-lived serving certificate before it expires, and the API server keeps calling the webhook', async function () {
    const before = admission?.material();
    await waitFor('a renewed serving certificate', async () => admission?.material().fingerprint !== before?.fingerprint, { timeoutMs: 60_000 });
    const after = admission?.material();
    expect(after?.notAfter.getTime()).to.be.above(before?.notAfter.getTime() ?? 0);
    expect(before?.notAfter.getTime()).to.be.above(Date.now()); // renewed before expiry
    expect(after?.caBundle).to.equal(before?.caBundle); // same CA: the caBundle did not have to move
    const name = `adm-rotated-${sfx}`;
    const created = JSON.parse(await as('ivan', ['create', '-f', '-', '-o', 'json'], orgYaml(name))) as Organization;
    expect(created.metadata.annotations?.['ovim.io/requested-by']).to.equal('ivan');
  });

  it('with the webhook down, the API server refuses creates and updates (Fail) and deletes still go through (Ignore)', async function () {
    const name = `adm-down-${sfx}`;
    await as('alice', ['create', '-f', '-'], orgYaml(name));
    await admission?.stop();
    admission = undefined;
    const create = await kubectl(cp.kubeconfigPath, [`--as=alice`, `--as-group=${GROUP}`, 'create', '-f', '-'], orgYaml(`adm-refused-${sfx}`));
    expect(create.code).to.not.equal(0);
    expect(create.stderr).to.include('stamp.ovim.io');
    const update = await kubectl(cp.kubeconfigPath, [`--as=bob`, `--as-group=${GROUP}`, 'patch', 'organization', name, '--type=merge', '-p', '{"spec":{"description":"x"}}']);
    expect(update.code).to.not.equal(0);
    expect(update.stderr).to.include('stamp.ovim.io');
    const del = await kubectl(cp.kubeconfigPath, [`--as=erin`, `--as-group=${GROUP}`, 'delete', 'organization', name, '--wait=false']);
    expect(del.code, del.stderr).to.equal(0);
    expect((await getOrg(name)).metadata.deletionTimestamp).to.be.a('string');
    // Back up: the operator can remove its finalizer again, and the deletion completes.
    await startWebhook();
    await gone(`/apis/ovim.io/v1/organizations/${name}`);
    const deleted = await event('Organization', name, 'default', 'OrganizationDeleted');
    // Nobody stamped this deletion: the deleter is unknown, not the requester.
    expect(deleted.message).to.equal(`Organization '${name}' deleted by unknown`);
  });
});

describe('webhook certificate Secret', function () {
  this.timeout(60_000);
  let cp: ControlPlane;
  let client: KubeClient;
  const ns = `ovim-certs-${sfx}`;
  const names = { dnsNames: ['ovim-operator-webhook.ovim-system.svc'], ips: ['127.0.0.1'] };

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    client = await KubeClient.create(cp.kubeConfig);
    await client.create('/api/v1/namespaces', { metadata: { name: ns } });
  });

  after(() => client?.close());

  it('replicas starting together create it once and all read the same certificate', async function () {
    const replicas = Array.from({ length: 3 }, () => new SharedCertificate(client, { namespace: ns, secretName: 'race', names }));
    const loaded = await Promise.all(replicas.map((r) => r.load()));
    expect(new Set(loaded.map((m) => m.fingerprint)).size).to.equal(1);
    expect(loaded.every((m) => m.managed)).to.equal(true);
  });

  it('renews the CA before it expires and keeps the old one in the bundle', async function () {
    const t0 = Date.now();
    let now = t0;
    const options = { namespace: ns, secretName: 'ca-rotation', names, caValidityMs: 90_000, leafValidityMs: 60_000, renewBeforeMs: 45_000, now: () => new Date(now) };
    const first = await new SharedCertificate(client, options).load();
    expect(pemBlocks(first.caBundle)).to.have.length(1);
    now = t0 + 20_000; // the serving certificate is due, and the CA would expire before a new one
    const second = await new SharedCertificate(client, options).load();
    expect(second.fingerprint).to.not.equal(first.fingerprint);
    const bundle = pemBlocks(second.caBundle);
    expect(bundle).to.have.length(2);
    expect(bundle[1]?.trim()).to.equal(pemBlocks(first.caBundle)[0]?.trim()); // the old CA still trusted
    expect(servesFor(second.certPem, bundle[0] ?? '', names)).to.equal(true); // signed by the new CA
  });

  it("uses cert-manager's layout as it is and never renews it", async function () {
    const ca = await createCa(new Date(), 3_600_000);
    const leaf = await issueServing(ca, names, new Date(), 60_000);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await client.create(`/api/v1/namespaces/${ns}/secrets`, {
      metadata: { name: 'cert-manager' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(ca.certPem) },
    });
    // Due by our standards (a year's certificate renewed with 4 months left): still not touched.
    const material = await new SharedCertificate(client, { namespace: ns, secretName: 'cert-manager', names }).load();
    expect(material.managed).to.equal(false);
    expect(material.certPem).to.equal(leaf.certPem);
    const stored = await client.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/cert-manager`);
    expect(Object.keys(stored.data).sort()).to.deep.equal(['ca.crt', 'tls.crt', 'tls.key']);
  });
});
