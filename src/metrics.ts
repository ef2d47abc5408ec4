// Prometheus metrics of the whole process, one registry. Names follow controller-runtime
// (controller_runtime_*, workqueue_*) so existing dashboards and alerts work unchanged.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RecorderStats } from './events/types.js';

export interface Metrics {
  registry: Registry;
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileTime: Histogram<'controller'>;
  activeWorkers: Gauge<'controller'>;
  workqueueDepth: Gauge<'name'>;
  workqueueAdds: Counter<'name'>;
  workqueueRetries: Counter<'name'>;
  workqueueQueueDuration: Histogram<'name'>;
  workqueueWorkDuration: Histogram<'name'>;
  httpRequests: Counter<'route' | 'method' | 'code'>;
  httpDuration: Histogram<'route' | 'method'>;
}

// controller-runtime's buckets for reconcile and work-queue durations.
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const WORKQUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10];
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers,
    }),
    activeWorkers: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers,
    }),
    workqueueDepth: new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers,
    }),
    workqueueAdds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    workqueueRetries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    workqueueQueueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    }),
    workqueueWorkDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    }),
    httpRequests: new Counter({
      name: 'ovim_api_requests_total',
      help: 'HTTP requests served, by route, method and status code',
      labelNames: ['route', 'method', 'code'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'ovim_api_request_duration_seconds',
      help: 'HTTP request latency by route and method',
      labelNames: ['route', 'method'],
      buckets: HTTP_BUCKETS,
      registers,
    }),
  };
}

/** What the event store reports (src/events/store.ts `EventStore.stats()`). */
export interface EventStoreStatsSource {
  size: number;
  maxEvents: number;
  evictions: number;
  /** Of the evictions, those of a namespace that held its maximum share. */
  namespaceEvictions?: number;
}

/**
 * Providers read at scrape time, one slot per registry, so registering again (a new store or
 * recorder, e.g. in tests) replaces the provider instead of failing on a duplicate name.
 */
interface Providers {
  recorder?: () => RecorderStats;
  store?: () => EventStoreStatsSource;
}
const providers = new WeakMap<Registry, Providers>();

function slot(registry: Registry): Providers {
  let p = providers.get(registry);
  if (!p) {
    p = {};
    providers.set(registry, p);
  }
  return p;
}

/**
 * Sets a counter to an externally kept monotonic total (the recorder and store count themselves).
 * A labelled series is exported from zero, so that rate() and alerts see it before its first
 * increment.
 */
function setTotal<L extends string>(counter: Counter<L>, value: number, labels?: Partial<Record<L, string>>): void {
  if (labels) return counter.inc(labels, value > 0 ? value : 0);
  if (value > 0) counter.inc(value);
}

/** A provider call that cannot break a scrape. */
function read<T>(provider: (() => T) | undefined): T | undefined {
  try {
    return provider?.();
  } catch {
    return undefined;
  }
}

/**
 * The event recorder's counters (src/events/types.ts RecorderStats), read from `stats` at each
 * scrape: ovim_events_recorded_total{type,reason}, ovim_events_dropped_total{cause},
 * ovim_events_written_total, ovim_events_patched_total, ovim_events_aggregated_total,
 * ovim_events_spam_filtered_total, ovim_events_delivered_total, ovim_events_write_failures_total,
 * ovim_events_queue_depth.
 */
export function registerRecorderMetrics(metrics: Metrics, stats: () => RecorderStats): void {
  const p = slot(metrics.registry);
  const first = p.recorder === undefined;
  p.recorder = stats;
  if (!first) return;
  const registers = [metrics.registry];
  const current = () => read(p.recorder);
  const plain = (name: string, help: string, pick: (s: RecorderStats) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        const s = current();
        this.reset();
        if (s) setTotal(this, pick(s));
      },
    });
  new Counter({
    name: 'ovim_events_recorded_total',
    help: 'Events accepted by the recorder, by event type and reason',
    labelNames: ['type', 'reason'] as const,
    registers,
    collect() {
      const s = current();
      this.reset();
      for (const r of s?.recorded ?? []) setTotal(this, r.count, { type: r.type, reason: r.reason });
    },
  });
  new Counter({
    name: 'ovim_events_dropped_total',
    help: 'Events that were not written, by cause',
    labelNames: ['cause'] as const,
    registers,
    collect() {
      const s = current();
      this.reset();
      for (const d of s?.dropped ?? []) setTotal(this, d.count, { cause: d.cause });
    },
  });
  plain('ovim_events_written_total', 'Event objects created on the API server', (s) => s.written);
  plain('ovim_events_patched_total', 'Count bumps patched onto existing Event objects', (s) => s.patched);
  plain('ovim_events_aggregated_total', 'Records folded into a "(combined from similar events)" event', (s) => s.aggregated);
  plain('ovim_events_spam_filtered_total', 'Records stopped by the per-object rate limit', (s) => s.spamFiltered);
  plain('ovim_events_delivered_total', 'Records whose occurrence reached the API server (in a create or a count patch)', (s) => s.delivered ?? 0);
  plain('ovim_events_write_failures_total', 'Failed event write attempts (each retry counts)', (s) => s.writeFailures);
  new Gauge({
    name: 'ovim_events_queue_depth',
    help: 'Events waiting in the recorder queue',
    registers,
    collect() {
      const s = current();
      this.set(s?.queueDepth ?? 0);
    },
  });
}

/**
 * The event store's size and evictions, read from `stats` at each scrape:
 * ovim_event_store_events (events cached), ovim_event_store_max_events,
 * ovim_event_store_evictions_total.
 */
export function registerEventStoreMetrics(metrics: Metrics, stats: () => EventStoreStatsSource): void {
  const p = slot(metrics.registry);
  const first = p.store === undefined;
  p.store = stats;
  if (!first) return;
  const registers = [metrics.registry];
  const current = () => read(p.store);
  new Gauge({
    name: 'ovim_event_store_events',
    help: 'Events cached in the in-memory event store',
    registers,
    collect() {
      this.set(current()?.size ?? 0);
    },
  });
  new Gauge({
    name: 'ovim_event_store_max_events',
    help: 'Capacity of the event store; the oldest events are evicted beyond it',
    registers,
    collect() {
      this.set(current()?.maxEvents ?? 0);
    },
  });
  new Counter({
    name: 'ovim_event_store_evictions_total',
    help: 'Events evicted from the event store because it was full',
    registers,
    collect() {
      const s = current();
      this.reset();
      if (s) setTotal(this, s.evictions);
    },
  });
  new Counter({
    name: 'ovim_event_store_namespace_evictions_total',
    help: 'Events evicted because their namespace held its maximum share of the event store',
    registers,
    collect() {
      const s = current();
      this.reset();
      if (s) setTotal(this, s.namespaceEvictions ?? 0);
    },
  });
}
