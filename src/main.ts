// CLI entry: load the configuration, wire the operator (reconcilers, recorder) and the events
// API (event store, HTTP server) around one metrics registry, and handle signals. SIGTERM and
// SIGINT drain the work queues and flush pending events before exit.
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig, type OperatorConfig } from './config.js';
import { apiErrorMessage as errorMessage } from './kube/errors.js';
import { InformerFactory } from './kube/factory.js';
import { KubeClient } from './kube/rest.js';
import { MANAGED_NAMESPACES_INFORMER, NamespaceOwners } from './events/owners.js';
import { DROP_CAUSES, EventRecorder } from './events/recorder.js';
import { AppEventMirror, cachedObjectLookup, kubeObjectLookup, type ApplicationRecording } from './http/app-event-mirror.js';
import { ORGANIZATION_PLURAL, OVIM_API_VERSION, VDC_PLURAL } from './resources/types.js';
import { EVENTS_INFORMER, EventStore } from './events/store.js';
import { LISTENER_OFF, loadApiConfig, type ApiConfig } from './http/config.js';
import { createReachabilityProbe, type HealthSources } from './http/health.js';
import { startOpsServer, type OpsServer } from './http/ops.js';
import { createApiServer, registerServerCollectors, type ApiServer } from './http/server.js';
import type { HistoryArchive } from './history/archive.js';
import { openHistory } from './history/start.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { startOperator, type Operator } from './operator.js';
import { startAdmission, type Admission } from './admission/index.js';
import { startRouteEngine, type RouteEngine } from './routes/engine.js';
import { startVmWatcher, type VmWatcher } from './controllers/vm-watcher.js';
import { ArchiveVmStateBackend, VmStates } from './history/vm-states.js';
import { startWorkloadCounter, type WorkloadCounter } from './controllers/workload.js';

export interface Ovim {
  operator: Operator;
  /** The events API and panel; absent when turned off (--api-bind-address=0). */
  api?: ApiServer;
  /** Base URL the API and the panel listen on. */
  apiUrl?: string;
  /** Base URLs of the probe and metrics listeners, when they run apart from the API. */
  probesUrl?: string;
  metricsUrl?: string;
  store: EventStore;
  /** The process's shared informers (one per resource and selector). */
  informers: InformerFactory;
  /** The durable archive, unless turned off. */
  history?: HistoryArchive;
  /** KubeVirt VMs in VDC namespaces (idle without the CRD). */
  vms: VmWatcher;
  /** The VDCs' status.virtualMachines and status.pods. */
  workload: WorkloadCounter;
  stop(): Promise<void>;
}

/**
 * Starts the API first (so /readyz says 503 while the caches fill), then the operator. Every
 * replica serves the API from its own store; with leader election only the leader reconciles.
 */
