// The reconcilers' pure decisions: preconditions, the organization ceiling, which events a
// status transition stands for, quota usage and crossings.
import { expect } from 'chai';
import { ceilingVerdict, type CeilingCandidate } from '../../../src/controllers/ceiling.js';
import { organizationEvents } from '../../../src/controllers/organization.js';
import { quotaCrossings, quotaUsage } from '../../../src/controllers/quota.js';
import { vdcEvents, vdcPrecondition, VdcReasons } from '../../../src/controllers/vdc.js';
import type { Condition, Organization, VirtualDataCenter } from '../../../src/resources/types.js';

const org = (name: string, spec: Partial<Organization['spec']> = {}, generation = 1): Organization => ({
  apiVersion: 'ovim.io/v1',
  kind: 'Organization',
  metadata: { name, generation, annotations: { 'ovim.io/requested-by': 'a-user' } },
  spec: { displayName: name, admins: ['admins'], ...spec },
});

const vdc = (name: string, ref: string, namespace = `org-${ref}`, generation = 1): VirtualDataCenter => ({
  apiVersion: 'ovim.io/v1',
  kind: 'VirtualDataCenter',
  metadata: { name, namespace, generation },
  spec: { organizationRef: ref, displayName: name, quota: { cpu: '4', memory: '8Gi', storage: '100Gi' } },
});

const ready = (status: 'True' | 'False', reason: string, observedGeneration = 1): Condition[] => [
  { type: 'Ready', status, reason, message: reason, lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration },
];

const GiB = 2 ** 30;
const cand = (key: string, createdAt: string, cpu: number, applied?: number): CeilingCandidate => ({
  key,
  createdAt,
  name: key,
  requested: { cpu, memory: GiB },
  applied: applied === undefined ? undefined : { cpu: applied, memory: GiB },
});

describe('VDC preconditions', () => {
  const ctx = { provisioned: false, candidates: [] };

  // The five causes vdcPrecondition decides (NamespaceConflict needs the cluster: it is decided
  // while applying and tested in test/integration/operator.test.ts), each with its literal reason
  // and a message naming the cause.
  it('each of the five precondition causes of CreationFailed has its own reason and message', () => {
    const longOrg = 'o'.repeat(40);
    const overCeiling = {
      provisioned: false,
      candidates: [cand('org-acme/a', '1', 4, 4), cand('org-acme/dev', '2', 4)],
    };
    const cases: [string, ReturnType<typeof vdcPrecondition>, string, RegExp][] = [
      ['wrong namespace', vdcPrecondition(vdc('dev', 'acme', 'default'), org('acme'), ctx), 'WrongNamespace', /must be created in namespace org-acme/],
      ['no organization', vdcPrecondition(vdc('dev', 'acme'), undefined, ctx), 'OrganizationNotFound', /Organization 'acme' does not exist/],
      ['name too long', vdcPrecondition(vdc('v'.repeat(20), longOrg), org(longOrg), ctx), 'NamespaceNameTooLong', /over the limit of 63/],
      ['disabled organization', vdcPrecondition(vdc('dev', 'acme'), org('acme', { isEnabled: false }), ctx), 'OrganizationDisabled', /is disabled/],
      ['over the ceiling', vdcPrecondition(vdc('dev', 'acme'), org('acme', { quota: { cpu: '6' } }), overCeiling), 'QuotaExceeded', /remaining quota/],
    ];
    for (const [what, pre, reason, message] of cases) {
      expect(pre, what).to.include({ kind: 'failed', reason });
      expect((pre as { message: string }).message, what).to.match(message);
    }
    expect(new Set(cases.map(([, , reason]) => reason)).size).to.equal(5);
  });

  it('a provisioned VDC of a disabled organization is suspended, not failed', () => {
    expect(vdcPrecondition(vdc('dev', 'acme'), org('acme', { isEnabled: false }), { provisioned: true, candidates: [] }).kind).to.equal('suspended');
  });

  it('a quota over the remaining ceiling fails with QuotaExceeded and says what is left', () => {
    const o = org('acme', { quota: { cpu: '6' } });
    const candidates = [cand('org-acme/a', '1', 4, 4), cand('org-acme/dev', '2', 4)];
    const pre = vdcPrecondition(vdc('dev', 'acme'), o, { provisioned: false, candidates });
    expect(pre).to.include({ kind: 'failed', reason: VdcReasons.QuotaExceeded });
    expect((pre as { message: string }).message).to.match(/cpu requested 4, remaining 2 of 6/);
    const acme = org('acme');
    expect(vdcPrecondition(vdc('ok', 'acme'), acme, ctx)).to.deep.equal({ kind: 'ok', org: acme });
  });
});

