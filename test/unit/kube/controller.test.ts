// The controller loop with a hand-driven event source: key mapping, one reconcile per key at a
// time, retries with backoff, requeueAfter, persistent-error reporting, metrics, draining stop.
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Controller, type EventSource } from '../../../src/kube/controller.js';
import { Debounce } from '../../../src/kube/debounce.js';
import { ReconcileStepError, isConflict, step } from '../../../src/kube/errors.js';
import { KubeApiError, requestScope } from '../../../src/kube/rest.js';
import { ItemExponentialFailureRateLimiter } from '../../../src/kube/workqueue.js';
import { createMetrics } from '../../../src/metrics.js';

class FakeSource<T extends KubernetesObject> implements EventSource<T> {
  private handlers: Record<string, ((obj: T, old?: T) => void)[]> = { add: [], update: [], delete: [] };
  items: T[] = [];
  on(event: 'add' | 'update' | 'delete', handler: (obj: T, old?: T) => void): this {
    this.handlers[event]?.push(handler);
    return this;
  }
  list(): T[] {
    return this.items;
  }
  emit(event: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers[event] ?? []) h(obj, old);
  }
}

const obj = (name: string, namespace?: string, labels?: Record<string, string>): KubernetesObject => ({
  metadata: { name, namespace, labels },
});

