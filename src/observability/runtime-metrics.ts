// The controller-runtime and client-go series beyond those of src/metrics.ts, registered per
// registry (a second registration replaces the source, as in tests): max concurrent reconciles,
// reconcile panics, slow reconciles, unfinished work and the longest running processor of each
// work queue, rest_client_requests_total, leader_election_master_status, the informers' relists,
// restarts and watch staleness. Every counter whose labels are known is exported from zero.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Metrics } from '../metrics.js';
import { restClientObserver } from '../kube/rest-observer.js';

/** What a work queue reports about the work in progress (WorkQueue.unfinishedWork()). */
export interface UnfinishedWorkSource {
  unfinishedWork(): { total: number; longest: number };
}

/** What an informer reports (ResilientInformer's stats and last activity). */
export interface InformerSource {
  name: string;
  informer: {
    readonly stats: { lists: number; restarts: number; relistsOn410: number; staleRelists: number };
    readonly lastActivityAt: number;
  };
}

export interface ControllerSeries {
  maxConcurrent: Gauge<'controller'>;
  panics: Counter<'controller'>;
  slowReconciles: Counter<'controller'>;
}

interface Slot {
  controller: ControllerSeries;
  queues: Map<string, UnfinishedWorkSource>;
  informers?: () => InformerSource[];
  leaders: Map<string, () => boolean>;
  restClient?: true;
}
const slots = new WeakMap<Registry, Slot>();

