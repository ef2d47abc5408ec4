// /health, /healthz, /readyz: answered from callbacks the operator's main wires in (cached
// states, never an API server call per request) and the event store's size.
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../kube/rest.js';
import type { EventStoreStats } from '../events/store.js';

export type Leadership = 'leader' | 'follower' | 'disabled';

export interface HealthSources {
  /** Whether the Kubernetes API server answered recently. Must return a cached state. */
  kubernetesReachable: () => boolean;
  /** Whether every informer (the event store's included) has delivered its first list. */
  informersSynced: () => boolean;
  /**
   * Whether every informer follows the server now (no list or watch failing). Absent = yes.
   * Only /health reads it: the caches still serve while it is false.
   */
  informersWatching?: () => boolean;
  /** This replica's leader-election role; `disabled` when it runs without election. */
  leadership: () => Leadership;
  /** The event archive's state, when it is on (section 7): `degraded` while writes fail. */
  history?: () => { status: 'ok' | 'degraded'; reason?: string; buffered: number };
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: {
    kubernetes: { status: 'reachable' | 'unreachable' };
    /** `disconnected`: synced once, but a list or watch is failing now (the caches go stale). */
    informers: { status: 'synced' | 'syncing' | 'disconnected' };
    event_store: { status: 'ok'; size: number; max_size: number; evictions: number };
    leader_election: { status: Leadership | 'unknown' };
    history?: { status: 'ok' | 'degraded'; reason?: string; buffered: number };
  };
}

/** A callback that throws counts as "no". */
function safe<T>(probe: () => T, fallback: T): T {
  try {
    return probe();
  } catch {
    return fallback;
  }
}

export function healthReport(sources: HealthSources, store: EventStoreStats): HealthReport {
  const reachable = safe(sources.kubernetesReachable, false) === true;
  const synced = safe(sources.informersSynced, false) === true;
  const watching = sources.informersWatching ? safe(sources.informersWatching, false) === true : true;
  const leadership = safe<Leadership | 'unknown'>(sources.leadership, 'unknown');
  const report: HealthReport = {
    status: reachable && synced && watching ? 'ok' : 'degraded',
    checks: {
      kubernetes: { status: reachable ? 'reachable' : 'unreachable' },
      informers: { status: !synced ? 'syncing' : watching ? 'synced' : 'disconnected' },
      event_store: { status: 'ok', size: store.size, max_size: store.maxEvents, evictions: store.evictions },
      leader_election: { status: leadership },
    },
  };
  if (sources.history) {
    const history = safe(sources.history, { status: 'degraded' as const, reason: 'history state unknown', buffered: 0 });
    report.checks.history = history;
    if (history.status !== 'ok') report.status = 'degraded';
  }
  return report;
}

/**
 * /readyz: this replica can serve from its caches. It stays true through an API server outage
 * (the caches go stale but still serve): were it false, every replica would leave the Service
 * at once and the API and the admission webhook would go dark.
 */
export function isReady(sources: HealthSources): boolean {
  return safe(sources.informersSynced, false) === true;
}

export interface ReachabilityProbe {
  /** The last probe's outcome (false until the first one answers). */
  reachable(): boolean;
  /** Resolves after the first probe finished. */
  ready(): Promise<void>;
  stop(): void;
}

/**
 * Asks the API server for its version every `intervalMs` (default 10 s; every `retryMs`, default
 * 2 s, while it does not answer, so that /health recovers soon after an outage) and remembers
 * whether it answered within `timeoutMs`, so `/health` reads a cached state instead of calling
 * the API server per request. Use `probe.reachable` as HealthSources.kubernetesReachable.
 */
export function createReachabilityProbe(
  cluster: KubeConfig | KubeClient,
  options: { intervalMs?: number; retryMs?: number; timeoutMs?: number } = {},
): ReachabilityProbe {
  // The process's client when given one; otherwise a pool of the probe's own, closed on stop.
  const own = cluster instanceof KubeClient ? undefined : KubeClient.create(cluster, { userAgent: 'ovim-operator/probe', maxSockets: 1 });
  const client = cluster instanceof KubeClient ? Promise.resolve(cluster) : (own as Promise<KubeClient>);
  const timeoutMs = options.timeoutMs ?? 5_000;
  let ok = false;
  let stopped = false;
  const once = async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    const answered = client.then((c) => c.get('/version')).then(
      () => true,
      () => false,
    );
    ok = await Promise.race([answered, timeout]);
    clearTimeout(timer);
  };
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => void once().then(next), ok ? (options.intervalMs ?? 10_000) : (options.retryMs ?? 2_000));
    timer.unref();
  };
  const first = once();
  void first.then(next);
  return {
    reachable: () => ok,
    ready: () => first,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      void own?.then((c) => c.close(), () => undefined);
    },
  };
}