describe('organization ceiling', () => {
  const ceiling = { cpu: 10 };

  it('no ceiling, everything fits', () => {
    expect(ceilingVerdict({}, [cand('a', '1', 100)], 'a').fits).to.equal(true);
  });

  it('provisioned VDCs hold their applied quota; a newer one gets what is left', () => {
    const all = [cand('a', '1', 6, 6), cand('b', '2', 5)];
    expect(ceilingVerdict(ceiling, all, 'a').fits).to.equal(true);
    const b = ceilingVerdict(ceiling, all, 'b');
    expect(b.fits).to.equal(false);
    expect(b.excess[0]).to.include({ field: 'cpu', requested: 5, remaining: 4 });
  });

  it('two new VDCs created together cannot both take the last room: the older wins', () => {
    const all = [cand('a', '1', 6), cand('b', '2', 6)];
    expect(ceilingVerdict(ceiling, all, 'a').fits).to.equal(true);
    expect(ceilingVerdict(ceiling, all, 'b').fits).to.equal(false);
  });

  it('an older VDC that does not fit itself does not hold room for the newer ones', () => {
    const all = [cand('a', '1', 20), cand('b', '2', 6)];
    expect(ceilingVerdict(ceiling, all, 'a').fits).to.equal(false);
    expect(ceilingVerdict(ceiling, all, 'b').fits).to.equal(true);
  });

  it('a rejected increase of a provisioned VDC still holds its applied quota only', () => {
    const all = [cand('a', '1', 9, 4), cand('b', '2', 6, 6)];
    expect(ceilingVerdict(ceiling, all, 'a').fits, 'a wants 9 but b holds 6').to.equal(false);
    expect(ceilingVerdict(ceiling, all, 'b').fits, 'b holds 6 beside a\u2019s applied 4').to.equal(true);
  });
});

describe('organization events', () => {
  it('first provisioning records OrganizationCreated, with the requester as actor', () => {
    const o = org('acme');
    const events = organizationEvents(o, undefined, { phase: 'Active', namespace: 'org-acme', observedGeneration: 1, conditions: ready('True', 'Provisioned') });
    expect(events).to.deep.equal([{ type: 'Normal', reason: 'OrganizationCreated', actor: 'a-user' }]);
  });

  it('a new generation applied records OrganizationUpdated; the same status records nothing', () => {
    const prev = { phase: 'Active' as const, namespace: 'org-acme', observedGeneration: 1, conditions: ready('True', 'Provisioned') };
    const o2 = org('acme', {}, 2);
    expect(organizationEvents(o2, prev, { ...prev, observedGeneration: 2, conditions: ready('True', 'Provisioned', 2) }).map((e) => e.reason)).to.deep.equal([
      'OrganizationUpdated',
    ]);
    expect(organizationEvents(org('acme'), prev, prev)).to.deep.equal([]);
  });

  it('a force-reconcile value fires once', () => {
    const o = org('acme');
    o.metadata.annotations = { ...o.metadata.annotations, 'ovim.io/force-reconcile-by': 'ops' };
    const prev = { phase: 'Active' as const, namespace: 'org-acme', observedGeneration: 1, conditions: ready('True', 'Provisioned') };
    expect(organizationEvents(o, prev, { ...prev, lastForcedReconcile: '1' })).to.deep.equal([{ type: 'Normal', reason: 'ReconcileForced', actor: 'ops' }]);
    expect(organizationEvents(o, { ...prev, lastForcedReconcile: '1' }, { ...prev, lastForcedReconcile: '1' })).to.deep.equal([]);
  });

  it('DeletionBlocked is a Warning once per cause', () => {
    const prev = { phase: 'Active' as const, namespace: 'org-acme', observedGeneration: 1, conditions: ready('True', 'Provisioned') };
    const blocked = { ...prev, phase: 'Terminating' as const, conditions: ready('False', 'DeletionBlocked') };
    expect(organizationEvents(org('acme'), prev, blocked).map((e) => [e.type, e.reason])).to.deep.equal([['Warning', 'DeletionBlocked']]);
    expect(organizationEvents(org('acme'), blocked, blocked)).to.deep.equal([]);
  });
});

