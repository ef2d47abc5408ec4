// Deciding whether a child object needs a write: quantities by value, foreign labels allowed,
// dropped fields noticed.
import { expect } from 'chai';
import { needsApply, semanticEqual, type PlainObject } from '../../../src/kube/apply.js';

const quota = (hard: Record<string, string>, labels: Record<string, string> = { a: '1' }): PlainObject => ({
  apiVersion: 'v1',
  kind: 'ResourceQuota',
  metadata: { name: 'q', namespace: 'n', labels },
  spec: { hard },
});

describe('apply helpers', () => {
  it('compares quantities by value, as the API server canonicalises them', () => {
    expect(semanticEqual('1024Gi', '1Ti')).to.equal(true);
    expect(semanticEqual('4000m', '4')).to.equal(true);
    expect(semanticEqual('1536Mi', '1.5Gi')).to.equal(true);
    expect(semanticEqual('4', '5')).to.equal(false);
    expect(semanticEqual('default', 'isolated')).to.equal(false);
  });

  it('an observed object equal to the desired one needs no write', () => {
    const observed = { ...quota({ cpu: '4', memory: '1Ti' }), status: { used: {} } };
    (observed.metadata as Record<string, unknown>).resourceVersion = '42';
    expect(needsApply(quota({ cpu: '4000m', memory: '1024Gi' }), observed)).to.equal(false);
  });

  it('labels added by someone else do not count; a missing or changed label of ours does', () => {
    expect(needsApply(quota({ cpu: '4' }), quota({ cpu: '4' }, { a: '1', other: 'x' }))).to.equal(false);
    expect(needsApply(quota({ cpu: '4' }), quota({ cpu: '4' }, { a: '2' }))).to.equal(true);
    expect(needsApply(quota({ cpu: '4' }), quota({ cpu: '4' }, {}))).to.equal(true);
  });

  it('a field we stop setting is noticed (the body is compared exactly)', () => {
    expect(needsApply(quota({ cpu: '4' }), quota({ cpu: '4', pods: '10' }))).to.equal(true);
    expect(needsApply(quota({ cpu: '4' }), quota({ cpu: '8' }))).to.equal(true);
  });

  it('a missing object needs a write', () => {
    expect(needsApply(quota({ cpu: '4' }), undefined)).to.equal(true);
  });
});
