// The work queue's read-only observation accessors, which the operator suite's settle() waits
// on: waitIdle() alone ignores delayed adds (requeueAfter, the organization debounce, retries).
import { expect } from 'chai';
import { WorkQueue } from '../../../src/kube/workqueue.js';
import { waitFor } from '../../support/wait.js';

describe('WorkQueue observation', () => {
  it('counts the keys being processed', async () => {
    const q = new WorkQueue({ name: 'observe-processing' });
    q.add('a');
    q.add('b');
    expect(q.processingCount).to.equal(0);
    const a = await q.get();
    expect(q.processingCount).to.equal(1);
    await q.get();
    expect(q.processingCount).to.equal(2);
    q.done(a as string);
    expect(q.processingCount).to.equal(1);
  });

  it('counts delayed adds by when they fire, and forgets them once they fire', async () => {
    const q = new WorkQueue({ name: 'observe-delayed' });
    q.addAfter('soon', 50);
    q.addAfter('later', 60_000);
    expect(q.delayedWithin(10_000)).to.equal(1);
    expect(q.delayedWithin(120_000)).to.equal(2);
    // waitIdle() does not see delayed adds: this is why settle() needs delayedWithin().
    expect(await q.waitIdle(1_000)).to.equal(true);
    expect(q.delayedWithin(10_000)).to.equal(1);
    await waitFor('the short delay to fire', async () => q.length === 1);
    expect(q.delayedWithin(10_000)).to.equal(0);
    expect(q.delayedWithin(120_000)).to.equal(1);
    expect(await q.get()).to.equal('soon');
    q.shutDown();
    expect(q.delayedWithin(120_000), 'shutDown drops delayed adds').to.equal(0);
  });

  it('sees a rate-limited retry as a delayed add', () => {
    const q = new WorkQueue({ name: 'observe-retry' });
    q.addRateLimited('x');
    q.addRateLimited('x');
    expect(q.delayedWithin(10_000)).to.equal(1);
    q.shutDown();
  });
});
