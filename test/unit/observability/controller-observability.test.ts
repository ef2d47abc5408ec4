// The Controller's observability without a cluster: the fields of a reconcile's log lines, the
// reconcile panics counter, max concurrent reconciles, the work in progress, SlowReconcile once
// per slow episode (a reconcile held past a low threshold; not again on resync).
import { expect } from 'chai';
import { Controller } from '../../../src/kube/controller.js';
import { ReconcileStepError, step } from '../../../src/kube/errors.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';
import type { SlowReconcile } from '../../../src/observability/slow-reconcile.js';
import { waitFor } from '../../support/wait.js';
import { capturedLogger } from './capture.js';

/** A promise the test resolves. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = () => undefined as void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The value of one series in the registry's text output, or undefined when it is not exported. */
async function sample(metrics: Metrics, name: string, labels: string): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Waits (without sleeping) until `elapsed` ms have passed since `since`. */
const elapsedPast = (since: number, ms: number) => waitFor(`${ms} ms elapsed`, async () => performance.now() - since > ms || undefined, { timeoutMs: 30_000, intervalMs: 5 });

describe('controller observability', function () {
  const controllers: Controller[] = [];
  afterEach(async () => {
    for (const c of controllers.splice(0)) await c.stop(5_000);
  });
  function controller(options: ConstructorParameters<typeof Controller>[0]): Controller {
    const c = new Controller(options);
    controllers.push(c);
    c.start();
    return c;
  }

  it("carries controller, controllerKind, namespace, name and reconcileID on the controller's and the reconciler's lines; a failure names its step", async () => {
    const { logger, lines } = capturedLogger();
    let attempts = 0;
    const c = controller({
      name: 'vdc',
      kind: 'VirtualDataCenter',
      logger: logger.child({ component: 'controller' }),
      reconcile: async () => {
        // The reconciler logs through the process logger, without the fields: they are added.
        logger.info('reconciler line');
        if (attempts++ === 0) await step('namespace', () => Promise.reject(new Error('namespaces "x" is forbidden')));
      },
    });
    c.enqueue('org-a/dev');
    await waitFor('two reconciles', async () => c.stats.reconciles >= 2 || undefined);
    const mine = lines.filter((l) => l.name === 'dev');
    const reconcilerLines = mine.filter((l) => l.message === 'reconciler line');
    expect(reconcilerLines).to.have.length(2);
    for (const l of mine) {
      expect(l).to.include({ controller: 'vdc', controllerKind: 'VirtualDataCenter', namespace: 'org-a', name: 'dev' });
      expect(l.reconcileID).to.be.a('string').with.length(36);
    }
    // One reconcileID per reconcile: the two attempts differ, the lines of one attempt agree.
    expect(reconcilerLines[0]?.reconcileID).to.not.equal(reconcilerLines[1]?.reconcileID);
    const failure = mine.find((l) => String(l.message).startsWith('reconcile of org-a/dev failed'));
    expect(failure, JSON.stringify(mine)).to.include({ step: 'namespace', error: 'namespace: namespaces "x" is forbidden', reconcileID: reconcilerLines[0]?.reconcileID });
    // A cluster-scoped key has no namespace field.
    c.enqueue('acme');
    await waitFor('acme reconciled', async () => lines.some((l) => l.name === 'acme' && l.message === 'reconciler line') || undefined);
    expect(lines.find((l) => l.name === 'acme')).to.not.have.property('namespace');
  });

  it('another component logging inside a reconcile keeps its own fields', async () => {
    const { logger, lines } = capturedLogger();
    const recorderLog = logger.child({ component: 'recorder' });
    const c = controller({ name: 'organization', kind: 'Organization', logger, reconcile: async () => void recorderLog.info('queued') });
    c.enqueue('acme');
    await waitFor('reconciled', async () => lines.some((l) => l.message === 'queued') || undefined);
    expect(lines.find((l) => l.message === 'queued')).to.not.have.property('reconcileID');
  });

  it('counts a programming error (TypeError) as a panic and a step error not; exports the counters from zero with max concurrent reconciles', async () => {
    const metrics = createMetrics();
    let mode: 'type' | 'step' | 'ok' = 'ok';
    const c = controller({
      name: 'p',
      workers: 3,
      metrics,
      reconcile: async () => {
        if (mode === 'type') throw new TypeError("Cannot read properties of undefined (reading 'spec')");
        if (mode === 'step') throw new ReconcileStepError('status', Object.assign(new Error('conflict'), { code: 409 }));
      },
    });
    expect(await sample(metrics, 'controller_runtime_reconcile_panics_total', 'controller="p"')).to.equal(0);
    expect(await sample(metrics, 'controller_runtime_max_concurrent_reconciles', 'controller="p"')).to.equal(3);
    expect(await sample(metrics, 'controller_runtime_reconcile_total', 'controller="p",result="error"')).to.equal(0);
    expect(await sample(metrics, 'workqueue_retries_total', 'name="p"')).to.equal(0);
    mode = 'step';
    c.enqueue('a');
    await waitFor('step errors', async () => c.stats.errors >= 2 || undefined);
    expect(await sample(metrics, 'controller_runtime_reconcile_panics_total', 'controller="p"')).to.equal(0);
    mode = 'type';
    const before = c.stats.errors;
    c.enqueue('b');
    await waitFor('more errors', async () => c.stats.errors > before + 1 || undefined);
    expect(await sample(metrics, 'controller_runtime_reconcile_panics_total', 'controller="p"')).to.be.at.least(1);
  });

  it('reports the work in progress (unfinished work, longest running processor) while a reconcile is held', async () => {
    const metrics = createMetrics();
    const hold = gate();
    let started = 0;
    const c = controller({ name: 'w', metrics, reconcile: async () => { started = performance.now(); await hold.opened; } });
    expect(await sample(metrics, 'workqueue_longest_running_processor_seconds', 'name="w"')).to.equal(0);
    c.enqueue('k');
    await waitFor('started', async () => started > 0 || undefined);
    await elapsedPast(started, 50);
    expect(await sample(metrics, 'workqueue_longest_running_processor_seconds', 'name="w"')).to.be.at.least(0.05);
    expect(await sample(metrics, 'workqueue_unfinished_work_seconds', 'name="w"')).to.be.at.least(0.05);
    hold.open();
    await c.waitIdle(5_000);
    expect(await sample(metrics, 'workqueue_unfinished_work_seconds', 'name="w"')).to.equal(0);
  });

  it('SlowReconcile: once for a reconcile held past the threshold, naming the slowest step; not again on resync; again in a new episode', async () => {
    const metrics = createMetrics();
    const slow: { key: string; slow: SlowReconcile }[] = [];
    let hold: ReturnType<typeof gate> | undefined = gate();
    let heldAt = 0;
    const c = controller({
      name: 'organization',
      metrics,
      slowReconcileThresholdMs: 100,
      onSlowReconcile: (key, s) => slow.push({ key, slow: s }),
      reconcile: async () => {
        await step('namespace', async () => undefined);
        const h = hold;
        if (h) {
          await step('role bindings', async () => {
            heldAt = performance.now();
            await h.opened;
          });
        }
      },
    });
    c.watchPrimary({ on: () => undefined, list: () => [{ metadata: { name: 'acme' } }] });
    c.enqueue('acme');
    await waitFor('held', async () => heldAt > 0 || undefined);
    await elapsedPast(heldAt, 150);
    hold.open();
    await waitFor('slow reported', async () => slow.length > 0 || undefined);
    expect(slow).to.have.length(1);
    expect(slow[0]?.key).to.equal('acme');
    expect(slow[0]?.slow.slowest?.step).to.equal('role bindings');
    expect(slow[0]?.slow.durationMs).to.be.at.least(100);
    // A resync whose reconcile is slow again: the same episode, nothing new.
    hold = gate();
    heldAt = 0;
    expect(c.resyncAll()).to.equal(1);
    await waitFor('held again', async () => heldAt > 0 || undefined);
    await elapsedPast(heldAt, 150);
    hold.open();
    await waitFor('two slow reconciles counted', async () => (await sample(metrics, 'ovim_slow_reconciles_total', 'controller="organization"')) === 2 || undefined);
    await c.waitIdle(5_000);
    expect(slow).to.have.length(1);
    // A fast resync ends the episode (and reports nothing).
    hold = undefined;
    const before = c.stats.reconciles;
    c.resyncAll();
    await waitFor('fast reconcile', async () => c.stats.reconciles > before || undefined);
    await c.waitIdle(5_000);
    expect(slow).to.have.length(1);
    // The next slow reconcile is a new episode: reported again.
    hold = gate();
    heldAt = 0;
    c.enqueue('acme');
    await waitFor('held a third time', async () => heldAt > 0 || undefined);
    await elapsedPast(heldAt, 150);
    hold.open();
    await waitFor('reported again', async () => slow.length === 2 || undefined);
  });
});
