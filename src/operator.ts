// The operator: the Organization and VDC reconcilers and the QuotaWatcher, each behind a
// rate-limited work queue and registered by its own module (what it watches, how events map to
// its keys); the informers they share come from one InformerFactory; the tenant ClusterRoles are
// applied at start-up. `startOperator()` runs it in-process (src/main.ts, hack/run.ts, tests,
// the benchmark); `stop()` drains the queues and flushes the pending events.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { type OperatorConfig, DEFAULT_CONFIG } from './config.js';
import { applyObject, type PlainObject } from './kube/apply.js';
import { untilAborted } from './kube/backoff.js';
import type { Controller } from './kube/controller.js';
import { installCrds } from './kube/crds.js';
import { packagePath } from './package-files.js';
import { WriteExpectations } from './kube/expectations.js';
import { InformerFactory } from './kube/factory.js';
import { objectKey, type ResilientInformer } from './kube/informer.js';
import { LeaderElector } from './kube/leader.js';
import { KubeClient } from './kube/rest.js';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { EventRecorder } from './events/recorder.js';
import { ClientEventApi } from './events/sink.js';
import type { ActorVerification } from './events/types.js';
import { errorMessage, type EventSink } from './controllers/common.js';
import { organizationController } from './controllers/organization.js';
import { quotaController } from './controllers/quota.js';
import type { ControllerSetup, OperatorInformers } from './controllers/setup.js';
import { vdcController } from './controllers/vdc.js';
import { DeliveryLedger, loadLedger, referencedEpochs } from './controllers/delivery-ledger.js';
import { MANAGED_BY_SELECTOR } from './resources/naming.js';
import { ORGANIZATION_PLURAL, OVIM_API_VERSION, VDC_PLURAL, type Organization, type VirtualDataCenter } from './resources/types.js';
import type { KubeObject } from './kube/meta.js';
import { observeOperator } from './observability/wiring.js';

export type { OperatorInformers } from './controllers/setup.js';

type OwnedRecorder = EventSink & { flush?(timeoutMs: number): Promise<boolean>; stop?(timeoutMs?: number): Promise<void> };

export interface OperatorDeps {
  metrics?: Metrics;
  /** Defaults to a real EventRecorder (component ovim-controller) owned and stopped by the operator. */
  recorder?: OwnedRecorder;
  /** Defaults to a KubeClient of `kc`, closed on stop. */
  client?: KubeClient;
  /** The process's shared informers (src/main.ts); default: the operator's own, stopped on stop. */
  informers?: InformerFactory;
  /**
   * With leader election: called when this replica lost the lease (after its controllers
   * stopped). Default: the operator stops. The program exits non-zero so that it restarts.
   */
  onLostLeadership?: () => void;
  /** Checks the admission webhook's actor stamps (src/admission); without it actors are unverified. */
  actorVerifier?: ActorVerification;
  /** Aborts the start-up (a signal arrived): startOperator stops what it started and rejects. */
  signal?: AbortSignal;
}

export interface Operator {
  client: KubeClient;
  recorder: EventSink;
  /** Confirmed deliveries of owed lifecycle events (its writes go through a client of its own). */
  deliveries: DeliveryLedger;
  informers: OperatorInformers;
  controllers: { organization: Controller; vdc: Controller; quota: Controller };
  /** Whether this replica runs the reconcilers (always true without leader election). */
  isLeader(): boolean;
  /** Enqueues every Organization and VDC, as the periodic resync does. */
  resync(): void;
  /** Resolves when every queue is empty and no reconcile runs (true), or false at the timeout. */
  waitIdle(timeoutMs?: number): Promise<boolean>;
  /** Drains the queues, stops the informers, flushes the events. Safe to call twice. */
  stop(): Promise<void>;
}

/** The folder config/ of the package, found from this module (works from src/ and dist/). */
export function configDir(): string {
  return packagePath('config');
}

/** Applies the tenant ClusterRoles ovim:org-admin and ovim:vdc-admin (server-side apply). */
export async function installTenantRoles(client: KubeClient): Promise<string[]> {
  const text = readFileSync(join(configDir(), 'rbac', 'tenant_roles.yaml'), 'utf8');
  const docs = parseAllDocuments(text)
    .map((d) => d.toJS() as PlainObject | null)
    .filter((d): d is PlainObject => d !== null);
  for (const doc of docs) await applyObject(client, doc);
  return docs.map((d) => d.metadata.name);
}

