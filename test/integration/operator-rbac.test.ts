// The operator's own permissions, exactly as shipped: config/rbac (its ServiceAccount, ClusterRole
// and binding) plus the harness's admission policies (config/policies/operator-confinement.yaml,
// bound to that ServiceAccount). The operator, running with a token of that ServiceAccount,
// provisions, updates and deletes an organization and VDCs, records events and serves the event
// store's watch; and the same identity (kubectl --as, as an attacker holding its token would)
// cannot turn those permissions against the rest of the cluster.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { DEFAULT_CONFIG } from '../../src/config.js';
import { MANAGED_NAMESPACES_INFORMER, NamespaceOwners } from '../../src/events/owners.js';
import { EVENTS_INFORMER, EventStore } from '../../src/events/store.js';
import type { EventRecorder } from '../../src/events/recorder.js';
import { installCrds } from '../../src/kube/crds.js';
import { isNotFound } from '../../src/kube/errors.js';
import { createLogger } from '../../src/log.js';
import { startOperator, type Operator } from '../../src/operator.js';
import type { Organization, VirtualDataCenter } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { kubectl, kubectlOk, type KubectlResult } from '../support/kubectl.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';
import { informerFor } from '../support/informers.js';

/** The ServiceAccount of config/rbac, which the policies of config/policies name. */
const OPERATOR = 'system:serviceaccount:ovim-system:ovim-operator';
const AS_OPERATOR = ['--as', OPERATOR];
const ORG = 'rbac-least';

/** A kubeconfig that authenticates with a token of the operator's ServiceAccount. */
async function operatorKubeConfig(cp: ControlPlane): Promise<KubeConfig> {
  const token = (await kubectlOk(cp.kubeconfigPath, ['-n', 'ovim-system', 'create', 'token', 'ovim-operator', '--duration=2h'])).trim();
  const cluster = cp.kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'sandbox', server: cluster.server, caData: cluster.caData }],
    users: [{ name: 'ovim-operator', token }],
    contexts: [{ name: 'ovim-operator', cluster: 'sandbox', user: 'ovim-operator' }],
    currentContext: 'ovim-operator',
  });
  return kc;
}