const until = async (cond: () => boolean, ms = 2_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe('Controller', () => {
  it('maps primary and related events to keys', async () => {
    const seen: string[] = [];
    const c = new Controller({ name: 'map', reconcile: async (k) => void seen.push(k) });
    const primary = new FakeSource();
    const related = new FakeSource();
    c.watchPrimary(primary).watch(related, (o) => o.metadata?.labels?.owner);
    c.start();
    primary.emit('add', obj('a', 'ns'));
    related.emit('update', obj('child', 'x', { owner: 'ns/b' }), obj('child', 'x'));
    related.emit('add', obj('orphan', 'x'));
    await until(() => seen.length >= 2);
    await c.stop();
    expect(seen.sort()).to.deep.equal(['ns/a', 'ns/b']);
  });

  it('counts a tracked debounce as pending work until it fires, and stops it with the controller', async () => {
    const seen: string[] = [];
    const c = new Controller({ name: 'debounced', reconcile: async (k) => void seen.push(k) });
    const counts = new Debounce((key) => c.enqueue(key), 30, 100);
    c.track(counts).start();
    counts.touch('org');
    // The queue alone looks idle: the debounced key is not in it yet.
    expect(c.queue.length + c.queue.delayedWithin(10_000)).to.equal(0);
    expect(c.debouncing).to.equal(1);
    await until(() => seen.length === 1);
    expect(c.debouncing).to.equal(0);
    counts.touch('later');
    await c.stop();
    expect(counts.pending('later'), 'stop() cancels what was still to come').to.equal(false);
    expect(c.debouncing).to.equal(0);
  });

  it('never runs two reconciles of one key at once, and collapses the adds meanwhile', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const c = new Controller({
      name: 'serial',
      workers: 4,
      reconcile: async () => {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
      },
    });
    c.start();
    c.enqueue('k');
    await until(() => calls === 1);
    for (let i = 0; i < 10; i++) c.enqueue('k');
    await c.waitIdle();
    await c.stop();
    expect(maxRunning).to.equal(1);
    expect(calls, 'the ten adds during the first run collapse into one more run').to.equal(2);
  });

  it('retries a failing key with backoff and forgets the backoff on success', async () => {
    const times: number[] = [];
    // The delays the rate limiter computed for each retry: the backoff is asserted on these (and
    // each wall gap only as at least its delay: a timer never fires early, a loaded one fires late).
    const limiter = new ItemExponentialFailureRateLimiter(5, 1_000);
    const delays: number[] = [];
    const when = limiter.when.bind(limiter);
    limiter.when = (key: string) => {
      const ms = when(key);
      delays.push(ms);
      return ms;
    };
    const c = new Controller({
      name: 'retry',
      rateLimiter: limiter,
      reconcile: async () => {
        times.push(performance.now());
        if (times.length < 5) throw new Error('boom');
      },
    });
    c.start();
    c.enqueue('k');
    await until(() => times.length === 5);
    await c.waitIdle();
    await c.stop();
    expect(delays, 'backoff per retry').to.deep.equal([5, 10, 20, 40]);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    gaps.forEach((gap, i) => expect(gap, `gap ${i}`).to.be.at.least((delays[i] as number) - 1));
    expect(c.stats.errors).to.equal(4);
    expect(c.queue.numRequeues('k'), 'forgotten on success').to.equal(0);
  });

  it('reports a failure only once it has lasted persistentAfterMs, not after a count of fast retries', async () => {
    let clock = 1_000_000;
    let calls = 0;
    let failUntil = 12;
    const reported: { key: string; failures: number; failingForMs: number }[] = [];
    const c = new Controller({
      name: 'persistent',
      rateLimiter: new ItemExponentialFailureRateLimiter(1, 4),
      persistentAfterMs: 60_000,
      now: () => clock,
      onPersistentError: (key, _e, s) => reported.push({ key, failures: s.failures, failingForMs: s.failingForMs }),
      reconcile: async () => {
        calls++;
        // A blip: ten fast failures within the same second report nothing.
        if (calls === 10) clock += 59_000;
        if (calls === 11) clock += 2_000;
        if (calls <= failUntil) throw new Error('apiserver unavailable');
      },
    });
    c.start();
    c.enqueue('k');
    await until(() => calls >= 10);
    expect(reported, 'ten failures within 59 s are not persistent').to.deep.equal([]);
    await until(() => calls >= 13);
    await c.waitIdle();
    expect(reported).to.deep.equal([{ key: 'k', failures: 11, failingForMs: 61_000 }]);
    // A new streak after the success starts the clock again.
    failUntil = 20;
    c.enqueue('k');
    await until(() => calls >= 21);
    await c.waitIdle();
    await c.stop();
    expect(reported, 'a fresh streak of fast failures reports nothing').to.have.length(1);
  });

  it('a lost lease (stop with discardQueued) aborts the running reconcile and the requests made in it', async () => {
    let seen: AbortSignal | undefined;
    let scoped: AbortSignal | undefined;
    let started = false;
    const c = new Controller({
      name: 'abort',
      reconcile: (_key, signal) => {
        seen = signal;
        scoped = requestScope.getStore();
        started = true;
        // A write that would hang far longer than the test: only the abort ends it.
        return new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
      },
    });
    c.start();
    c.enqueue('k');
    await until(() => started);
    expect(scoped, 'KubeClient requests inside the reconcile carry its signal').to.equal(seen);
    expect(await c.stop(60_000, { discardQueued: true })).to.equal(true);
    expect(seen?.aborted).to.equal(true);
    expect(c.stats.errors).to.equal(1);
  });

  it('a failing step comes out as a ReconcileStepError naming it, its HTTP status still readable', async () => {
    const err = await step('status', () => Promise.reject(new KubeApiError(409, 'the object has been modified', {}))).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ReconcileStepError);
    expect((err as ReconcileStepError).step).to.equal('status');
    expect((err as Error).message).to.equal('status: the object has been modified');
    expect(isConflict(err)).to.equal(true);
  });

  it('requeueAfter reconciles the key again after the delay', async () => {
    const times: number[] = [];
    const c = new Controller({
      name: 'after',
      reconcile: async () => {
        times.push(Date.now());
        return times.length === 1 ? { requeueAfter: 50 } : undefined;
      },
    });
    c.start();
    c.enqueue('k');
    await until(() => times.length === 2);
    await c.stop();
    expect((times[1] as number) - (times[0] as number)).to.be.at.least(45);
  });

  it('records reconcile totals by result, errors and durations', async () => {
    const metrics = createMetrics();
    let n = 0;
    const c = new Controller({
      name: 'metered',
      metrics,
      rateLimiter: new ItemExponentialFailureRateLimiter(1, 10),
      reconcile: async () => {
        if (++n === 1) throw new Error('first fails');
      },
    });
    c.start();
    c.enqueue('k');
    await until(() => n === 2);
    await c.waitIdle();
    await c.stop();
    const text = await metrics.registry.metrics();
    expect(text).to.match(/controller_runtime_reconcile_total\{controller="metered",result="error"\} 1/);
    expect(text).to.match(/controller_runtime_reconcile_total\{controller="metered",result="success"\} 1/);
    expect(text).to.match(/controller_runtime_reconcile_errors_total\{controller="metered"\} 1/);
    expect(text).to.match(/controller_runtime_reconcile_time_seconds_count\{controller="metered"\} 2/);
    expect(text).to.match(/controller_runtime_active_workers\{controller="metered"\} 0/);
  });

  it('resyncAll enqueues every primary object', async () => {
    const seen = new Set<string>();
    const c = new Controller({ name: 'resync', reconcile: async (k) => void seen.add(k) });
    const primary = new FakeSource();
    primary.items = [obj('a'), obj('b', 'ns')];
    c.watchPrimary(primary);
    c.start();
    expect(c.resyncAll()).to.equal(2);
    await c.waitIdle();
    await c.stop();
    expect([...seen].sort()).to.deep.equal(['a', 'ns/b']);
  });

  it('stop() lets a running reconcile finish before it resolves', async () => {
    let finished = false;
    const c = new Controller({
      name: 'drain',
      reconcile: async () => {
        await new Promise((r) => setTimeout(r, 50));
        finished = true;
      },
    });
    c.start();
    c.enqueue('k');
    await until(() => c.queue.pending > 0 && c.queue.length === 0);
    await c.stop();
    expect(finished).to.equal(true);
  });
});
