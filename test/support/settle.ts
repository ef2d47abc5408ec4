// Waiting for a running operator to have nothing left to do, for "writes nothing / records no
// repeat" assertions: no key queued or being processed, no delayed add (a requeueAfter of a
// few seconds, a retry) due within the horizon, no debounced enqueue pending (the organization's
// vdcCount and marker clearing: invisible to the queue until it fires), every event written.
// The 30 s re-checks of a foreign namespace are reads and stay scheduled: hence the horizon.
import { expect } from 'chai';
import type { KubeConfig } from '@kubernetes/client-node';
import type { OperatorConfig } from '../../src/config.js';
import type { EventRecorder } from '../../src/events/recorder.js';
import { createLogger } from '../../src/log.js';
import { startOperator, type Operator } from '../../src/operator.js';
import { waitFor } from './wait.js';

export async function settleOperator(op: Operator, horizonMs = 10_000): Promise<void> {
  const controllers = () => Object.values(op.controllers);
  await waitFor(
    `the operator idle with no delayed add due within ${horizonMs} ms`,
    async () => {
      expect(await op.waitIdle(60_000), 'the operator became idle').to.equal(true);
      return controllers().every(
        ({ queue: q, debouncing }) => debouncing === 0 && q.length === 0 && q.processingCount === 0 && q.delayedWithin(horizonMs) === 0,
      );
    },
    { timeoutMs: 90_000, intervalMs: 100 },
  );
  expect(await (op.recorder as EventRecorder).flush(20_000), 'events flushed').to.equal(true);
}

/** An operator run in-process against a cluster, restartable, for suites that stop and start it. */
export class InProcessOperator {
  private running: Operator | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly config: OperatorConfig,
  ) {}

  get current(): Operator {
    if (!this.running) throw new Error('the operator is not running');
    return this.running;
  }

  async start(): Promise<Operator> {
    this.running = await startOperator(this.kc, this.config, createLogger('error', true));
    return this.running;
  }

  async stop(): Promise<void> {
    await this.running?.stop();
    this.running = undefined;
  }

  async restart(): Promise<Operator> {
    await this.stop();
    return this.start();
  }

  settle(): Promise<void> {
    return settleOperator(this.current);
  }
}