describe('operator with only its shipped permissions (ServiceAccount, ClusterRole, policies)', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let op: Operator | undefined;
  let custom: CustomObjectsApi;
  let operatorKc: KubeConfig;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    await kubectl(cp.kubeconfigPath, ['create', 'namespace', 'ovim-system']);
    for (const file of ['service_account.yaml', 'role.yaml', 'role_binding.yaml', 'leader_election_role.yaml']) {
      await kubectlOk(cp.kubeconfigPath, ['apply', '--server-side', '-f', `config/rbac/${file}`]);
    }
    operatorKc = await operatorKubeConfig(cp);
    // The ClusterRoleBinding reaches the authorizer's cache shortly after it is created.
    await waitFor('the binding to take effect', () => operatorKc.makeApiClient(CoreV1Api).listNamespace({ limit: 1 }));
    // The confinement policy loads into admission shortly after the harness stores it.
    await waitFor('the operator confinement policy to be in force', async () => {
      const res = await kubectl(cp.kubeconfigPath, [...AS_OPERATOR, 'create', 'namespace', 'probe-outside', '--dry-run=server']);
      return res.code !== 0 && /ValidatingAdmissionPolicy 'ovim-operator-namespaces'/.test(res.stderr);
    });
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    // With leader election, as deployed: its Lease in its own namespace (a Role, not a ClusterRole).
    const leaderElection = { ...DEFAULT_CONFIG.leaderElection, enabled: true, namespace: 'ovim-system', identity: 'rbac-test' };
    op = await startOperator(operatorKc, { ...DEFAULT_CONFIG, resyncPeriodMs: 0, leaderElection }, createLogger('error', true));
  });

  after(async function () {
    this.timeout(60_000);
    await op?.stop();
  });

  const getOrg = async () =>
    (await custom.getClusterCustomObject({ group: 'ovim.io', version: 'v1', plural: 'organizations', name: ORG })) as Organization;
  const getVdc = async () =>
    (await custom.getNamespacedCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`, name: 'dev',
    })) as VirtualDataCenter;

  /** The events the operator recorded about one object (by its uid), listed as the admin. */
  const eventsAbout = async (uid: string | undefined, reason: string) =>
    (await cp.kubeConfig.makeApiClient(CoreV1Api).listEventForAllNamespaces({ fieldSelector: `involvedObject.uid=${uid},reason=${reason}` })).items;

  it('provisions an organization and a VDC to Active and records their Created events', async function () {
    await custom.createClusterCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'organizations',
      body: { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: ORG }, spec: { displayName: 'RBAC', admins: ['rbac-admins'] } },
    });
    await waitFor('organization Active', async () => (await getOrg()).status?.phase === 'Active');
    await custom.createNamespacedCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`,
      body: {
        apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', metadata: { name: 'dev', namespace: `org-${ORG}` },
        spec: { organizationRef: ORG, displayName: 'Dev', quota: { cpu: '2', memory: '4Gi', storage: '10Gi' }, networkPolicy: 'isolated' },
      },
    });
    await waitFor('VDC Active', async () => (await getVdc()).status?.phase === 'Active');
    expect(await (op?.recorder as EventRecorder).flush(20_000)).to.equal(true);
    const described = await kubectlOk(cp.kubeconfigPath, ['describe', 'vdc', 'dev', '-n', `org-${ORG}`]);
    expect(described).to.match(/Normal\s+VDCCreated/);
    expect(await kubectlOk(cp.kubeconfigPath, ['describe', 'organization', ORG])).to.match(/Normal\s+OrganizationCreated/);
    // Both about these very objects (by uid), not about an older namesake of another suite.
    expect(await eventsAbout((await getOrg()).metadata.uid, 'OrganizationCreated')).to.have.length(1);
    expect(await eventsAbout((await getVdc()).metadata.uid, 'VDCCreated')).to.have.length(1);
    const stats = (op?.recorder as EventRecorder).stats();
    expect(stats.writeFailures, 'no event write was refused').to.equal(0);
  });

  it('can feed the event store (list, then watch Events in all namespaces) and the namespace owners', async function () {
    const owners = new NamespaceOwners();
    const namespaces = await informerFor(operatorKc, MANAGED_NAMESPACES_INFORMER);
    owners.follow(namespaces);
    const store = new EventStore({ namespaceOwners: owners });
    const informer = await informerFor(operatorKc, EVENTS_INFORMER);
    store.follow(informer);
    namespaces.start();
    informer.start();
    try {
      await Promise.all([informer.waitForSync(), namespaces.waitForSync()]);
      // Listed: this VDC's own VDCCreated Event (by the Event's uid).
      const [created] = await eventsAbout((await getVdc()).metadata.uid, 'VDCCreated');
      expect([...store.records()].some((r) => r.uid === created?.metadata?.uid)).to.equal(true);
      // Watched: an event recorded after the sync arrives through the user's watch.
      await custom.patchNamespacedCustomObject(
        {
          group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`, name: 'dev',
          body: { metadata: { annotations: { 'ovim.io/force-reconcile': 'watch-1' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const [forced] = await waitFor('ReconcileForced on the VDC', async () => {
        const list = await eventsAbout((await getVdc()).metadata.uid, 'ReconcileForced');
        return list.length > 0 ? list : undefined;
      });
      await waitFor('the watched event in the store', async () => [...store.records()].some((r) => r.uid === forced?.metadata?.uid));
      // By the watch: one list in all, no restart (a refused watch would relist on every retry).
      expect(informer.stats).to.include({ lists: 1, restarts: 0 });
      expect(informer.stats.watches).to.be.at.least(1);
      // The namespace owners come from the labels on the namespaces the operator provisioned.
      expect(owners.ownerOf(`org-${ORG}`)).to.equal(ORG);
      expect(owners.ownerOf(`vdc-${ORG}-dev`)).to.equal(ORG);
    } finally {
      informer.stop();
      namespaces.stop();
    }
  });

  it('updates them: admin groups, quota, network policy, Pod Security and Service exposure', async function () {
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    await custom.patchClusterCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'organizations', name: ORG,
      body: { spec: { admins: ['rbac-ops'] } },
    }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await custom.patchNamespacedCustomObject({
      group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`, name: 'dev',
      body: {
        spec: {
          quota: { cpu: '3', memory: '6Gi', storage: '10Gi' },
          limitRange: { minCpu: 10, maxCpu: 1000 },
          networkPolicy: 'default',
          podSecurity: 'restricted',
          serviceExposure: { nodePort: true },
        },
      },
    }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const ws = `vdc-${ORG}-dev`;
    const bindings = async (ns: string) =>
      (await cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api).listNamespacedRoleBinding({ namespace: ns })).items
        .map((rb) => rb.subjects?.[0]?.name)
        .sort();
    await waitFor('the VDC updated', async () => {
      const [vdc, ns, quota] = await Promise.all([
        getVdc(),
        core.readNamespace({ name: ws }),
        core.readNamespacedResourceQuota({ name: 'vdc-quota', namespace: ws }),
      ]);
      return (
        vdc.status?.observedGeneration === vdc.metadata.generation &&
        ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted' &&
        ns.metadata?.labels?.['ovim.io/allow-nodeport-services'] === 'true' &&
        quota.spec?.hard?.['requests.cpu'] === '3'
      );
    });
    // The organization namespace also holds the operator's own ovim:route-secrets binding
    // (EventRoute Secrets), which its confined identity may create there.
    await waitFor('the admin groups swapped in both namespaces', async () =>
      JSON.stringify([await bindings(`org-${ORG}`), await bindings(ws)]) === JSON.stringify([['ovim-operator', 'rbac-ops'], ['rbac-ops']]),
    );
    const limits = await core.readNamespacedLimitRange({ name: 'vdc-limits', namespace: ws });
    expect(limits.spec?.limits[0]?.max?.cpu).to.equal('1');
    expect(await (op?.recorder as EventRecorder).flush(20_000)).to.equal(true);
    expect((await kubectlOk(cp.kubeconfigPath, ['describe', 'vdc', 'dev', '-n', `org-${ORG}`]))).to.match(/Normal\s+VDCUpdated/);
    expect((op?.recorder as EventRecorder).stats().writeFailures, 'no event write was refused').to.equal(0);
  });

  describe('its identity, turned against the cluster', () => {
    const sfx = randomBytes(2).toString('hex');
    const asOperator = (args: string[]) => kubectl(cp.kubeconfigPath, [...AS_OPERATOR, ...args]);
    const refused = (res: KubectlResult, why: RegExp) => {
      expect(res.code, `refused: ${res.stdout}`).to.not.equal(0);
      expect(res.stderr).to.match(why);
    };
    const CONFINED_NAMESPACES = /ValidatingAdmissionPolicy 'ovim-operator-namespaces' with binding 'ovim-operator-namespaces' denied request/;
    const CONFINED_WRITES = /ValidatingAdmissionPolicy 'ovim-operator-namespaced-writes' with binding 'ovim-operator-namespaced-writes' denied request/;

    before(async () => {
      // Namespaces of someone else: one plain, one that merely looks like an organization's.
      await kubectlOk(cp.kubeconfigPath, ['create', 'namespace', `plain-${sfx}`]);
      await kubectlOk(cp.kubeconfigPath, ['create', 'namespace', `org-lookalike-${sfx}`]);
    });

    it('cannot patch, create or escalate a ClusterRole', async () => {
      const widen = JSON.stringify([{ op: 'add', path: '/rules/-', value: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] } }]);
      // kubectl reads the object before patching: either verb being refused means no patch.
      refused(await asOperator(['patch', 'clusterrole', 'ovim:vdc-admin', '--type=json', '-p', widen, '--dry-run=server']),
        /cannot (get|patch) resource "clusterroles"/);
      expect((await asOperator(['auth', 'can-i', 'patch', 'clusterroles/ovim:vdc-admin'])).stdout.trim()).to.equal('no');
      refused(await asOperator(['create', 'clusterrole', `evil-${sfx}`, '--verb=*', '--resource=*', '--dry-run=server']),
        /cannot create resource "clusterroles"/);
      expect((await asOperator(['auth', 'can-i', 'escalate', 'clusterroles/ovim:vdc-admin'])).stdout.trim()).to.equal('no');
    });

    it('cannot bind anything in kube-system, nor any other role in its own namespaces', async () => {
      refused(await asOperator(['-n', 'kube-system', 'create', 'rolebinding', `evil-${sfx}`, '--clusterrole=ovim:vdc-admin', '--group=evil', '--dry-run=server']),
        CONFINED_WRITES);
      refused(await asOperator(['-n', 'kube-system', 'create', 'rolebinding', `evil-${sfx}`, '--clusterrole=cluster-admin', '--group=evil', '--dry-run=server']),
        /forbidden/);
      // Its own ClusterRole passes RBAC's escalation check (it holds those rights) but not the policy.
      refused(await asOperator(['-n', `vdc-${ORG}-dev`, 'create', 'rolebinding', `evil-${sfx}`, '--clusterrole=ovim-operator', '--group=evil', '--dry-run=server']),
        /may bind only the ClusterRoles ovim:org-admin, ovim:vdc-admin and ovim:route-secrets/);
      refused(await asOperator(['-n', 'kube-system', 'create', 'quota', `evil-${sfx}`, '--hard=pods=0', '--dry-run=server']), CONFINED_WRITES);
    });

    it('cannot delete or label a namespace it does not manage', async () => {
      // kube-system itself is immortal (the API server's NamespaceLifecycle): its labels are the prize.
      for (const ns of ['kube-system', `plain-${sfx}`, `org-lookalike-${sfx}`]) {
        if (ns !== 'kube-system') refused(await asOperator(['delete', 'namespace', ns, '--dry-run=server']), CONFINED_NAMESPACES);
        refused(await asOperator(['label', 'namespace', ns, 'app.kubernetes.io/managed-by=ovim-operator', '--dry-run=server']), CONFINED_NAMESPACES);
        refused(await asOperator(['label', 'namespace', ns, `ovim.io/organization=${ORG}`, '--dry-run=server']), CONFINED_NAMESPACES);
      }
      const plain = await cp.kubeConfig.makeApiClient(CoreV1Api).readNamespace({ name: `plain-${sfx}` });
      expect(plain.metadata?.labels ?? {}).to.not.have.property('app.kubernetes.io/managed-by');
    });

    it('cannot take over a Lease outside its own namespace (kube-system\'s controllers)', async () => {
      expect(op?.isLeader(), 'it leads through its Lease in ovim-system').to.equal(true);
      expect((await asOperator(['-n', 'ovim-system', 'auth', 'can-i', 'update', 'leases/ovim-operator'])).stdout.trim()).to.equal('yes');
      for (const verb of ['update', 'patch', 'create']) {
        expect((await asOperator(['-n', 'kube-system', 'auth', 'can-i', verb, 'leases/kube-controller-manager'])).stdout.trim(), verb).to.equal('no');
      }
    });

    it('cannot create a namespace outside org-* and vdc-*', async () => {
      refused(await asOperator(['create', 'namespace', `evil-${sfx}`, '--dry-run=server']),
        /ovim-operator may create only org-\* and vdc-\* namespaces, not evil-/);
      const inside = await asOperator(['create', 'namespace', `vdc-probe-${sfx}`, '--dry-run=server']);
      expect(inside.code, inside.stderr).to.equal(0);
    });
  });

  // Last: the attacks above use the namespaces it manages.
  describe('cleanup', () => {
    it('deletes the VDC and the organization, with their namespaces', async function () {
      const core = cp.kubeConfig.makeApiClient(CoreV1Api);
      await custom.deleteNamespacedCustomObject({
        group: 'ovim.io', version: 'v1', plural: 'virtualdatacenters', namespace: `org-${ORG}`, name: 'dev',
      });
      await custom.deleteClusterCustomObject({ group: 'ovim.io', version: 'v1', plural: 'organizations', name: ORG });
      const gone = async (read: () => Promise<unknown>) => {
        try {
          await read();
          return false;
        } catch (err) {
          return isNotFound(err);
        }
      };
      await waitFor('the organization to be gone', () => gone(getOrg), { timeoutMs: 90_000 });
      expect(await gone(() => core.readNamespace({ name: `vdc-${ORG}-dev` }))).to.equal(true);
      expect(await gone(() => core.readNamespace({ name: `org-${ORG}` }))).to.equal(true);
    });
  });
});
