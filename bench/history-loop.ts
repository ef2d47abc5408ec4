// The main event loop while one long query runs (bench:history, both engines): its delay p99 and
// max during the query, beside the same loop idle for 2 s just before, in the same process.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const ms = (n: number) => `${n.toFixed(2)} ms`;

/** The figure and its baseline, as bench:history's table prints them. */
export async function loopDuringOneQuery(run: () => Promise<unknown>): Promise<{ value: string; baseline: string }> {
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((r) => setTimeout(r, 2_000));
  idle.disable();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  await run();
  const took = performance.now() - t0;
  loop.disable();
  return {
    value: `loop p99 ${ms(loop.percentile(99) / 1e6)}, max ${ms(loop.max / 1e6)} during a ${Math.round(took)} ms query`,
    baseline: `idle loop p99 ${ms(idle.percentile(99) / 1e6)}, max ${ms(idle.max / 1e6)}`,
  };
}