describe('VDC events', () => {
  const active = { phase: 'Active' as const, namespace: 'vdc-acme-dev', observedGeneration: 1, conditions: ready('True', 'Provisioned') };

  it('Created on first provisioning, Updated on a new generation, nothing when unchanged', () => {
    expect(vdcEvents(vdc('dev', 'acme'), undefined, active).map((e) => e.reason)).to.deep.equal(['VDCCreated']);
    expect(vdcEvents(vdc('dev', 'acme', 'org-acme', 2), active, { ...active, observedGeneration: 2 }).map((e) => e.reason)).to.deep.equal(['VDCUpdated']);
    expect(vdcEvents(vdc('dev', 'acme'), active, active)).to.deep.equal([]);
  });

  it('one Warning per failure cause, a new one when the cause changes or recurs after healing', () => {
    const failed = (reason: string, gen = 1) => ({ phase: 'Failed' as const, observedGeneration: gen, conditions: ready('False', reason, gen) });
    const v = vdc('dev', 'acme');
    expect(vdcEvents(v, undefined, failed('OrganizationNotFound')).map((e) => [e.type, e.reason])).to.deep.equal([['Warning', 'CreationFailed']]);
    expect(vdcEvents(v, failed('OrganizationNotFound'), failed('OrganizationNotFound'))).to.deep.equal([]);
    expect(vdcEvents(v, failed('OrganizationNotFound'), failed('QuotaExceeded')).map((e) => e.reason)).to.deep.equal(['QuotaExceeded']);
    expect(vdcEvents(v, active, failed('QuotaExceeded')).map((e) => e.reason)).to.deep.equal(['QuotaExceeded']);
    const v2 = vdc('dev', 'acme', 'org-acme', 2);
    expect(vdcEvents(v2, failed('QuotaExceeded'), failed('QuotaExceeded', 2)).map((e) => e.reason), 'a new spec that still fails').to.deep.equal(['QuotaExceeded']);
  });
});

describe('quota usage', () => {
  const rq = (used: Record<string, string>, hard: Record<string, string> = { 'requests.cpu': '1', 'requests.memory': '1Gi', pods: '10' }) => ({
    status: { hard, used },
  });

  it('nothing until the quota controller filled the status', () => {
    expect(quotaUsage({})).to.equal(undefined);
    expect(quotaUsage({ status: { hard: {} } })).to.equal(undefined);
  });

  it('usage strings, whole percentages and counts', () => {
    const u = quotaUsage(rq({ 'requests.cpu': '900m', 'requests.memory': '512Mi', pods: '9' }));
    expect(u?.resourceUsage).to.deep.equal({ cpuUsed: '900m', cpuPercentage: 90, memoryUsed: '512Mi', memoryPercentage: 50 });
    expect(u?.workloadCounts).to.deep.equal({ totalPods: 9 });
  });

  it('crossings: threshold once, exceeded once, again only after falling back', () => {
    const u90 = quotaUsage(rq({ 'requests.cpu': '900m', pods: '9' }))!;
    const u100 = quotaUsage(rq({ 'requests.cpu': '1', pods: '10' }))!;
    const none = undefined;
    expect(quotaCrossings(none, u90, 90)).to.deep.equal({ exceeded: [], threshold: ['cpu', 'pods'] });
    const after90 = { resourceUsage: u90.resourceUsage, workloadCounts: u90.workloadCounts };
    expect(quotaCrossings(after90, u90, 90)).to.deep.equal({ exceeded: [], threshold: [] });
    expect(quotaCrossings(after90, u100, 90)).to.deep.equal({ exceeded: ['cpu', 'pods'], threshold: [] });
    const after100 = { resourceUsage: u100.resourceUsage, workloadCounts: u100.workloadCounts };
    expect(quotaCrossings(after100, u100, 90)).to.deep.equal({ exceeded: [], threshold: [] });
    expect(quotaCrossings(none, u100, 90), 'straight to 100%: only exceeded').to.deep.equal({ exceeded: ['cpu', 'pods'], threshold: [] });
  });

  it('the threshold is the configured one, not 90: at 50 and at 75', () => {
    const u50 = quotaUsage(rq({ 'requests.cpu': '500m', pods: '5' }))!;
    const u74 = quotaUsage(rq({ 'requests.cpu': '740m', pods: '7' }))!;
    const u75 = quotaUsage(rq({ 'requests.cpu': '750m', pods: '7' }))!;
    const none = undefined;
    expect(quotaCrossings(none, u50, 50)).to.deep.equal({ exceeded: [], threshold: ['cpu', 'pods'] });
    expect(quotaCrossings(none, u50, 90), '50% is below 90').to.deep.equal({ exceeded: [], threshold: [] });
    expect(quotaCrossings(none, u74, 75), 'just below').to.deep.equal({ exceeded: [], threshold: [] });
    expect(quotaCrossings(none, u75, 75), 'cpu at 75%, pods at 70%').to.deep.equal({ exceeded: [], threshold: ['cpu'] });
    const after50 = { resourceUsage: u50.resourceUsage, workloadCounts: u50.workloadCounts };
    expect(quotaCrossings(after50, u75, 50), 'already over 50').to.deep.equal({ exceeded: [], threshold: [] });
    expect(quotaCrossings(after50, u75, 75), '50 → 75 crosses 75').to.deep.equal({ exceeded: [], threshold: ['cpu'] });
  });
});
