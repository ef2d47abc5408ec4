// The operator against the real control plane (kube-apiserver + kube-controller-manager), run
// in-process with the real EventRecorder: provisioning, updates, quota usage, the organization
// ceiling, each CreationFailed cause, force reconcile, disable, deletion, restarts and resyncs.
// The its of one describe build on each other in order.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Watch } from '@kubernetes/client-node';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../src/config.js';
import { installCrds } from '../../src/kube/crds.js';
import { apiStatusCode, isNotFound } from '../../src/kube/errors.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startOperator, type Operator } from '../../src/operator.js';
import type { Organization, VirtualDataCenter } from '../../src/resources/types.js';
import type { EventRecorder } from '../../src/events/recorder.js';
import { controlPlane } from '../support/hooks.js';
import { kubectlOk } from '../support/kubectl.js';
import { settleOperator } from '../support/settle.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const sfx = randomBytes(2).toString('hex');
const config: OperatorConfig = { ...DEFAULT_CONFIG, resyncPeriodMs: 0, workers: { organization: 2, vdc: 2, quota: 1 } };

interface CoreEvent {
  type: string;
  reason: string;
  message: string;
  count?: number;
  metadata: { annotations?: Record<string, string> };
  involvedObject: { kind: string; name: string; namespace?: string };
}