/** The informers the operator's controllers share, from the factory (one per resource and selector). */
export function operatorInformers(factory: InformerFactory): OperatorInformers {
  const managed = (apiVersion: string, kind: string, plural: string) =>
    factory.informer<PlainObject>({ apiVersion, kind, plural, labelSelector: MANAGED_BY_SELECTOR });
  return {
    organizations: factory.informer<Organization>({ apiVersion: OVIM_API_VERSION, kind: 'Organization', plural: ORGANIZATION_PLURAL }),
    vdcs: factory.informer<VirtualDataCenter>({ apiVersion: OVIM_API_VERSION, kind: 'VirtualDataCenter', plural: VDC_PLURAL }),
    namespaces: managed('v1', 'Namespace', 'namespaces'),
    roleBindings: managed('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings'),
    quotas: managed('v1', 'ResourceQuota', 'resourcequotas'),
    limitRanges: managed('v1', 'LimitRange', 'limitranges'),
    networkPolicies: managed('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies'),
  };
}

/**
 * Our own writes of Organizations and VDCs, until their informers show them (the keys of the two
 * kinds cannot collide: VDC keys hold a '/').
 */
function writeExpectations(informers: OperatorInformers): WriteExpectations {
  const expectations = new WriteExpectations((key) => {
    const i = key.indexOf('/');
    const obj = i < 0 ? informers.organizations.get(key) : informers.vdcs.get(key.slice(i + 1), key.slice(0, i));
    return obj?.metadata?.resourceVersion;
  });
  const observe = (o: KubeObject) => expectations.observe(objectKey(o), o.metadata?.resourceVersion);
  const forget = (o: KubeObject) => expectations.forget(objectKey(o));
  informers.organizations.on('add', observe).on('update', observe).on('delete', forget);
  informers.vdcs.on('add', observe).on('update', observe).on('delete', forget);
  return expectations;
}

/** Waits for the first list of every informer; one that cannot list (RBAC, a missing CRD) is named every 30 s. */
async function waitForCaches(informers: OperatorInformers, log: Logger, signal: AbortSignal | undefined): Promise<void> {
  const all = Object.entries(informers) as [string, ResilientInformer<KubeObject>][];
  const waiting = setInterval(() => {
    log.warn(`still waiting for the first list of: ${all.filter(([, i]) => !i.hasSynced()).map(([k]) => k).join(', ')}`);
  }, 30_000);
  waiting.unref();
  try {
    await untilAborted(Promise.all(all.map(([, i]) => i.waitForSync())), signal);
  } finally {
    clearInterval(waiting);
  }
}

/** The operator's own recorder (and its connection pool), unless the caller brings one. */
async function eventRecorder(kc: KubeConfig, deps: OperatorDeps, logger: Logger): Promise<{ recorder: OwnedRecorder; close(): Promise<void> }> {
  if (deps.recorder) return { recorder: deps.recorder, close: async () => undefined };
  // Events go through their own pool, so that the operator's write counts stay its own.
  const client = await KubeClient.create(kc, { userAgent: 'ovim-operator/events', maxSockets: 8 });
  const recorder = new EventRecorder(new ClientEventApi(client), { component: 'ovim-controller', logger, actorVerifier: deps.actorVerifier });
  const log = logger.child({ component: 'operator' });
  return {
    recorder,
    async close() {
      if (!(await recorder.flush(5_000))) log.warn('not every pending event was written before the timeout');
      await recorder.stop(2_000);
      client.close();
    },
  };
}

/** With leader election the controllers run only on the holder of the Lease. */
async function electLeader(kc: KubeConfig, config: OperatorConfig, logger: Logger, onStarted: () => void, onStopped: () => void): Promise<{ elector: LeaderElector; close(): Promise<void> }> {
  const le = config.leaderElection;
  const client = await KubeClient.create(kc, { userAgent: 'ovim-operator/leader-election', maxSockets: 2 });
  const elector = new LeaderElector({
    client,
    namespace: le.namespace,
    name: le.name,
    identity: le.identity,
    leaseDurationMs: le.leaseDurationMs,
    renewDeadlineMs: le.renewDeadlineMs,
    retryPeriodMs: le.retryPeriodMs,
    logger: logger.child({ component: 'leader-election' }),
  });
  logger.child({ component: 'operator' }).info(`waiting for the lease ${le.namespace}/${le.name} as ${le.identity}`);
  elector.run({ onStartedLeading: onStarted, onStoppedLeading: onStopped });
  return {
    elector,
    async close() {
      await elector.stop();
      client.close();
    },
  };
}

