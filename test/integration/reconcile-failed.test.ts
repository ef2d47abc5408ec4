// The two producers of ReconcileFailed, against the real control plane with the real recorder:
// - an organization whose org-<name> namespace exists without our labels (a status transition:
//   src/controllers/organization.ts) - one Warning, none on resync or restart;
// - a reconcile that keeps failing (src/operator.ts, the controllers' persistent-error hook):
//   here the API server denies the organization's role binding through a
//   ValidatingAdmissionPolicy whose message carries credentials - one Warning after the
//   threshold, its message redacted, none while the failures go on.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../src/config.js';
import { installCrds } from '../../src/kube/crds.js';
import { isNotFound } from '../../src/kube/errors.js';
import { KubeClient } from '../../src/kube/rest.js';
import type { Organization } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { InProcessOperator } from '../support/settle.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const sfx = randomBytes(2).toString('hex');
// No periodic resync: the test resyncs when it wants to see that nothing repeats.
// ReconcileFailed after 1 s of failure instead of 60 s (the threshold is a duration, not a count:
// the retries before it, 5 ms apart at first, are ten).
const config: OperatorConfig = { ...DEFAULT_CONFIG, resyncPeriodMs: 0, reconcileFailedAfterMs: 1_000 };

/** The fields of a core/v1 Event this suite reads. */
type CoreEvent = { type: string; message: string; count?: number };

