// The live stream's counters on /metrics: streams open, streams dropped for not reading, and
// messages delivered. Read from the hub at scrape time; registered once per registry (a new
// server on the same registry, as in tests, takes the place of the previous one).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StreamStats } from './stream-hub.js';

const sources = new WeakMap<Registry, () => StreamStats>();

export function registerStreamMetrics(registry: Registry, stats: () => StreamStats): void {
  const first = !sources.has(registry);
  sources.set(registry, stats);
  if (!first) return;
  const current = () => sources.get(registry)?.();
  const registers = [registry];
  new Gauge({
    name: 'ovim_event_streams_open',
    help: 'Live event streams (GET /api/v1/events/stream) open now',
    registers,
    collect() {
      this.set(current()?.open ?? 0);
    },
  });
  for (const [name, help, field] of [
    ['ovim_event_streams_dropped_total', 'Live event streams dropped because their client did not read', 'dropped'],
    ['ovim_event_stream_messages_total', 'Messages (events, heartbeats) written to live event streams', 'delivered'],
  ] as const) {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        const value = current()?.[field] ?? 0;
        if (value > 0) this.inc(value);
      },
    });
  }
}