describe('operator', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let op: Operator | undefined;

  const start = async () => {
    op = await startOperator(cp.kubeConfig, config, createLogger('error', true));
    return op;
  };
  const stop = async () => {
    await op?.stop();
    op = undefined;
  };
  /** Until nothing is queued, processing or due soon, and every recorded event is written. */
  const settle = () => settleOperator(op as Operator);

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
    await start();
  });

  after(async function () {
    this.timeout(60_000);
    await stop();
    api?.close();
  });

  // --- helpers -----------------------------------------------------------------------------

  const orgPath = (name: string) => `/apis/ovim.io/v1/organizations/${name}`;
  const vdcPath = (ns: string, name: string) => `/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters/${name}`;

  async function createOrg(name: string, spec: Partial<Organization['spec']> = {}): Promise<void> {
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name, annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { displayName: `Org ${name}`, admins: [`${name}-admins`], ...spec },
    });
  }

  async function createVdc(name: string, org: string, quota: Partial<VirtualDataCenter['spec']['quota']> = {}, namespace = `org-${org}`, extra: Partial<VirtualDataCenter['spec']> = {}): Promise<void> {
    await api.create(`/apis/ovim.io/v1/namespaces/${namespace}/virtualdatacenters`, {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name, namespace, annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { organizationRef: org, displayName: `VDC ${name}`, quota: { cpu: '4', memory: '8Gi', storage: '100Gi', ...quota }, ...extra },
    });
  }

  const getOrg = (name: string) => api.get<Organization>(orgPath(name));
  const getVdc = (ns: string, name: string) => api.get<VirtualDataCenter>(vdcPath(ns, name));
  const exists = async (path: string) => {
    try {
      await api.get(path);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  };

  const orgPhase = (name: string, phase: string) =>
    waitFor(`organization ${name} phase ${phase}`, async () => ((await getOrg(name)).status?.phase === phase ? true : undefined), { timeoutMs: 60_000 });
  const vdcPhase = (ns: string, name: string, phase: string) =>
    waitFor(`VDC ${ns}/${name} phase ${phase}`, async () => ((await getVdc(ns, name)).status?.phase === phase ? true : undefined), { timeoutMs: 60_000 });

  async function events(kind: string, name: string, namespace: string, reason?: string): Promise<CoreEvent[]> {
    const selector = [`involvedObject.kind=${kind}`, `involvedObject.name=${name}`, ...(reason ? [`reason=${reason}`] : [])].join(',');
    const list = await api.list<CoreEvent>(`/api/v1/namespaces/${namespace}/events`, { fieldSelector: selector });
    return list.items;
  }
  /** Occurrences (Event.count summed) of a reason on an object. */
  const occurrences = async (kind: string, name: string, namespace: string, reason: string) =>
    (await events(kind, name, namespace, reason)).reduce((n, e) => n + (e.count ?? 1), 0);
  const waitOccurrences = (kind: string, name: string, namespace: string, reason: string, n: number) =>
    waitFor(`${n} ${reason} on ${kind} ${namespace}/${name}`, async () => ((await occurrences(kind, name, namespace, reason)) === n ? true : undefined), { timeoutMs: 60_000 });
  /** All event occurrences on the objects, by reason, for before/after comparisons. */
  async function tally(objects: { kind: string; name: string; namespace: string }[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const o of objects) {
      for (const e of await events(o.kind, o.name, o.namespace)) {
        const key = `${o.kind}/${o.name}/${e.reason}`;
        out[key] = (out[key] ?? 0) + (e.count ?? 1);
      }
    }
    return out;
  }

  async function createPod(namespace: string, name: string): Promise<'created' | 'rejected'> {
    const body = { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.invalid/pause:1' }] } };
    return waitFor(`pod ${namespace}/${name}`, async () => {
      try {
        await api.create(`/api/v1/namespaces/${namespace}/pods`, body);
        return 'created' as const;
      } catch (err) {
        const message = (err as Error).message;
        // The ServiceAccount admission plugin needs the namespace's default ServiceAccount.
        if (/serviceaccount/i.test(message)) return undefined;
        if (apiStatusCode(err) === 403 && /exceeded quota/.test(message)) return 'rejected' as const;
        throw err;
      }
    });
  }

  /** Writes by the operator's client, without the ClusterRoles it applies at start-up. */
  const operatorWrites = (o: Operator) =>
    Object.entries(o.client.stats.writesByResource)
      .filter(([k]) => !k.endsWith(' clusterroles'))
      .reduce((n, [, v]) => n + v, 0);

  // --- provisioning, updates, force reconcile, resync and restart ---------------------------

  describe('provisioning', () => {
    const org = `prov-${sfx}`;
    const ns = `org-${org}`;
    const ws = `vdc-${org}-dev`;
    const orgRef = { kind: 'Organization', name: org, namespace: 'default' };
    const vdcRef = { kind: 'VirtualDataCenter', name: 'dev', namespace: ns };

    it('an Organization gets its namespace and role binding, phase Active and OrganizationCreated in kubectl describe', async () => {
      await createOrg(org);
      await orgPhase(org, 'Active');
      const o = await getOrg(org);
      expect(o.status?.namespace).to.equal(ns);
      expect(o.metadata.finalizers).to.include('ovim.io/organization-cleanup');
      expect(o.status?.conditions?.find((c) => c.type === 'Ready')).to.include({ status: 'True', reason: 'Provisioned' });
      expect(o.status?.observedGeneration).to.equal(1);
      const namespace = await api.get<{ metadata: { labels: Record<string, string> } }>(`/api/v1/namespaces/${ns}`);
      expect(namespace.metadata.labels).to.include({ 'app.kubernetes.io/managed-by': 'ovim-operator', 'ovim.io/organization': org });
      const rbs = await api.list<{ roleRef: { name: string }; subjects: { name: string }[] }>(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`);
      expect(rbs.items.map((rb) => [rb.roleRef.name, rb.subjects[0]?.name])).to.deep.equal([
        ['ovim:org-admin', `${org}-admins`],
        ['ovim:route-secrets', 'ovim-operator'],
      ]);
      await waitOccurrences('Organization', org, 'default', 'OrganizationCreated', 1);
      const describe = await kubectlOk(cp.kubeconfigPath, ['describe', 'organization', org]);
      expect(describe).to.match(/Normal\s+OrganizationCreated\s+.*ovim-controller\s+Organization '.*' created by a-user/);
    });

    it('a VDC gets its namespace, quota, limit range, network policy and role binding, phase Active and VDCCreated', async () => {
      await createVdc('dev', org, { cpu: '4', memory: '8Gi', storage: '100Gi', pods: 20 });
      await vdcPhase(ns, 'dev', 'Active');
      const v = await getVdc(ns, 'dev');
      expect(v.status?.namespace).to.equal(ws);
      const quota = await api.get<{ spec: { hard: Record<string, string> } }>(`/api/v1/namespaces/${ws}/resourcequotas/vdc-quota`);
      expect(quota.spec.hard).to.deep.equal({
        'requests.cpu': '4',
        'requests.memory': '8Gi',
        'requests.storage': '100Gi',
        pods: '20',
        'count/virtualmachines.kubevirt.io': '50',
      });
      const limits = await api.get<{ spec: { limits: Record<string, unknown>[] } }>(`/api/v1/namespaces/${ws}/limitranges/vdc-limits`);
      expect(limits.spec.limits).to.deep.equal([
        { type: 'Container', default: { cpu: '500m', memory: '512Mi' }, defaultRequest: { cpu: '100m', memory: '128Mi' } },
      ]);
      const policy = await api.get<{ spec: Record<string, unknown> }>(`/apis/networking.k8s.io/v1/namespaces/${ws}/networkpolicies/vdc-network-policy`);
      // The default mode: ingress from the organization's namespaces only.
      expect(policy.spec).to.deep.equal({
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'ovim.io/organization': org } } }] }],
      });
      const rbs = await api.list<{ roleRef: { name: string }; subjects: { name: string }[] }>(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ws}/rolebindings`);
      expect(rbs.items.map((rb) => [rb.roleRef.name, rb.subjects[0]?.name])).to.deep.equal([['ovim:vdc-admin', `${org}-admins`]]);
      await waitOccurrences('VirtualDataCenter', 'dev', ns, 'VDCCreated', 1);
      const [created] = await events('VirtualDataCenter', 'dev', ns, 'VDCCreated');
      expect(created?.metadata.annotations).to.include({ 'ovim.io/organization': org, 'ovim.io/vdc': 'dev', 'ovim.io/actor': 'a-user' });
      await waitFor('vdcCount 1', async () => ((await getOrg(org)).status?.vdcCount === 1 ? true : undefined));
      expect(await kubectlOk(cp.kubeconfigPath, ['describe', 'vdc', '-n', ns, 'dev'])).to.match(/Normal\s+VDCCreated/);
    });

    it('a spec change records ...Updated and updates the children', async () => {
      await api.patch(orgPath(org), { spec: { admins: [`${org}-admins`, `${org}-ops`] } }, 'merge');
      await api.patch(vdcPath(ns, 'dev'), { spec: { quota: { cpu: '6' }, networkPolicy: 'isolated' } }, 'merge');
      await waitOccurrences('Organization', org, 'default', 'OrganizationUpdated', 1);
      await waitOccurrences('VirtualDataCenter', 'dev', ns, 'VDCUpdated', 1);
      const groups = async (namespace: string) =>
        (await api.list<{ subjects: { name: string }[] }>(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`)).items
          .map((rb) => rb.subjects[0]?.name)
          .sort();
      // Besides the groups, the operator's own ovim:route-secrets binding (subject ovim-operator).
      await waitFor('org role bindings for both groups', async () => ((await groups(ns)).length === 3 ? true : undefined));
      expect(await groups(ns)).to.deep.equal(['ovim-operator', `${org}-admins`, `${org}-ops`]);
      await waitFor('VDC role bindings for both groups', async () => ((await groups(ws)).length === 2 ? true : undefined));
      await waitFor('quota cpu 6', async () => {
        const q = await api.get<{ spec: { hard: Record<string, string> } }>(`/api/v1/namespaces/${ws}/resourcequotas/vdc-quota`);
        return q.spec.hard['requests.cpu'] === '6' ? true : undefined;
      });
      const np = await api.get<{ spec: { ingress: unknown[] } }>(`/apis/networking.k8s.io/v1/namespaces/${ws}/networkpolicies/vdc-network-policy`);
      expect(np.spec.ingress).to.deep.equal([{ from: [{ podSelector: {} }] }]);
      await vdcPhase(ns, 'dev', 'Active');
      expect((await getVdc(ns, 'dev')).status?.observedGeneration).to.equal(2);
    });

    it('a full resync writes nothing and records nothing', async () => {
      const o = op as Operator;
      await settle();
      const paths = [orgPath(org), vdcPath(ns, 'dev'), `/api/v1/namespaces/${ns}`, `/api/v1/namespaces/${ws}`, `/api/v1/namespaces/${ws}/resourcequotas/vdc-quota`,
        `/api/v1/namespaces/${ws}/limitranges/vdc-limits`, `/apis/networking.k8s.io/v1/namespaces/${ws}/networkpolicies/vdc-network-policy`];
      const versions = async () => Promise.all(paths.map(async (p) => (await api.get<{ metadata: { resourceVersion: string } }>(p)).metadata.resourceVersion));
      const before = await versions();
      const writes = o.client.writes;
      const stats = (o.recorder as EventRecorder).stats();
      const eventsBefore = await tally([orgRef, vdcRef]);
      o.resync();
      await settle();
      expect(o.client.writes, 'write requests during the resync').to.equal(writes);
      expect(await versions(), 'resourceVersions').to.deep.equal(before);
      const after = (o.recorder as EventRecorder).stats();
      expect(after.written + after.patched).to.equal(stats.written + stats.patched);
      expect(await tally([orgRef, vdcRef])).to.deep.equal(eventsBefore);
    });

    it('force reconcile: a deleted child role binding comes back, one ReconcileForced per value, none after a restart', async () => {
      const rbs = await api.list<{ metadata: { name: string } }>(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ws}/rolebindings`);
      const victim = rbs.items[0]!.metadata.name;
      await settle();
      const writes = (op as Operator).client.writes;
      await api.delete(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ws}/rolebindings/${victim}`);
      await kubectlOk(cp.kubeconfigPath, ['annotate', 'vdc', '-n', ns, 'dev', 'ovim.io/force-reconcile=v1', 'ovim.io/force-reconcile-by=a-user', '--overwrite']);
      await waitFor('the role binding back', async () => ((await exists(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ws}/rolebindings/${victim}`)) ? true : undefined));
      await waitOccurrences('VirtualDataCenter', 'dev', ns, 'ReconcileForced', 1);
      await waitFor('lastForcedReconcile v1', async () => ((await getVdc(ns, 'dev')).status?.lastForcedReconcile === 'v1' ? true : undefined));
      await settle();
      // Every child was applied again although only one was missing.
      expect((op as Operator).client.writes - writes, 'forced writes').to.be.at.least(7);
      const [forced] = await events('VirtualDataCenter', 'dev', ns, 'ReconcileForced');
      expect(forced?.message).to.equal("Manual reconciliation triggered for VDC 'dev' by a-user");
      expect(forced?.metadata.annotations?.['ovim.io/actor']).to.equal('a-user');

      // The same value again (another annotation changes) fires nothing; a new value fires once.
      await kubectlOk(cp.kubeconfigPath, ['annotate', 'vdc', '-n', ns, 'dev', 'unrelated=1', '--overwrite']);
      await kubectlOk(cp.kubeconfigPath, ['annotate', 'organization', org, 'ovim.io/force-reconcile=o1', '--overwrite']);
      await waitOccurrences('Organization', org, 'default', 'ReconcileForced', 1);
      await settle();
      expect(await occurrences('VirtualDataCenter', 'dev', ns, 'ReconcileForced')).to.equal(1);
      const [orgForced] = await events('Organization', org, 'default', 'ReconcileForced');
      expect(orgForced?.message).to.equal(`Manual reconciliation triggered for organization '${org}' by unknown`);
      await kubectlOk(cp.kubeconfigPath, ['annotate', 'vdc', '-n', ns, 'dev', 'ovim.io/force-reconcile=v2', '--overwrite']);
      await waitOccurrences('VirtualDataCenter', 'dev', ns, 'ReconcileForced', 2);

      await stop();
      await start();
      await settle();
      expect(await occurrences('VirtualDataCenter', 'dev', ns, 'ReconcileForced'), 'no ReconcileForced after the restart').to.equal(2);
      expect(await occurrences('Organization', org, 'default', 'ReconcileForced')).to.equal(1);
    });

    it('an operator restart records no new event and writes nothing', async () => {
      await settle();
      const before = await tally([orgRef, vdcRef]);
      await stop();
      const o = await start();
      await settle();
      expect(operatorWrites(o), `writes after restart: ${JSON.stringify(o.client.stats.writesByResource)}`).to.equal(0);
      expect(await tally([orgRef, vdcRef])).to.deep.equal(before);
      expect(before[`Organization/${org}/OrganizationCreated`]).to.equal(1);
      expect(before['VirtualDataCenter/dev/VDCCreated']).to.equal(1);
    });
  });

  // --- quota usage ---------------------------------------------------------------------------

  describe('quota usage', () => {
    const org = `quota-${sfx}`;
    const ns = `org-${org}`;
    const ws = `vdc-${org}-pool`;

    it('pods until the quota is full: QuotaThresholdReached at 90%, QuotaExceeded at 100%, usage in the status', async function () {
      this.timeout(180_000);
      await createOrg(org);
      await orgPhase(org, 'Active'); // its namespace exists: the VDC lives there
      // 1 core: the limit range's default request is 100m, so 9 pods are 90% and 10 are 100%.
      await createVdc('pool', org, { cpu: '1', memory: '8Gi', storage: '10Gi', pods: 50 });
      await vdcPhase(ns, 'pool', 'Active');
      for (let i = 0; i < 9; i++) expect(await createPod(ws, `p${i}`)).to.equal('created');
      await waitOccurrences('VirtualDataCenter', 'pool', ns, 'QuotaThresholdReached', 1);
      await waitFor('cpu at 90%', async () => ((await getVdc(ns, 'pool')).status?.resourceUsage?.cpuPercentage === 90 ? true : undefined));
      expect(await occurrences('VirtualDataCenter', 'pool', ns, 'QuotaExceeded')).to.equal(0);

      expect(await createPod(ws, 'p9')).to.equal('created');
      await waitOccurrences('VirtualDataCenter', 'pool', ns, 'QuotaExceeded', 1);
      const status = await waitFor('usage at 100%', async () => {
        const s = (await getVdc(ns, 'pool')).status;
        return s?.resourceUsage?.cpuPercentage === 100 ? s : undefined;
      });
      expect(status.resourceUsage).to.include({ cpuUsed: '1', cpuPercentage: 100, memoryPercentage: Math.floor((10 * 128 * 100) / (8 * 1024)) });
      expect(status.workloadCounts?.totalPods).to.equal(10);
      expect(status.lastMetricsUpdate).to.be.a('string');
      const [exceeded] = await events('VirtualDataCenter', 'pool', ns, 'QuotaExceeded');
      expect(exceeded?.type).to.equal('Warning');
      expect(exceeded?.message).to.match(/requests\.cpu 1\/1 \(100%\)/);
      expect(await createPod(ws, 'p10'), 'the API server rejects a pod over the quota').to.equal('rejected');

      // Resync and restart: the crossing is not reported again.
      (op as Operator).resync();
      await settle();
      await stop();
      await start();
      await settle();
      expect(await occurrences('VirtualDataCenter', 'pool', ns, 'QuotaExceeded')).to.equal(1);
      expect(await occurrences('VirtualDataCenter', 'pool', ns, 'QuotaThresholdReached')).to.equal(1);
      expect(await kubectlOk(cp.kubeconfigPath, ['get', 'vdc', '-n', ns, 'pool'])).to.match(/Active\s+True\s+100\s+15\s/);
    });
  });

  // --- the organization ceiling --------------------------------------------------------------

  describe('organization ceiling', () => {
    const org = `ceil-${sfx}`;
    const ns = `org-${org}`;

    it('a VDC over the remaining ceiling: Failed, Ready=False QuotaExceeded, one Warning; a smaller quota heals it', async () => {
      await createOrg(org, { quota: { cpu: '8', memory: '64Gi' } });
      await orgPhase(org, 'Active');
      await createVdc('a', org, { cpu: '6' });
      await vdcPhase(ns, 'a', 'Active');
      await createVdc('b', org, { cpu: '4' });
      await vdcPhase(ns, 'b', 'Failed');
      const b = await getVdc(ns, 'b');
      const ready = b.status?.conditions?.find((c) => c.type === 'Ready');
      expect(ready).to.include({ status: 'False', reason: 'QuotaExceeded' });
      expect(ready?.message).to.match(/cpu requested 4, remaining 2 of 8/);
      expect(await exists(`/api/v1/namespaces/vdc-${org}-b`), 'nothing provisioned').to.equal(false);
      await waitOccurrences('VirtualDataCenter', 'b', ns, 'QuotaExceeded', 1);
      (op as Operator).resync();
      await settle();
      expect(await occurrences('VirtualDataCenter', 'b', ns, 'QuotaExceeded'), 'once per cause, not per resync').to.equal(1);

      await api.patch(vdcPath(ns, 'b'), { spec: { quota: { cpu: '2' } } }, 'merge');
      await vdcPhase(ns, 'b', 'Active');
      await waitOccurrences('VirtualDataCenter', 'b', ns, 'VDCCreated', 1);
      expect(await exists(`/api/v1/namespaces/vdc-${org}-b`)).to.equal(true);
      expect(await occurrences('VirtualDataCenter', 'b', ns, 'QuotaExceeded')).to.equal(1);
    });
  });

  // --- each CreationFailed cause -------------------------------------------------------------

  describe('creation failures', () => {
    const org = `fail-${sfx}`;
    const ns = `org-${org}`;
    const ghost = `ghost-${sfx}`;
    const longOrg = `long-${sfx}-${'x'.repeat(30)}`;
    const disabled = `off-${sfx}`;
    const cases: { what: string; ns: string; name: string; reason: string }[] = [];

    before(async function () {
      this.timeout(120_000);
      await createOrg(org);
      await createOrg(longOrg);
      await createOrg(disabled, { isEnabled: false });
      await orgPhase(org, 'Active');
      await orgPhase(longOrg, 'Active');
      await orgPhase(disabled, 'Disabled');
    });

    async function failedOnce(c: (typeof cases)[number]): Promise<void> {
      await vdcPhase(c.ns, c.name, 'Failed');
      const ready = (await getVdc(c.ns, c.name)).status?.conditions?.find((x) => x.type === 'Ready');
      expect(ready, c.what).to.include({ status: 'False', reason: c.reason });
      await waitOccurrences('VirtualDataCenter', c.name, c.ns, 'CreationFailed', 1);
    }

    it('a VDC outside its organization namespace: Failed with its reason and one CreationFailed', async () => {
      await createVdc(`misplaced-${sfx}`, org, {}, 'default');
      cases.push({ what: 'wrong namespace', ns: 'default', name: `misplaced-${sfx}`, reason: 'WrongNamespace' });
      await failedOnce(cases[cases.length - 1]!);
    });

    it('a VDC of a missing organization: Failed with its reason and one CreationFailed', async () => {
      await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `org-${ghost}` } });
      await createVdc('orphan', ghost);
      cases.push({ what: 'organization missing', ns: `org-${ghost}`, name: 'orphan', reason: 'OrganizationNotFound' });
      await failedOnce(cases[cases.length - 1]!);
    });

    it('a VDC whose namespace name is over 63 characters: Failed with its reason and one CreationFailed', async () => {
      await createVdc('a-rather-long-vdc-name', longOrg);
      cases.push({ what: 'name too long', ns: `org-${longOrg}`, name: 'a-rather-long-vdc-name', reason: 'NamespaceNameTooLong' });
      await failedOnce(cases[cases.length - 1]!);
    });

    it('a VDC whose namespace belongs to someone else: Failed with its reason and one CreationFailed', async () => {
      await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `vdc-${org}-taken` } });
      await createVdc('taken', org);
      cases.push({ what: 'namespace owned by someone else', ns, name: 'taken', reason: 'NamespaceConflict' });
      await failedOnce(cases[cases.length - 1]!);
    });

    it('a VDC of a disabled organization: Failed with its reason and one CreationFailed', async () => {
      await createVdc('sleepy', disabled);
      cases.push({ what: 'organization disabled', ns: `org-${disabled}`, name: 'sleepy', reason: 'OrganizationDisabled' });
      await failedOnce(cases[cases.length - 1]!);
    });

    it('no CreationFailed repeats after a resync and a restart', async function () {
      this.timeout(180_000);
      expect(cases).to.have.length(5);
      (op as Operator).resync();
      await settle();
      await stop();
      await start();
      await settle();
      for (const c of cases) {
        expect(await occurrences('VirtualDataCenter', c.name, c.ns, 'CreationFailed'), c.what).to.equal(1);
      }
      expect(await exists(`/api/v1/namespaces/vdc-${org}-taken`)).to.equal(true);
      const taken = await api.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/namespaces/vdc-${org}-taken`);
      expect(taken.metadata.labels?.['ovim.io/vdc'], 'the foreign namespace is left alone').to.equal(undefined);
    });

    it('enabling the organization heals its failed VDC', async () => {
      await api.patch(orgPath(disabled), { spec: { isEnabled: true } }, 'merge');
      await orgPhase(disabled, 'Active');
      await vdcPhase(`org-${disabled}`, 'sleepy', 'Active');
      await waitOccurrences('VirtualDataCenter', 'sleepy', `org-${disabled}`, 'VDCCreated', 1);
    });
  });

  // --- disable ----------------------------------------------------------------------------------

  describe('disabling an organization', () => {
    const org = `dis-${sfx}`;
    const ns = `org-${org}`;

    it('makes it Disabled and its VDCs Suspended, deleting nothing; enabling restores Active', async () => {
      await createOrg(org);
      await orgPhase(org, 'Active'); // its namespace exists: the VDC lives there
      await createVdc('web', org);
      await vdcPhase(ns, 'web', 'Active');
      await api.patch(orgPath(org), { spec: { isEnabled: false } }, 'merge');
      await orgPhase(org, 'Disabled');
      await vdcPhase(ns, 'web', 'Suspended');
      // Nothing deleted: both namespaces and every child of the VDC namespace stay.
      const web = `vdc-${org}-web`;
      for (const path of [
        `/api/v1/namespaces/${web}`,
        `/api/v1/namespaces/${web}/resourcequotas/vdc-quota`,
        `/api/v1/namespaces/${web}/limitranges/vdc-limits`,
        `/apis/networking.k8s.io/v1/namespaces/${web}/networkpolicies/vdc-network-policy`,
        `/api/v1/namespaces/${ns}`,
      ]) {
        expect(await exists(path), path).to.equal(true);
      }
      const bindings = async (namespace: string) =>
        (await api.list<{ roleRef: { name: string } }>(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`)).items.map((rb) => rb.roleRef.name);
      expect(await bindings(web), 'the VDC role binding stays').to.deep.equal(['ovim:vdc-admin']);
      // The organization's: its admins' binding and the operator's own route-secrets binding.
      expect((await bindings(ns)).sort(), 'the organization role bindings stay').to.deep.equal(['ovim:org-admin', 'ovim:route-secrets']);
      // A spec change while suspended is applied (VDCUpdated) when the organization is enabled.
      await api.patch(vdcPath(ns, 'web'), { spec: { quota: { cpu: '3' } } }, 'merge');
      await settle();
      const quotaCpu = async () =>
        (await api.get<{ spec: { hard: Record<string, string> } }>(`/api/v1/namespaces/vdc-${org}-web/resourcequotas/vdc-quota`)).spec.hard['requests.cpu'];
      expect(await quotaCpu(), 'nothing changes while suspended').to.equal('4');
      expect((await getVdc(ns, 'web')).status?.observedGeneration).to.equal(1);
      await api.patch(orgPath(org), { spec: { isEnabled: true } }, 'merge');
      await orgPhase(org, 'Active');
      await vdcPhase(ns, 'web', 'Active');
      await waitOccurrences('VirtualDataCenter', 'web', ns, 'VDCUpdated', 1);
      expect(await quotaCpu()).to.equal('3');
      await settle();
      expect(await occurrences('VirtualDataCenter', 'web', ns, 'VDCCreated'), 'no second Created').to.equal(1);
      expect(await occurrences('VirtualDataCenter', 'web', ns, 'CreationFailed')).to.equal(0);
      expect(await occurrences('Organization', org, 'default', 'OrganizationUpdated'), 'disable and enable').to.equal(2);
    });
  });

  // --- deletion ---------------------------------------------------------------------------------

  describe('deletion', () => {
    const org = `del-${sfx}`;
    const ns = `org-${org}`;
    const ws = `vdc-${org}-tmp`;

    it('Organization deletion is blocked while a VDC exists (one DeletionBlocked), VDC deletion removes its namespace then VDCDeleted, then the Organization goes', async function () {
      this.timeout(180_000);
      await createOrg(org);
      await orgPhase(org, 'Active'); // its namespace exists: the VDC lives there
      await createVdc('tmp', org);
      await vdcPhase(ns, 'tmp', 'Active');
      await api.delete(orgPath(org));
      await orgPhase(org, 'Terminating');
      await waitOccurrences('Organization', org, 'default', 'DeletionBlocked', 1);
      const blocked = (await getOrg(org)).status?.conditions?.find((c) => c.type === 'Ready');
      expect(blocked).to.include({ status: 'False', reason: 'DeletionBlocked' });
      (op as Operator).resync();
      await settle();
      expect(await occurrences('Organization', org, 'default', 'DeletionBlocked')).to.equal(1);
      expect(await exists(`/api/v1/namespaces/${ns}`)).to.equal(true);

      // The VDC's events live in org-<org>, which goes with the organization: watch them.
      const seen: { reason: string; workloadNamespaceGone: Promise<boolean> }[] = [];
      const watch = await new Watch(cp.kubeConfig).watch(
        `/api/v1/namespaces/${ns}/events`,
        {},
        (_phase: string, e: CoreEvent) => {
          if (e.involvedObject?.name !== 'tmp' || seen.some((x) => x.reason === e.reason)) return;
          seen.push({ reason: e.reason, workloadNamespaceGone: exists(`/api/v1/namespaces/${ws}`).then((x) => !x) });
        },
        () => undefined,
      );
      try {
        await api.delete(vdcPath(ns, 'tmp'));
        await waitFor('the VDC namespace gone', async () => ((await exists(`/api/v1/namespaces/${ws}`)) ? undefined : true), { timeoutMs: 90_000 });
        const deleted = await waitFor('VDCDeleted', async () => seen.find((x) => x.reason === 'VDCDeleted'), { timeoutMs: 30_000 });
        expect(await deleted.workloadNamespaceGone, 'VDCDeleted comes after the namespace is gone').to.equal(true);
      } finally {
        watch.abort();
      }
      await waitFor('the VDC gone', async () => ((await exists(vdcPath(ns, 'tmp'))) ? undefined : true), { timeoutMs: 30_000 });
      await waitFor('the organization gone', async () => ((await exists(orgPath(org))) ? undefined : true), { timeoutMs: 90_000 });
      expect(await exists(`/api/v1/namespaces/${ns}`)).to.equal(false);
      await waitOccurrences('Organization', org, 'default', 'OrganizationDeleted', 1);
    });
  });
});