export async function startOvim(
  kc: KubeConfig,
  config: OperatorConfig,
  apiConfig: ApiConfig,
  logger: Logger,
  options: { onLostLeadership?: () => void; signal?: AbortSignal; vmCrdPollMs?: number } = {},
): Promise<Ovim> {
  const metrics = createMetrics({ processMetrics: true });
  // One client and one informer per (resource, selector) for the whole process: the operator,
  // the event store and the namespace owners share them.
  const client = await KubeClient.create(kc);
  const informers = new InformerFactory(client, { watchTimeoutSeconds: config.watchTimeoutSeconds, logger });
  // Which organization owns each managed namespace: the scopes' only source for vdc-* namespaces.
  // (The operator watches the same namespaces: the same informer, so no transform here.)
  const namespaceOwners = new NamespaceOwners();
  const namespaceInformer = informers.informer(MANAGED_NAMESPACES_INFORMER);
  namespaceOwners.follow(namespaceInformer);
  const store = new EventStore({ maxEvents: apiConfig.maxEvents, logger, namespaceOwners });
  const eventInformer = informers.informer(EVENTS_INFORMER);
  store.follow(eventInformer);
  // The archive follows the same informer (one watch) and remembers the namespaces' owners.
  const history = config.history.path
    ? await openHistory(
        // Retention runs on the leader only (every replica ingests).
        { ...config.history, path: config.history.path, isLeader: () => !config.leaderElection.enabled || (operator?.isLeader() ?? false) },
        namespaceOwners,
        logger.child({ component: 'history' }),
      )
    : undefined;
  history?.follow(eventInformer).followNamespaces(namespaceInformer);
  const probe = createReachabilityProbe(client);
  let operator: Operator | undefined;
  // The API's own recorder (component ovim-api): its security events go through a correlator.
  const apiRecorder = EventRecorder.create(kc, { component: 'ovim-api', logger });
  let routes: RouteEngine | undefined;
  const recorderStats = () => (operator?.recorder instanceof EventRecorder ? operator.recorder.stats() : emptyStats);
  const health: HealthSources = {
    kubernetesReachable: probe.reachable,
    // The operator exists only once its informers have synced.
    informersSynced: () => eventInformer.hasSynced() && namespaceInformer.hasSynced() && operator !== undefined,
    // Degraded while any cache does not follow the server (an outage, a failing watch).
    informersWatching: () => informers.isWatching(),
    leadership: () => (!config.leaderElection.enabled ? 'disabled' : operator?.isLeader() ? 'leader' : 'follower'),
    history: history && (() => history.health()),
  };
  const listeners = listenersOf(apiConfig);
  const api = !listeners.api ? undefined : createApiServer({
    limits: apiConfig.maxConnections ? { maxConnections: apiConfig.maxConnections } : undefined,
    trustedProxies: apiConfig.trustedProxies,
    security: { recorder: apiRecorder, namespace: process.env.POD_NAMESPACE || 'default' },
    store,
    history,
    auth: apiConfig.auth,
    metrics,
    logger: logger.child({ component: 'api' }),
    eventRoutes: () => routes?.routes() ?? [],
    // Application-level events on existing OVIM objects are recorded on them too.
    appEvents: {
      // The recorder takes the backend's reasons at run time (outside the operator's catalog).
      mirror: new AppEventMirror(
        // The operator's Organization and VDC caches when it runs them (no GET per event).
        cachedObjectLookup(
          (kind) =>
            kind === 'VirtualMachine' ? undefined : informers.existing({ apiVersion: OVIM_API_VERSION, plural: kind === 'Organization' ? ORGANIZATION_PLURAL : VDC_PLURAL }),
          kubeObjectLookup(client),
        ),
        apiRecorder as unknown as ApplicationRecording,
        logger.child({ component: 'api' }),
      ),
      securityNamespace: process.env.POD_NAMESPACE || 'default',
    },
    recorderStats,
    health,
    serveMetrics: !listeners.separateMetrics,
  });
  if (!api) registerServerCollectors({ store, metrics, history, recorderStats });
  const ops: OpsServer[] = [];
  let apiUrl: string | undefined;
  try {
    apiUrl = await api?.listen(apiConfig.address);
    if (listeners.probes) ops.push(await startOpsServer('probes', listeners.probes, { health, store, metrics, logger }));
    if (listeners.metrics) ops.push(await startOpsServer('metrics', listeners.metrics, { health, store, metrics, logger }));
  } catch (err) {
    await Promise.all(ops.map((o) => o.close()));
    await api?.close();
    probe.stop();
    informers.stop();
    client.close();
    await apiRecorder.stop(2_000);
    await history?.close();
    throw err;
  }
  const [probesUrl, metricsUrl] = [listeners.probes && ops[0]?.url, listeners.metrics && ops.at(-1)?.url];
  // The operator registers its informers and starts them all.
  let admission: Admission | undefined;
  try {
    // The webhook serves on every replica (leader or not), before the reconcilers start.
    if (config.webhook.port > 0) {
      admission = await startAdmission(kc, config.webhook, {
        namespace: config.leaderElection.namespace,
        logger: logger.child({ component: 'admission' }),
      });
    }
    operator = await startOperator(kc, config, logger, {
      metrics,
      client,
      informers,
      onLostLeadership: options.onLostLeadership,
      signal: options.signal,
      actorVerifier: admission?.verifier,
    });
    const op = operator;
    // Event routes: fed by the store's informer; only the leader delivers (src/routes/engine.ts).
    routes = await startRouteEngine(informers, {
      client: op.client,
      recorder: op.recorder,
      events: eventInformer,
      owners: namespaceOwners,
      operatorNamespace: config.leaderElection.namespace,
      isLeader: () => op.isLeader(),
      allowCidrs: config.routes.allowCidrs,
      denyCidrs: config.routes.denyCidrs,
      allowHttp: config.routes.allowHttp,
      logger: logger.child({ component: 'routes' }),
    });
  } catch (err) {
    await operator?.stop();
    await closeRest();
    throw err;
  }
  const running = operator;
  // Everything around the operator, in the order it was started, stopped the other way round.
  async function closeRest(): Promise<void> {
    await admission?.stop();
    informers.stop();
    client.close();
    probe.stop();
    await api?.close();
    await Promise.all(ops.map((o) => o.close()));
    await apiRecorder.stop(2_000);
    await history?.close();
  }
  // What was reported about each VM lives in the archive; without one, in memory only.
  const vmStates = new VmStates(history && new ArchiveVmStateBackend(history.engine), logger.child({ component: 'vm-states' }));
  let vms: VmWatcher;
  let workload: Awaited<ReturnType<typeof startWorkloadCounter>> | undefined;
  try {
    vms = await startVmWatcher(informers, running, vmStates, {
      logger: logger.child({ component: 'vm-watcher' }),
      metrics,
      crdPollMs: options.vmCrdPollMs,
      resyncPeriodMs: config.resyncPeriodMs,
      onChange: (ns) => workload?.counter.enqueue(ns),
    });
    const watcher = vms;
    workload = await startWorkloadCounter(informers, running, (ns) => watcher.countsOf(ns), {
      logger: logger.child({ component: 'workload' }),
      metrics,
    });
  } catch (err) {
    await workload?.stop();
    await routes?.stop();
    await running.stop();
    await closeRest();
    throw err;
  }
  const counting = workload;
  let stopped: Promise<void> | undefined;
  return {
    operator: running,
    api,
    apiUrl,
    probesUrl,
    metricsUrl,
    store,
    informers,
    history,
    vms,
    workload: counting.counter,
    stop() {
      stopped ??= (async () => {
        // Before the operator: its last statuses are written while this replica still leads.
        await routes?.stop();
        await vms.stop();
        await counting.stop();
        await running.stop();
        await closeRest();
      })();
      return stopped;
    },
  };
}