describe('ReconcileFailed', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let operator: InProcessOperator;
  const cleanup: string[] = [];

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
    operator = new InProcessOperator(cp.kubeConfig, config);
    await operator.start();
  });

  after(async function () {
    this.timeout(60_000);
    for (const path of cleanup.reverse()) await api.delete(path).catch(() => undefined);
    await operator?.stop();
    api?.close();
  });

  const orgPath = (name: string) => `/apis/ovim.io/v1/organizations/${name}`;
  const getOrg = (name: string) => api.get<Organization>(orgPath(name));
  async function createOrg(name: string, admins: string[]): Promise<void> {
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name, annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { displayName: `Org ${name}`, admins },
    });
  }
  const warnings = async (name: string, reason: string) => {
    const selector = `involvedObject.kind=Organization,involvedObject.name=${name},reason=${reason}`;
    return (await api.list<CoreEvent>('/api/v1/namespaces/default/events', { fieldSelector: selector })).items;
  };
  const occurrences = async (name: string, reason: string) => (await warnings(name, reason)).reduce((n, e) => n + (e.count ?? 1), 0);
  const readyOf = async (name: string) => (await getOrg(name)).status?.conditions?.find((c) => c.type === 'Ready');

  it('an organization whose namespace exists unlabelled: Failed, one ReconcileFailed Warning, none on resync or restart', async function () {
    this.timeout(180_000);
    const org = `taken-${sfx}`;
    await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `org-${org}` } });
    cleanup.push(`/api/v1/namespaces/org-${org}`);
    await createOrg(org, [`${org}-admins`]);
    await waitFor('phase Failed', async () => (await getOrg(org)).status?.phase === 'Failed', { timeoutMs: 60_000 });
    expect(await readyOf(org)).to.include({ status: 'False', reason: 'NamespaceConflict' });
    await waitFor('one ReconcileFailed', async () => (await occurrences(org, 'ReconcileFailed')) === 1, { timeoutMs: 60_000 });
    const [event] = await warnings(org, 'ReconcileFailed');
    expect(event?.type).to.equal('Warning');
    expect(event?.message).to.match(new RegExp(`Namespace org-${org} exists and is not managed by ovim-operator`));

    operator.current.resync();
    await operator.settle();
    expect(await occurrences(org, 'ReconcileFailed'), 'none on resync').to.equal(1);
    await operator.restart();
    await operator.settle();
    expect(await occurrences(org, 'ReconcileFailed'), 'none on restart').to.equal(1);
    const ns = await api.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/namespaces/org-${org}`);
    expect(ns.metadata.labels?.['ovim.io/organization'], 'the foreign namespace is left alone').to.equal(undefined);
    cleanup.push(orgPath(org));
  });

  it('a reconcile that keeps failing: one redacted ReconcileFailed after the threshold, none while it goes on', async function () {
    this.timeout(180_000);
    const org = `frozen-${sfx}`;
    const group = `${org}-admins`;
    const policy = `ovim-test-freeze-${sfx}`;
    const secretValue = `hunter2-${sfx}-not-for-events`;
    const bearer = `abcdefghij${sfx}klmnop`;
    await api.create('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: policy },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: ['rbac.authorization.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['rolebindings'] }],
        },
        validations: [
          {
            expression: `!has(object.subjects) || !object.subjects.exists(s, s.name == '${group}')`,
            message: `role bindings for ${group} are frozen (change ticket token=${secretValue}, Authorization: Bearer ${bearer})`,
          },
        ],
      },
    });
    cleanup.push(`/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${policy}`);
    await api.create('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: policy },
      spec: { policyName: policy, validationActions: ['Deny'] },
    });
    const bindingPath = `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${policy}`;
    cleanup.push(bindingPath);
    // The policy is in force once a dry-run role binding for the group is denied (and lifted once
    // one is admitted: the API server applies a policy change a moment after the write).
    const probe = async (): Promise<'denied' | 'admitted' | 'other'> => {
      try {
        await api.create(
          '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'RoleBinding',
            metadata: { name: `probe-${sfx}` },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
            subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
          },
          { dryRun: 'All' },
        );
        return 'admitted';
      } catch (err) {
        return /frozen/.test((err as Error).message) ? 'denied' : 'other';
      }
    };
    await waitFor('the policy to deny', async () => (await probe()) === 'denied');

    await createOrg(org, [group]);
    cleanup.push(orgPath(org));
    await waitFor('one ReconcileFailed', async () => (await occurrences(org, 'ReconcileFailed')) === 1, { timeoutMs: 60_000 });
    const [event] = await warnings(org, 'ReconcileFailed');
    expect(event?.type).to.equal('Warning');
    expect(event?.message).to.match(new RegExp(`^Reconcile of organization '${org}' has been failing for \\d+ s \\(\\d+ attempts\\): .*frozen`));
    expect(event?.message, 'credentials redacted').to.contain('[REDACTED]');
    expect(event?.message).to.not.contain(secretValue);
    expect(event?.message).to.not.contain(bearer);
    // The failures go on without a second event. Two more failed reconciles, each asked for with
    // a force-reconcile instead of waiting out the backoff (its retries double: seconds apart by now).
    for (const again of ['again-1', 'again-2']) {
      const errorsNow = operator.current.controllers.organization.stats.errors;
      await api.patch(orgPath(org), { metadata: { annotations: { 'ovim.io/force-reconcile': again } } }, 'merge');
      await waitFor(`a failed reconcile after ${again}`, async () => operator.current.controllers.organization.stats.errors > errorsNow, { timeoutMs: 60_000 });
    }
    expect(await operator.current.recorder.flush?.(20_000)).to.equal(true);
    expect(await occurrences(org, 'ReconcileFailed'), 'one per failure streak').to.equal(1);

    // Lifting the policy heals the organization on the next try (asked for once the API server
    // admits the role binding; otherwise the next try is the backoff's, 40 s after the first).
    await api.delete(bindingPath);
    await waitFor('the policy lifted', async () => (await probe()) === 'admitted');
    await api.patch(orgPath(org), { metadata: { annotations: { 'ovim.io/force-reconcile': 'lifted' } } }, 'merge');
    await waitFor('phase Active', async () => (await getOrg(org)).status?.phase === 'Active', { timeoutMs: 60_000 });
    await operator.settle();
    expect(await occurrences(org, 'ReconcileFailed')).to.equal(1);
    const isGone = await api.get(bindingPath).then(() => false, (err: unknown) => isNotFound(err));
    expect(isGone).to.equal(true);
  });
});