function slotOf(metrics: Metrics): Slot {
  let slot = slots.get(metrics.registry);
  if (slot) return slot;
  const registers = [metrics.registry];
  const queues = new Map<string, UnfinishedWorkSource>();
  const work = (name: string, help: string, pick: (w: { total: number; longest: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['name'] as const,
      registers,
      collect() {
        this.reset();
        for (const [queue, source] of queues) this.set({ name: queue }, pick(source.unfinishedWork()));
      },
    });
  work('workqueue_unfinished_work_seconds', 'How many seconds of work has been done that is in progress and has not been observed by work_duration', (w) => w.total);
  work('workqueue_longest_running_processor_seconds', 'How many seconds has the longest running processor for workqueue been running', (w) => w.longest);
  const leaders = new Map<string, () => boolean>();
  new Gauge({
    name: 'leader_election_master_status',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
    labelNames: ['name'] as const,
    registers,
    collect() {
      this.reset();
      for (const [name, isLeader] of leaders) this.set({ name }, isLeader() ? 1 : 0);
    },
  });
  slot = {
    queues,
    leaders,
    controller: {
      maxConcurrent: new Gauge({
        name: 'controller_runtime_max_concurrent_reconciles',
        help: 'Maximum number of concurrent reconciles per controller',
        labelNames: ['controller'],
        registers,
      }),
      panics: new Counter({
        name: 'controller_runtime_reconcile_panics_total',
        help: 'Total number of reconciliation panics per controller (a programming error thrown by a reconcile: TypeError, RangeError, ReferenceError, or a non-Error)',
        labelNames: ['controller'],
        registers,
      }),
      slowReconciles: new Counter({
        name: 'ovim_slow_reconciles_total',
        help: 'Reconciles slower than --slow-reconcile-threshold, per controller (each, not only those that recorded SlowReconcile)',
        labelNames: ['controller'],
        registers,
      }),
    },
  };
  slots.set(metrics.registry, slot);
  return slot;
}

/** A controller's series, with each of its counters exported from zero. */
export function controllerSeries(metrics: Metrics, controller: string, workers: number, queue: UnfinishedWorkSource): ControllerSeries {
  const slot = slotOf(metrics);
  const labels = { controller };
  slot.controller.maxConcurrent.set(labels, workers);
  slot.controller.panics.inc(labels, 0);
  slot.controller.slowReconciles.inc(labels, 0);
  metrics.reconcileErrors.inc(labels, 0);
  for (const result of ['success', 'error', 'requeue', 'requeue_after']) metrics.reconcileTotal.inc({ controller, result }, 0);
  metrics.workqueueAdds.inc({ name: controller }, 0);
  metrics.workqueueRetries.inc({ name: controller }, 0);
  metrics.workqueueDepth.set({ name: controller }, 0);
  metrics.activeWorkers.set(labels, 0);
  slot.queues.set(controller, queue);
  return slot.controller;
}

/**
 * A reconcile "panic": what Go would panic on (a nil dereference, an index out of range) is a
 * TypeError, RangeError or ReferenceError here, or a thrown non-Error. API and step errors are not.
 */
export function isPanic(err: unknown): boolean {
  if (!(err instanceof Error)) return true;
  const cause = (err as { cause?: unknown }).cause;
  const root = err.name === 'ReconcileStepError' && cause !== undefined ? cause : err;
  return !(root instanceof Error) || root instanceof TypeError || root instanceof RangeError || root instanceof ReferenceError;
}

/** leader_election_master_status{name}: 1 while `isLeader()` (always 1 without leader election). */
export function registerLeaderMetric(metrics: Metrics, lease: string, isLeader: () => boolean): void {
  slotOf(metrics).leaders.set(lease, isLeader);
}

/** The informers' relists (by cause), restarts and seconds since their watch last delivered anything. */
export function registerInformerMetrics(metrics: Metrics, informers: () => InformerSource[]): void {
  const slot = slotOf(metrics);
  const first = slot.informers === undefined;
  slot.informers = informers;
  if (!first) return;
  const registers = [metrics.registry];
  const current = () => {
    try {
      return slot.informers?.() ?? [];
    } catch {
      return [];
    }
  };
  new Counter({
    name: 'ovim_informer_relists_total',
    help: 'Full list attempts of an informer, by cause: initial (the first list and the lists after a failed list or watch), expired (410 Gone), stale (no watch activity for too long)',
    labelNames: ['informer', 'cause'] as const,
    registers,
    collect() {
      this.reset();
      for (const { name, informer } of current()) {
        const s = informer.stats;
        this.inc({ informer: name, cause: 'expired' }, s.relistsOn410);
        this.inc({ informer: name, cause: 'stale' }, s.staleRelists);
        this.inc({ informer: name, cause: 'initial' }, Math.max(0, s.lists - s.relistsOn410 - s.staleRelists));
      }
    },
  });
  new Counter({
    name: 'ovim_informer_restarts_total',
    help: 'Failed lists or watches of an informer (each is retried with backoff)',
    labelNames: ['informer'] as const,
    registers,
    collect() {
      this.reset();
      for (const { name, informer } of current()) this.inc({ informer: name }, informer.stats.restarts);
    },
  });
  new Gauge({
    name: 'ovim_informer_watch_staleness_seconds',
    help: "Seconds since an informer's list or watch last delivered anything (an event, a bookmark, a new watch)",
    labelNames: ['informer'] as const,
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const { name, informer } of current()) this.set({ informer: name }, Math.max(0, (now - informer.lastActivityAt) / 1000));
    },
  });
}

/** rest_client_requests_total{code,method,host} and ovim_rest_client_slow_requests_total{method,host}. */
export function registerRestClientMetrics(metrics: Metrics): void {
  const slot = slotOf(metrics);
  if (slot.restClient) return;
  slot.restClient = true;
  const registers = [metrics.registry];
  new Counter({
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests to the Kubernetes API, partitioned by status code, method, and host',
    labelNames: ['code', 'method', 'host'] as const,
    registers,
    collect() {
      this.reset();
      for (const r of restClientObserver.requests()) this.inc({ code: r.code, method: r.method, host: r.host }, r.count);
    },
  });
  new Counter({
    name: 'ovim_rest_client_slow_requests_total',
    help: 'Requests to the Kubernetes API slower than --slow-api-request-threshold, by method and host',
    labelNames: ['method', 'host'] as const,
    registers,
    collect() {
      this.reset();
      // From zero for every method and host requested so far.
      for (const r of restClientObserver.requests()) this.inc({ method: r.method, host: r.host }, 0);
      for (const r of restClientObserver.slowRequests()) this.inc({ method: r.method, host: r.host }, r.count);
    },
  });
}