export async function startOperator(
  kc: KubeConfig,
  config: OperatorConfig = DEFAULT_CONFIG,
  logger: Logger = createLogger(config.logLevel),
  deps: OperatorDeps = {},
): Promise<Operator> {
  const log = logger.child({ component: 'operator' });
  const client = deps.client ?? (await KubeClient.create(kc));
  const closeClient = () => (deps.client ? undefined : client.close());
  try {
    if (config.installCrds) log.info(`CRDs installed: ${(await untilAborted(installCrds(kc), deps.signal)).join(', ')}`);
    if (config.installRoles) log.info(`tenant ClusterRoles applied: ${(await untilAborted(installTenantRoles(client), deps.signal)).join(', ')}`);
  } catch (err) {
    closeClient();
    throw err;
  }
  const events = await eventRecorder(kc, deps, logger);
  const factory = deps.informers ?? new InformerFactory(client, { watchTimeoutSeconds: config.watchTimeoutSeconds, logger });
  const stopInformers = () => (deps.informers ? undefined : factory.stop());
  const informers = operatorInformers(factory);
  // Its own client, as the events': the operator's write counts stay the reconcilers'.
  const deliveriesClient = await KubeClient.create(kc, { userAgent: 'ovim-operator/deliveries', maxSockets: 1 });
  const deliveries = new DeliveryLedger({ client: deliveriesClient, namespace: config.leaderElection.namespace, logger });
  const stopping = new AbortController();
  const base = { client, events: events.recorder, logger, expectations: writeExpectations(informers), deliveries };
  const setup: ControllerSetup = { base, informers, config, metrics: deps.metrics, logger };
  const controllers = { organization: organizationController(setup), vdc: vdcController(setup), quota: quotaController(setup) };
  factory.start();
  try {
    await waitForCaches(informers, log, deps.signal);
  } catch (err) {
    stopInformers();
    await events.close();
    deliveriesClient.close();
    closeClient();
    throw err;
  }
  const startControllers = () => {
    // Markers are judged against the ledger as it is now (as leader): read it first.
    const referenced = () => referencedEpochs([...informers.organizations.list(), ...informers.vdcs.list()]);
    return loadLedger(deliveries, referenced, log, 2_000, deps.signal ? AbortSignal.any([stopping.signal, deps.signal]) : stopping.signal).then((loaded) => {
      if (!loaded || stopped) return;
      log.info('informers synced; starting controllers', { workers: config.workers });
      for (const c of Object.values(controllers)) c.start();
    });
  };
  let stopped: Promise<void> | undefined;
  let election: Awaited<ReturnType<typeof electLeader>> | undefined = undefined;
  function shutdown(lostLease: boolean): Promise<void> {
    stopped ??= (async () => {
      log.info(lostLease ? 'lost the lease: stopping without the queued keys' : 'stopping: draining the work queues');
      stopping.abort();
      await Promise.all(Object.values(controllers).map((c) => c.stop(20_000, { discardQueued: lostLease })));
      await deliveries.flush();
      // Release the lease only once nothing reconciles any more: a successor starts at once.
      await election?.close();
      stopInformers();
      await events.close();
      await deliveries.stop();
      deliveriesClient.close();
      closeClient();
      log.info('stopped');
    })();
    return stopped;
  }
  // Another replica may be leading already: drop the queued keys, abort the running reconciles,
  // and let the process restart as a follower.
  const lost = () =>
    void shutdown(true)
      .catch((err: unknown) => log.error(`stop after the lost lease failed: ${errorMessage(err)}`))
      .finally(() => deps.onLostLeadership?.());
  election = config.leaderElection.enabled ? await electLeader(kc, config, logger, () => void startControllers(), lost) : undefined;
  observeOperator({ config, informers, factory, metrics: deps.metrics, logger, isLeader: () => election?.elector.isLeader() ?? true });
  if (!election) await startControllers();
  return {
    client,
    recorder: events.recorder,
    deliveries,
    informers,
    controllers,
    isLeader: () => election?.elector.isLeader() ?? true,
    resync: () => Object.values(controllers).forEach((c) => c.resyncAll()),
    waitIdle: (timeoutMs = 30_000) => waitAllIdle(Object.values(controllers), timeoutMs),
    stop: () => shutdown(false),
  };
}

/** Idle means all controllers at once: one controller's writes can wake another. */
async function waitAllIdle(controllers: Controller[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    const ok = await Promise.all(controllers.map((c) => c.waitIdle(left)));
    if (!ok.every(Boolean)) return false;
    if (controllers.every((c) => c.queue.length === 0)) return true;
  }
}
