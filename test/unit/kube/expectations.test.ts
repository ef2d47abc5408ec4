// Write expectations: a key is "behind" from our write until the informer shows that version.
import { expect } from 'chai';
import { WriteExpectations } from '../../../src/kube/expectations.js';

describe('WriteExpectations', () => {
  it('is pending from the write until the informer delivers that resourceVersion', () => {
    const e = new WriteExpectations(() => undefined, 10_000);
    expect(e.isPending('ns/a')).to.equal(false);
    e.expect('ns/a', '42');
    expect(e.isPending('ns/a')).to.equal(true);
    e.observe('ns/a', '41'); // an older event still in flight
    expect(e.isPending('ns/a')).to.equal(true);
    e.observe('ns/a', '42');
    expect(e.isPending('ns/a')).to.equal(false);
  });

  it('expects nothing when the informer already holds the written version', () => {
    const e = new WriteExpectations((key) => (key === 'a' ? '7' : undefined), 10_000);
    e.expect('a', '7');
    expect(e.isPending('a')).to.equal(false);
    e.expect('a', '8');
    expect(e.isPending('a')).to.equal(true);
  });

  it('gives up after the timeout (a relist may jump past our version) and on forget', async () => {
    const e = new WriteExpectations(() => undefined, 20);
    e.expect('a', '1');
    await new Promise((r) => setTimeout(r, 30));
    expect(e.isPending('a')).to.equal(false);
    e.expect('b', '2');
    e.forget('b');
    expect(e.isPending('b')).to.equal(false);
    e.expect('c', undefined);
    expect(e.isPending('c'), 'a write without a version expects nothing').to.equal(false);
  });
});
