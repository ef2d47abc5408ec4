// CLI entry: load the configuration, wire the operator (reconcilers, recorder) and the events
// API (event store, HTTP server) around one metrics registry, and handle signals. SIGTERM and
// SIGINT drain the work queues and flush pending events before exit.
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig, type OperatorConfig } from './config.js';
import { apiErrorMessage as errorMessage } from './kube/errors.js';
import { NamespaceOwners, createNamespaceInformer } from './events/owners.js';
import { EventRecorder } from './events/recorder.js';
import { EventStore, createEventInformer } from './events/store.js';
import { loadApiConfig, type ApiConfig } from './http/config.js';
import { createReachabilityProbe } from './http/health.js';
import { createApiServer, type ApiServer } from './http/server.js';
import type { HistoryArchive } from './history/archive.js';
import { openHistory } from './history/start.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { startOperator, type Operator } from './operator.js';
import { startVmWatcher, type VmWatcher } from './controllers/vm-watcher.js';
import { ArchiveVmStateBackend, VmStates } from './history/vm-states.js';
import { startWorkloadCounter, type WorkloadCounter } from './controllers/workload.js';

export interface Ovim {
  operator: Operator;
  api: ApiServer;
  /** Base URL the API and the panel listen on. */
  apiUrl: string;
  store: EventStore;
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
  options: { onLostLeadership?: () => void; vmCrdPollMs?: number } = {},
): Promise<Ovim> {
  const metrics = createMetrics({ processMetrics: true });
  // Which organization owns each managed namespace: the scopes' only source for vdc-* namespaces.
  const namespaceOwners = new NamespaceOwners();
  const namespaceInformer = createNamespaceInformer(kc, {
    logger: logger.child({ component: 'informer:namespaces' }),
    watchTimeoutSeconds: config.watchTimeoutSeconds,
  });
  namespaceOwners.follow(namespaceInformer);
  const store = new EventStore({ maxEvents: apiConfig.maxEvents, logger, namespaceOwners });
  const eventInformer = createEventInformer(kc, {
    logger: logger.child({ component: 'informer:events' }),
    watchTimeoutSeconds: config.watchTimeoutSeconds,
  });
  store.follow(eventInformer);
  // The archive follows the same informer (one watch) and remembers the namespaces' owners.
  const history = config.history.path
    ? await openHistory({ path: config.history.path, archiveAllEvents: config.history.archiveAllEvents }, namespaceOwners, logger.child({ component: 'history' }))
    : undefined;
  history?.follow(eventInformer).followNamespaces(namespaceInformer);
  const probe = createReachabilityProbe(kc);
  let operator: Operator | undefined;
  const api = createApiServer({
    store,
    history,
    auth: apiConfig.auth,
    metrics,
    logger: logger.child({ component: 'api' }),
    recorderStats: () => (operator?.recorder instanceof EventRecorder ? operator.recorder.stats() : emptyStats),
    health: {
      kubernetesReachable: probe.reachable,
      // The operator exists only once its informers have synced.
      informersSynced: () => eventInformer.hasSynced() && namespaceInformer.hasSynced() && operator !== undefined,
      leadership: () =>
        !config.leaderElection.enabled ? 'disabled' : operator?.isLeader() ? 'leader' : 'follower',
      history: history && (() => history.health()),
    },
  });
  const apiUrl = await api.listen(apiConfig.address);
  namespaceInformer.start();
  eventInformer.start();
  try {
    operator = await startOperator(kc, config, logger, { metrics, onLostLeadership: options.onLostLeadership });
  } catch (err) {
    eventInformer.stop();
    namespaceInformer.stop();
    probe.stop();
    await api.close();
    await history?.close();
    throw err;
  }
  const running = operator;
  // Everything around the operator, in the order it was started, stopped the other way round.
  async function closeRest(): Promise<void> {
    eventInformer.stop();
    namespaceInformer.stop();
    probe.stop();
    await api.close();
    await history?.close();
  }
  // What was reported about each VM lives in the archive; without one, in memory only.
  const vmStates = new VmStates(history && new ArchiveVmStateBackend(history.engine), logger.child({ component: 'vm-states' }));
  let vms: VmWatcher;
  let workload: Awaited<ReturnType<typeof startWorkloadCounter>> | undefined;
  try {
    vms = await startVmWatcher(kc, running, vmStates, {
      logger: logger.child({ component: 'vm-watcher' }),
      metrics,
      crdPollMs: options.vmCrdPollMs,
      resyncPeriodMs: config.resyncPeriodMs,
      watchTimeoutSeconds: config.watchTimeoutSeconds,
      onChange: (ns) => workload?.counter.enqueue(ns),
    });
    const watcher = vms;
    workload = await startWorkloadCounter(kc, running, (ns) => watcher.countsOf(ns), {
      logger: logger.child({ component: 'workload' }),
      metrics,
      watchTimeoutSeconds: config.watchTimeoutSeconds,
    });
  } catch (err) {
    await workload?.stop();
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
    store,
    history,
    vms,
    workload: counting.counter,
    stop() {
      stopped ??= (async () => {
        await vms.stop();
        await counting.stop();
        await running.stop();
        await closeRest();
      })();
      return stopped;
    },
  };
}

const emptyStats = {
  recorded: [],
  dropped: [],
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
  const apiConfig = loadApiConfig();
  const logger = createLogger(config.logLevel);
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  const ovim = await startOvim(kc, config, apiConfig, logger, {
    onLostLeadership: () => {
      logger.error('lost the leadership: exiting so that this replica restarts as a follower');
      process.exit(1);
    },
  });
  let exiting = false;
  const shutdown = (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info(`${signal}: shutting down`);
    ovim.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(`shutdown failed: ${errorMessage(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`ovim-operator: ${errorMessage(err)}\n`);
    process.exit(1);
  });
}
