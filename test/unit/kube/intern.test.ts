import { expect } from 'chai';
import { MAX_INTERNED_LENGTH, StringPool } from '../../../src/kube/intern.js';

const quota = (uid: string) => ({
  apiVersion: 'v1',
  kind: 'ResourceQuota',
  metadata: {
    name: 'vdc-quota',
    namespace: 'vdc-acme-dev',
    uid,
    resourceVersion: '1234',
    creationTimestamp: '2026-11-30T00:00:00Z',
    labels: { 'app.kubernetes.io/managed-by': 'ovim-operator', 'ovim.io/organization': 'acme' },
    finalizers: ['ovim.io/vdc-cleanup'],
  },
  spec: { hard: { 'requests.cpu': '4', 'requests.memory': '8Gi' } },
  status: { conditions: [{ type: 'Ready', reason: 'Provisioned', message: 'x'.repeat(10), lastTransitionTime: '2026-11-30T00:00:01Z' }] },
});

describe('StringPool', () => {
  it('leaves every value of an object as it was (in place, nested objects and arrays included)', () => {
    const pool = new StringPool();
    const obj = quota('uid-1');
    const copy = structuredClone(obj);
    expect(pool.intern(obj)).to.equal(obj);
    expect(obj).to.deep.equal(copy);
  });

  it('pools the repeated short strings once, and neither per-object values nor long strings', () => {
    const pool = new StringPool();
    pool.intern(quota('uid-1'));
    const after1 = pool.size;
    pool.intern(quota('uid-2'));
    // A second object of the same shape adds nothing: its uid, resourceVersion, timestamps and
    // message are never pooled, everything else is already there.
    expect(pool.size).to.equal(after1);
    const long = 'y'.repeat(MAX_INTERNED_LENGTH + 1);
    pool.intern({ metadata: { name: long } });
    expect(pool.size).to.equal(after1);
    pool.intern({ metadata: { name: 'short' } });
    expect(pool.size).to.equal(after1 + 1);
  });

  it('starts over when full, so that strings of objects long gone do not pile up', () => {
    const pool = new StringPool(3);
    for (const name of ['a1', 'a2', 'a3']) pool.string(name);
    expect(pool.size).to.equal(3);
    expect(pool.string('a4')).to.equal('a4');
    expect(pool.size).to.equal(1);
  });
});
