// Which stamp each lifecycle event takes its actor from (DESIGN.md section 8): Created from
// requested-by, Updated from last-modified-by, DeletionBlocked and Deleted from the deletion stamp.
import { expect } from 'chai';
import { deletedBy, modifiedBy } from '../../../src/controllers/common.js';
import { organizationEvents } from '../../../src/controllers/organization.js';
import { vdcEvents } from '../../../src/controllers/vdc.js';
import type { Condition, Organization, OrganizationStatus, VirtualDataCenter } from '../../../src/resources/types.js';

const annotations = {
  'ovim.io/requested-by': 'alice',
  'ovim.io/last-modified-by': 'bob',
  'ovim.io/deletion-requested-by': 'erin',
  'ovim.io/deletion-requested-at': '2026-01-01T10:00:00Z',
};
const org = (extra: Partial<Organization['metadata']> = {}): Organization => ({
  apiVersion: 'ovim.io/v1',
  kind: 'Organization',
  metadata: { name: 'acme', generation: 2, annotations, ...extra },
  spec: { displayName: 'Acme', admins: [] },
});
const ready = (status: 'True' | 'False', reason: string): Condition[] => [
  { type: 'Ready', status, reason, message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 2 },
];

describe('event actors from the stamps', function () {
  it('Updated is by last-modified-by; objects from before the webhook fall back to requested-by', function () {
    const prev: OrganizationStatus = { namespace: 'org-acme', phase: 'Active', observedGeneration: 1, conditions: ready('True', 'Ready') };
    const next: OrganizationStatus = { ...prev, observedGeneration: 2 };
    expect(organizationEvents(org(), prev, next)).to.deep.equal([{ type: 'Normal', reason: 'OrganizationUpdated', actor: 'bob' }]);
    const old = org({ annotations: { 'ovim.io/requested-by': 'alice' } });
    expect(modifiedBy(old)).to.equal('alice');
    const vdc: VirtualDataCenter = {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name: 'dev', namespace: 'org-acme', generation: 2, annotations },
      spec: { organizationRef: 'acme', displayName: 'Dev', quota: { cpu: '1', memory: '1Gi', storage: '1Gi' } },
    };
    const vprev = { namespace: 'vdc-acme-dev', phase: 'Active' as const, observedGeneration: 1 };
    expect(vdcEvents(vdc, vprev, { ...vprev, observedGeneration: 2 }).map((e) => e.actor)).to.deep.equal(['bob']);
  });

  it('DeletionBlocked is by the deleter of this deletion, else unknown (never the requester)', function () {
    const deleting = org({ deletionTimestamp: '2026-01-01T10:00:01Z' });
    const prev: OrganizationStatus = { namespace: 'org-acme', phase: 'Active', observedGeneration: 2, conditions: ready('True', 'Ready') };
    const blocked: OrganizationStatus = { ...prev, phase: 'Terminating', conditions: ready('False', 'DeletionBlocked') };
    expect(organizationEvents(deleting, prev, blocked).map((e) => [e.reason, e.actor])).to.deep.equal([['DeletionBlocked', 'erin']]);
    expect(deletedBy(deleting)).to.equal('erin');
    // A stamp from an earlier, refused delete does not name the deleter of this one.
    const later = org({ deletionTimestamp: '2026-01-02T10:00:00Z' });
    expect(organizationEvents(later, prev, blocked).map((e) => [e.reason, e.actor])).to.deep.equal([['DeletionBlocked', undefined]]);
  });
});
