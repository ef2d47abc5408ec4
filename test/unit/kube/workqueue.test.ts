// The work queue's controller-runtime semantics, without a cluster.
import { expect } from 'chai';
import { createMetrics } from '../../../src/metrics.js';
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  WorkQueue,
  defaultControllerRateLimiter,
} from '../../../src/kube/workqueue.js';

describe('WorkQueue', () => {
  it('collapses duplicate adds of a waiting key', async () => {
    const q = new WorkQueue({ name: 'dedupe' });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).to.equal(2);
    expect(await q.get()).to.equal('a');
    expect(await q.get()).to.equal('b');
  });

  it('never hands out a key that is being processed; an add meanwhile requeues it after done()', async () => {
    const q = new WorkQueue({ name: 'processing' });
    q.add('a');
    const first = await q.get();
    expect(first).to.equal('a');
    q.add('a');
    q.add('a');
    expect(q.length, 'the key in flight is not queued again').to.equal(0);
    q.done('a');
    expect(q.length, 'queued once after done()').to.equal(1);
    expect(await q.get()).to.equal('a');
    q.done('a');
    expect(q.pending).to.equal(0);
  });

  it('wakes a waiting get() when a key arrives', async () => {
    const q = new WorkQueue({ name: 'wake' });
    const pending = q.get();
    setTimeout(() => q.add('x'), 5);
    expect(await pending).to.equal('x');
  });

  it('addAfter delays the add and keeps the earliest of two delays', async () => {
    const q = new WorkQueue({ name: 'after' });
    q.addAfter('k', 1_000);
    q.addAfter('k', 20);
    expect(q.length).to.equal(0);
    // The 20 ms add replaced the 1 s one (a state, not an upper bound on the wait).
    expect(q.delayedWithin(500), 'delayed adds due within 500 ms').to.equal(1);
    const started = performance.now();
    expect(await q.get()).to.equal('k');
    expect(performance.now() - started, 'not before its delay').to.be.at.least(10);
  });

  it('addRateLimited backs off per key exponentially and forget() resets it', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    expect([limiter.when('k'), limiter.when('k'), limiter.when('k'), limiter.when('k')]).to.deep.equal([5, 10, 20, 40]);
    expect(limiter.when('other')).to.equal(5);
    expect(limiter.numRequeues('k')).to.equal(4);
    limiter.forget('k');
    expect(limiter.when('k')).to.equal(5);
  });

  it('caps the per-key backoff at 1000 s', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    let last = 0;
    for (let i = 0; i < 40; i++) last = limiter.when('k');
    expect(last).to.equal(1_000_000);
  });

  it('the overall bucket allows a burst of 100 then 10 per second', () => {
    let now = 0;
    const bucket = new BucketRateLimiter(10, 100, () => now);
    const delays = Array.from({ length: 100 }, () => bucket.when());
    expect(delays.every((d) => d === 0)).to.equal(true);
    expect(bucket.when()).to.be.closeTo(100, 1e-6);
    expect(bucket.when()).to.be.closeTo(200, 1e-6);
    now = 10_000; // tokens refill at 10 qps, up to the burst
    expect(bucket.when()).to.equal(0);
  });

  it('the default limiter is the max of both (5 ms first, bucket after a storm)', () => {
    const limiter = defaultControllerRateLimiter();
    expect(limiter.when('a')).to.equal(5);
    const m = new MaxOfRateLimiter([new ItemExponentialFailureRateLimiter(5, 1000), new BucketRateLimiter(10, 1, () => 0)]);
    expect(m.when('x')).to.equal(5);
    expect(m.when('y')).to.be.closeTo(100, 1e-6);
  });

  it('shutDownWithDrain hands out what is queued, waits for work in flight, then get() returns undefined', async () => {
    const q = new WorkQueue({ name: 'drain' });
    q.add('a');
    q.add('b');
    const a = await q.get();
    let drained = false;
    const drain = q.shutDownWithDrain(5_000).then((ok) => (drained = ok));
    q.add('c'); // ignored after shut down
    expect(await q.get()).to.equal('b');
    q.done('b');
    await new Promise((r) => setTimeout(r, 10));
    expect(drained, 'a is still in flight').to.equal(false);
    q.done(a as string);
    await drain;
    expect(drained).to.equal(true);
    expect(await q.get()).to.equal(undefined);
  });

  it('shutDownWithDrain with discardQueued drops queued keys and waits only for work in flight', async () => {
    const q = new WorkQueue({ name: 'discard' });
    q.add('a');
    q.add('b');
    const a = await q.get();
    q.add('a'); // dirty while in flight: would run again after done() without the discard
    let drained = false;
    const drain = q.shutDownWithDrain(5_000, { discardQueued: true }).then((ok) => (drained = ok));
    expect(await q.get(), 'b was dropped').to.equal(undefined);
    await new Promise((r) => setTimeout(r, 10));
    expect(drained, 'a is still in flight').to.equal(false);
    q.done(a as string);
    await drain;
    expect(drained).to.equal(true);
    expect(q.pending, 'a was not queued again').to.equal(0);
    expect(await q.get()).to.equal(undefined);
  });

  it('records depth, adds and retries in the workqueue metrics', async () => {
    const metrics = createMetrics();
    const q = new WorkQueue({ name: 'metered', metrics });
    q.add('a');
    q.add('b');
    q.add('a');
    q.addRateLimited('c');
    const text = await metrics.registry.metrics();
    expect(text).to.match(/workqueue_adds_total\{name="metered"\} 2/);
    expect(text).to.match(/workqueue_depth\{name="metered"\} 2/);
    expect(text).to.match(/workqueue_retries_total\{name="metered"\} 1/);
    q.shutDown();
  });
});