/**
 * --kubeconfig (or KUBECONFIG); else, in a Pod (KUBERNETES_SERVICE_HOST), the ServiceAccount's
 * token and CA, as controller-runtime does; else ~/.kube/config. OVIM_SERVICE_ACCOUNT_ROOT
 * (default /) is where var/run/secrets/kubernetes.io/serviceaccount/ lies: a Pod's credentials
 * laid out elsewhere, for a run outside a Pod.
 */
export function loadKubeConfig(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) kc.loadFromCluster(env.OVIM_SERVICE_ACCOUNT_ROOT?.replace(/\/+$/, '') ?? '');
  else kc.loadFromDefault();
  return kc;
}

/** Which listeners run: the API unless `0`; probes and metrics apart only when configured. */
function listenersOf(c: ApiConfig): { api: boolean; probes?: string; metrics?: string; separateMetrics: boolean } {
  return {
    api: c.address !== LISTENER_OFF,
    probes: c.healthProbeAddress,
    metrics: c.metricsAddress !== undefined && c.metricsAddress !== LISTENER_OFF ? c.metricsAddress : undefined,
    separateMetrics: c.metricsAddress !== undefined,
  };
}

const emptyStats = {
  recorded: [],
  // Every cause from zero, so that ovim_events_dropped_total has its series before the first drop.
  dropped: DROP_CAUSES.map((cause) => ({ cause, count: 0 })),
  written: 0,
  patched: 0,
  aggregated: 0,
  spamFiltered: 0,
  writeFailures: 0,
  queueDepth: 0,
};

/** The program: `node --import tsx src/main.ts [flags]` (or `node dist/src/main.js`). */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  const config = loadConfig(argv);
  const apiConfig = loadApiConfig(process.env, config.api);
  const logger = createLogger(config.logLevel);
  const kc = loadKubeConfig(config.kubeconfig);
  // The handlers come first: a signal during start-up (a rollout, a node drain) aborts the
  // start and stops what it started, instead of killing the process mid-way.
  const startup = new AbortController();
  let ovim: Ovim | undefined;
  let exiting = false;
  const shutdown = (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info(`${signal}: shutting down`);
    if (!ovim) {
      startup.abort(new Error(`${signal} during start-up`));
      return; // main() goes on from the failed start
    }
    const running = ovim;
    running.stop().then(
      // The recorder's counters at exit, as one JSON line: what a restart must find written.
      () => process.stdout.write(`${JSON.stringify({ message: 'event recorder at exit', recorder: running.operator.recorder instanceof EventRecorder ? running.operator.recorder.stats() : undefined })}\n`, () => process.exit(0)),
      (err: unknown) => {
        logger.error(`shutdown failed: ${errorMessage(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    ovim = await startOvim(kc, config, apiConfig, logger, {
      signal: startup.signal,
      onLostLeadership: () => {
        logger.error('lost the leadership: exiting so that this replica restarts as a follower');
        process.exit(1);
      },
    });
  } catch (err) {
    if (!startup.signal.aborted) throw err;
    logger.info('stopped during start-up');
    process.exit(0);
  }
  // Started with --expose-gc (the churn test, `make soak`): SIGUSR2 collects the garbage and
  // prints the heap and the informer caches' sizes as one JSON line.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    const running = ovim;
    process.on('SIGUSR2', () => {
      gc();
      gc();
      const informers = Object.fromEntries(running.informers.all().map(({ name, informer }) => [name, informer.size]));
      process.stdout.write(`${JSON.stringify({ message: 'heap after gc', heapUsed: process.memoryUsage().heapUsed, informers })}\n`);
    });
  }
  if (startup.signal.aborted) {
    // The signal came as the start finished.
    await ovim.stop();
    process.exit(0);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`ovim-operator: ${errorMessage(err)}\n`);
    process.exit(1);
  });
}
