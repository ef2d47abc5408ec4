// /health, /healthz, /readyz: answered from callbacks the operator's main wires in (cached
// states, never an API server call per request) and the event store's size.
import { VersionApi, type KubeConfig } from '@kubernetes/client-node';
import type { EventStoreStats } from '../events/store.js';

export type Leadership = 'leader' | 'follower' | 'disabled';

export interface HealthSources {
  /** Whether the Kubernetes API server answered recently. Must return a cached state. */
  kubernetesReachable: () => boolean;
  /** Whether every informer (the event store's included) has delivered its first list. */
  informersSynced: () => boolean;
  /** This replica's leader-election role; `disabled` when it runs without election. */
  leadership: () => Leadership;
  /** The event archive's state, when it is on (section 7): `degraded` while writes fail. */
  history?: () => { status: 'ok' | 'degraded'; reason?: string; buffered: number };
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: {
    kubernetes: { status: 'reachable' | 'unreachable' };
    informers: { status: 'synced' | 'syncing' };
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
  const leadership = safe<Leadership | 'unknown'>(sources.leadership, 'unknown');
  const report: HealthReport = {
    status: reachable && synced ? 'ok' : 'degraded',
    checks: {
      kubernetes: { status: reachable ? 'reachable' : 'unreachable' },
      informers: { status: synced ? 'synced' : 'syncing' },
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
 * Asks the API server for its version every `intervalMs` (default 10 s) and remembers whether it
 * answered within `timeoutMs`, so `/health` reads a cached state instead of calling the API server
 * per request. Use `probe.reachable` as HealthSources.kubernetesReachable.
 */
export function createReachabilityProbe(
  kc: KubeConfig,
  options: { intervalMs?: number; timeoutMs?: number } = {},
): ReachabilityProbe {
  const version = kc.makeApiClient(VersionApi);
  const timeoutMs = options.timeoutMs ?? 5_000;
  let ok = false;
  let stopped = false;
  const once = async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    const answered = version.getCode().then(
      () => true,
      () => false,
    );
    ok = await Promise.race([answered, timeout]);
    clearTimeout(timer);
  };
  const first = once();
  const interval = setInterval(() => {
    if (!stopped) void once();
  }, options.intervalMs ?? 10_000);
  interval.unref();
  return {
    reachable: () => ok,
    ready: () => first,
    stop: () => {
      stopped = true;
      clearInterval(interval);
    },
  };
}
