// The pure desired-state builders of DESIGN.md section 3.
import { expect } from 'chai';
import { findCondition, setCondition } from '../../../src/resources/conditions.js';
import { desiredLimitRange } from '../../../src/resources/limitrange.js';
import { desiredOrganizationNamespace, desiredVdcNamespace, namespaceOwner, ownsNamespace } from '../../../src/resources/namespace.js';
import { roleBindingName, vdcNamespace } from '../../../src/resources/naming.js';
import { desiredNetworkPolicy } from '../../../src/resources/networkpolicy.js';
import { mebibytes, millicores, parseQuantity, percentage } from '../../../src/resources/quantity.js';
import { desiredResourceQuota, organizationCeiling, vdcQuotaAmounts } from '../../../src/resources/quota.js';
import { desiredOrganizationRoleBindings, desiredVdcRoleBindings } from '../../../src/resources/rbac.js';

describe('desired-state builders', () => {
  it('namespaces carry the ownership labels', () => {
    expect(desiredOrganizationNamespace('acme').metadata).to.deep.equal({
      name: 'org-acme',
      labels: { 'app.kubernetes.io/managed-by': 'ovim-operator', 'ovim.io/organization': 'acme' },
    });
    const ns = desiredVdcNamespace('acme', 'dev');
    expect(ns.metadata.name).to.equal('vdc-acme-dev');
    expect(ns.metadata.labels?.['ovim.io/vdc']).to.equal('dev');
    expect(namespaceOwner(ns)).to.deep.equal({ organization: 'acme', vdc: 'dev' });
  });

  it('ownership tells apart vdc-a-b-c of (a, b-c) and of (a-b, c)', () => {
    const ns = desiredVdcNamespace('a-b', 'c');
    expect(ns.metadata.name).to.equal(vdcNamespace('a', 'b-c'));
    expect(ownsNamespace(ns, 'a-b', 'c')).to.equal(true);
    expect(ownsNamespace(ns, 'a', 'b-c')).to.equal(false);
    expect(ownsNamespace(ns, 'a-b'), 'a VDC namespace is not the organization namespace').to.equal(false);
    expect(ownsNamespace({ metadata: { labels: {} } }, 'a-b', 'c')).to.equal(false);
  });

  it('one RoleBinding per admin group, to the right ClusterRole, with DNS-safe distinct names', () => {
    const rbs = desiredOrganizationRoleBindings('acme', ['Admins', 'admins', 'ops:team_1', 'admins']);
    expect(rbs).to.have.length(3);
    expect(new Set(rbs.map((r) => r.metadata.name)).size).to.equal(3);
    for (const rb of rbs) {
      expect(rb.metadata.name).to.match(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      expect(rb.metadata.namespace).to.equal('org-acme');
      expect(rb.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ovim:org-admin' });
      expect(rb.subjects?.[0]?.kind).to.equal('Group');
    }
    expect(rbs.map((r) => r.subjects?.[0]?.name).sort()).to.deep.equal(['Admins', 'admins', 'ops:team_1']);
    const vdc = desiredVdcRoleBindings('acme', 'dev', ['admins']);
    expect(vdc[0]?.metadata.namespace).to.equal('vdc-acme-dev');
    expect(vdc[0]?.roleRef.name).to.equal('ovim:vdc-admin');
    // Stable across runs and replicas: the readable group plus the first 8 hex of sha256(group).
    expect(roleBindingName('x', 'admins')).to.equal('x-admins-fa956b80');
    expect(roleBindingName('x', 'Ops:Team 1')).to.equal('x-ops-team-1-707c0c0a');
  });

  it('the quota has the five keys of the contract, with the CRD defaults', () => {
    const q = desiredResourceQuota('acme', 'dev', { cpu: '16', memory: '64Gi', storage: '1Ti' });
    expect(q.metadata.name).to.equal('vdc-quota');
    expect(q.spec.hard).to.deep.equal({
      'requests.cpu': '16',
      'requests.memory': '64Gi',
      'requests.storage': '1Ti',
      pods: '100',
      'count/virtualmachines.kubevirt.io': '50',
    });
    expect(vdcQuotaAmounts({ cpu: '2', memory: '1Gi', storage: '1Ti', pods: 3, virtualMachines: 0 })).to.deep.equal({
      cpu: 2,
      memory: 2 ** 30,
      storage: 2 ** 40,
      pods: 3,
      virtualMachines: 0,
    });
    expect(organizationCeiling({ cpu: '8' })).to.deep.equal({ cpu: 8 });
    expect(organizationCeiling(undefined)).to.deep.equal({});
  });

  it('the limit range gives defaults inside min and max', () => {
    const none = desiredLimitRange('a', 'b', undefined).spec.limits[0]!;
    // The container defaults as literals (requests 100m / 128Mi, limits 500m / 512Mi): a changed
    // constant shows here.
    expect(none.defaultRequest).to.deep.equal({ cpu: '100m', memory: '128Mi' });
    expect(none.default).to.deep.equal({ cpu: '500m', memory: '512Mi' });
    expect(none.min).to.equal(undefined);

    const tight = desiredLimitRange('a', 'b', { minCpu: 200, maxCpu: 300, minMemory: 1024, maxMemory: 2048 }).spec.limits[0]!;
    expect(tight.min).to.deep.equal({ cpu: '200m', memory: '1Gi' });
    expect(tight.max).to.deep.equal({ cpu: '300m', memory: '2Gi' });
    expect(tight.defaultRequest).to.deep.equal({ cpu: '200m', memory: '1Gi' });
    expect(tight.default).to.deep.equal({ cpu: '300m', memory: '1Gi' });

    const low = desiredLimitRange('a', 'b', { maxCpu: 50, maxMemory: 64 }).spec.limits[0]!;
    expect(low.defaultRequest).to.deep.equal({ cpu: '50m', memory: '64Mi' });
    expect(low.default).to.deep.equal({ cpu: '50m', memory: '64Mi' });
  });

  it('network policy per mode: organization-wide, isolated, none for custom', () => {
    const def = desiredNetworkPolicy('acme', 'dev', undefined);
    expect(def?.spec.ingress).to.deep.equal([{ from: [{ namespaceSelector: { matchLabels: { 'ovim.io/organization': 'acme' } } }] }]);
    expect(desiredNetworkPolicy('acme', 'dev', 'isolated')?.spec.ingress).to.deep.equal([{ from: [{ podSelector: {} }] }]);
    expect(desiredNetworkPolicy('acme', 'dev', 'custom')).to.equal(undefined);
  });

  it('quantities parse and percentages round down', () => {
    expect(parseQuantity('500m')).to.equal(0.5);
    expect(parseQuantity('2Ti')).to.equal(2 ** 41);
    expect(parseQuantity('1e3')).to.equal(1000);
    expect(parseQuantity('12k')).to.equal(12000);
    expect(parseQuantity('abc')).to.equal(undefined);
    expect(millicores(4000)).to.equal('4');
    expect(mebibytes(1536)).to.equal('1536Mi');
    expect(percentage(899, 1000)).to.equal(89);
    expect(percentage(9, 10)).to.equal(90);
    expect(percentage(3, 3)).to.equal(100);
    expect(percentage(0, 0)).to.equal(0);
  });

  it('conditions keep lastTransitionTime while the status stays the same', () => {
    const t1 = new Date('2026-01-01T00:00:00.123Z');
    const t2 = new Date('2026-01-02T00:00:00Z');
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'X', message: 'x' }, t1);
    expect(findCondition(a, 'Ready')?.lastTransitionTime).to.equal('2026-01-01T00:00:00Z');
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'Y', message: 'y' }, t2);
    expect(findCondition(b, 'Ready')?.lastTransitionTime).to.equal('2026-01-01T00:00:00Z');
    expect(findCondition(b, 'Ready')?.reason).to.equal('Y');
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Z', message: 'z' }, t2);
    expect(findCondition(c, 'Ready')?.lastTransitionTime).to.equal('2026-01-02T00:00:00Z');
    expect(c).to.have.length(1);
  });
});
