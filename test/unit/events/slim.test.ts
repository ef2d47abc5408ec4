// slimEvent keeps exactly what the store reads, so the informer cache can hold slim copies.
import { expect } from 'chai';
import { compactEvent, slimEvent, type EventObject } from '../../../src/events/store.js';

const full = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: {
    name: 'dev.17f',
    namespace: 'org-acme',
    uid: 'u-1',
    resourceVersion: '42',
    creationTimestamp: '2026-01-02T03:04:05Z',
    annotations: {
      'ovim.io/organization': 'acme',
      'ovim.io/vdc': 'dev',
      'ovim.io/actor': 'platform-team',
      'ovim.io/owner': 'a-user',
      'example.com/unrelated': 'x'.repeat(500),
    },
    managedFields: [{ manager: 'ovim-operator', operation: 'Update', fieldsV1: { 'f:count': {} } }],
  },
  involvedObject: { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', name: 'dev', namespace: 'org-acme', uid: 'v-1' },
  type: 'Warning',
  reason: 'QuotaExceeded',
  message: 'quota exceeded',
  source: { component: 'ovim-controller', host: 'node-1' },
  reportingComponent: 'ovim-controller',
  reportingInstance: 'pod-1',
  firstTimestamp: '2026-01-02T03:04:05Z',
  lastTimestamp: '2026-01-02T03:09:05Z',
  count: 7,
} as unknown as EventObject;

describe('slimEvent', () => {
  it('keeps everything compactEvent reads', () => {
    expect(compactEvent(slimEvent(full), 0)).to.deep.equal(compactEvent(full, 0));
  });

  it('drops managedFields and foreign annotations but keeps the resourceVersion', () => {
    const slim = slimEvent(full);
    expect(slim.metadata.managedFields).to.equal(undefined);
    expect(slim.metadata.annotations).to.not.have.property('example.com/unrelated');
    expect(slim.metadata.resourceVersion).to.equal('42');
    expect(JSON.stringify(slim).length).to.be.lessThan(JSON.stringify(full).length / 2);
  });
});
