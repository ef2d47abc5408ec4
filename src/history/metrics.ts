// The archive's Prometheus metrics, read from its counters at scrape time.
import { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../metrics.js';
import type { HistoryCounters } from './archive.js';

const registered = new WeakMap<object, { source: () => HistoryCounters }>();

export function registerHistoryMetrics(metrics: Metrics, source: () => HistoryCounters): void {
  const slot = registered.get(metrics.registry);
  if (slot) {
    slot.source = source;
    return;
  }
  const p = { source };
  registered.set(metrics.registry, p);
  const registers = [metrics.registry];
  const read = (): HistoryCounters | undefined => {
    try {
      return p.source();
    } catch {
      return undefined;
    }
  };
  const total = (name: string, help: string, pick: (s: HistoryCounters) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        const s = read();
        this.reset();
        if (s && pick(s) > 0) this.inc(pick(s));
      },
    });
  total('ovim_history_ingested_total', 'Events written to the archive (count bumps included)', (s) => s.ingested);
  total('ovim_history_buffer_overflow_total', 'Events dropped because the archive buffer was full', (s) => s.overflowed);
  total('ovim_history_write_failures_total', 'Failed archive write attempts (each retry counts)', (s) => s.writeFailures);
  new Gauge({
    name: 'ovim_history_buffered_events',
    help: 'Events waiting to be written to the archive',
    registers,
    collect() {
      this.set(read()?.buffered ?? 0);
    },
  });
  new Counter({
    name: 'ovim_history_retention_deleted_total',
    help: 'Archived events deleted by retention, by category, type and cause (age or count)',
    labelNames: ['category', 'type', 'cause'] as const,
    registers,
    collect() {
      const s = read();
      this.reset();
      for (const d of s?.deleted ?? []) if (d.count > 0) this.inc({ category: d.category, type: d.type, cause: d.cause }, d.count);
    },
  });
}
