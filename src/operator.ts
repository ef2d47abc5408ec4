// The operator: informers for every watched kind, the Organization and VDC reconcilers and the
// QuotaWatcher, each behind a rate-limited work queue; the tenant ClusterRoles applied at
// start-up. `startOperator()` runs it in-process (src/main.ts, hack/run.ts, tests, the
// benchmark); `stop()` drains the queues and flushes the pending events.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { type OperatorConfig, DEFAULT_CONFIG } from './config.js';
import { applyObject, semanticEqual, type PlainObject } from './kube/apply.js';
import { Controller } from './kube/controller.js';
import { crdsDir, installCrds } from './kube/crds.js';
import { ResilientInformer, objectKey, type ListOptions } from './kube/informer.js';
import { LeaderElector } from './kube/leader.js';
import { WriteExpectations } from './kube/expectations.js';
import { KubeClient, resourcePath } from './kube/rest.js';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { EventRecorder } from './events/recorder.js';
import { ClientEventApi } from './events/sink.js';
import { errorMessage, type EventSink } from './controllers/common.js';
import { OrganizationReconciler, vdcsOfOrganization } from './controllers/organization.js';
import { QuotaWatcher } from './controllers/quota.js';
import { VdcReconciler } from './controllers/vdc.js';
import { MANAGED_BY_SELECTOR, organizationNamespace } from './resources/naming.js';
import {
  LABELS,
  ORGANIZATION_PLURAL,
  OVIM_API_VERSION,
  VDC_PLURAL,
  type Organization,
  type VirtualDataCenter,
} from './resources/types.js';

export interface OperatorDeps {
  metrics?: Metrics;
  /** Defaults to a real EventRecorder (component ovim-controller) owned and stopped by the operator. */
  recorder?: EventSink & { flush?(timeoutMs: number): Promise<boolean>; stop?(timeoutMs?: number): Promise<void> };
  /** Defaults to a KubeClient of `kc`, closed on stop. */
  client?: KubeClient;
  /**
   * With leader election: called when this replica lost the lease (after its controllers
   * stopped). Default: the operator stops. The program exits non-zero so that it restarts.
   */
  onLostLeadership?: () => void;
}

export interface OperatorInformers {
  organizations: ResilientInformer<Organization>;
  vdcs: ResilientInformer<VirtualDataCenter>;
  namespaces: ResilientInformer<PlainObject>;
  roleBindings: ResilientInformer<PlainObject>;
  quotas: ResilientInformer<PlainObject>;
  limitRanges: ResilientInformer<PlainObject>;
  networkPolicies: ResilientInformer<PlainObject>;
}

export interface Operator {
  client: KubeClient;
  recorder: EventSink;
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
  return join(dirname(crdsDir()), 'config');
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

interface InformerSpec {
  apiVersion: string;
  kind: string;
  plural: string;
  labelSelector?: string;
}

function makeInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  client: KubeClient,
  spec: InformerSpec,
  config: OperatorConfig,
  logger: Logger,
): ResilientInformer<T> {
  const path = resourcePath({ apiVersion: spec.apiVersion, plural: spec.plural });
  const list = async (opts: ListOptions): Promise<KubernetesListObject<T>> => {
    const page = await client.list<T>(path, {
      limit: opts.limit,
      continue: opts._continue,
      resourceVersion: opts.resourceVersion,
      labelSelector: spec.labelSelector,
    });
    // List items come without apiVersion and kind; watch events carry them. Make them alike.
    for (const item of page.items) {
      item.apiVersion = spec.apiVersion;
      item.kind = spec.kind;
    }
    return {
      apiVersion: page.apiVersion ?? spec.apiVersion,
      kind: page.kind ?? `${spec.kind}List`,
      metadata: { resourceVersion: page.metadata?.resourceVersion, _continue: page.metadata?.continue },
      items: page.items,
    };
  };
  return new ResilientInformer<T>(kc, {
    path,
    list,
    labelSelector: spec.labelSelector,
    watchTimeoutSeconds: config.watchTimeoutSeconds,
    logger: logger.child({ component: `informer:${spec.plural}` }),
  });
}

const labelOf = (o: KubernetesObject | undefined, label: string) => o?.metadata?.labels?.[label];

/** The VDC key of a child object (labels ovim.io/organization and ovim.io/vdc), if it has one. */
function vdcKeyOf(o: KubernetesObject): string | undefined {
  const org = labelOf(o, LABELS.organization);
  const vdc = labelOf(o, LABELS.vdc);
  return org && vdc ? `${organizationNamespace(org)}/${vdc}` : undefined;
}

/** The Organization key of a child object of an organization (not of a VDC). */
function orgKeyOf(o: KubernetesObject): string | undefined {
  const org = labelOf(o, LABELS.organization);
  return org && !labelOf(o, LABELS.vdc) ? org : undefined;
}

export async function startOperator(
  kc: KubeConfig,
  config: OperatorConfig = DEFAULT_CONFIG,
  logger: Logger = createLogger(config.logLevel),
  deps: OperatorDeps = {},
): Promise<Operator> {
  const log = logger.child({ component: 'operator' });
  const client = deps.client ?? (await KubeClient.create(kc));
  try {
    if (config.installCrds) log.info(`CRDs installed: ${(await installCrds(kc)).join(', ')}`);
    if (config.installRoles) log.info(`tenant ClusterRoles applied: ${(await installTenantRoles(client)).join(', ')}`);
  } catch (err) {
    if (!deps.client) client.close();
    throw err;
  }

  const ownRecorder = !deps.recorder;
  // Events go through their own pool, so that the operator's write counts stay its own.
  const eventsClient = ownRecorder ? await KubeClient.create(kc, { userAgent: 'ovim-operator/events', maxSockets: 8 }) : undefined;
  const recorder =
    deps.recorder ?? new EventRecorder(new ClientEventApi(eventsClient as KubeClient), { component: 'ovim-controller', logger });

  const inf = (spec: InformerSpec) => makeInformer<PlainObject>(kc, client, spec, config, logger);
  const informers: OperatorInformers = {
    organizations: makeInformer<Organization>(kc, client, { apiVersion: OVIM_API_VERSION, kind: 'Organization', plural: ORGANIZATION_PLURAL }, config, logger),
    vdcs: makeInformer<VirtualDataCenter>(kc, client, { apiVersion: OVIM_API_VERSION, kind: 'VirtualDataCenter', plural: VDC_PLURAL }, config, logger),
    namespaces: inf({ apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', labelSelector: MANAGED_BY_SELECTOR }),
    roleBindings: inf({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', labelSelector: MANAGED_BY_SELECTOR }),
    quotas: inf({ apiVersion: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', labelSelector: MANAGED_BY_SELECTOR }),
    limitRanges: inf({ apiVersion: 'v1', kind: 'LimitRange', plural: 'limitranges', labelSelector: MANAGED_BY_SELECTOR }),
    networkPolicies: inf({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', labelSelector: MANAGED_BY_SELECTOR }),
  };

  // Our own writes of Organizations and VDCs, until their informers show them (the keys of
  // the two kinds cannot collide: VDC keys hold a '/').
  const expectations = new WriteExpectations((key) => {
    const i = key.indexOf('/');
    const obj = i < 0 ? informers.organizations.get(key) : informers.vdcs.get(key.slice(i + 1), key.slice(0, i));
    return obj?.metadata?.resourceVersion;
  });
  const observe = (o: KubernetesObject) => expectations.observe(objectKey(o), o.metadata?.resourceVersion);
  const forget = (o: KubernetesObject) => expectations.forget(objectKey(o));
  informers.organizations.on('add', observe).on('update', observe).on('delete', forget);
  informers.vdcs.on('add', observe).on('update', observe).on('delete', forget);
  const base = { client, events: recorder, logger, expectations };
  const orgReconciler = new OrganizationReconciler({
    ...base,
    organizations: informers.organizations,
    vdcs: informers.vdcs,
    namespaces: informers.namespaces,
    roleBindings: informers.roleBindings,
    routeSecretsSubject: config.routes.serviceAccount,
  });
  const vdcReconciler = new VdcReconciler({
    ...base,
    organizations: informers.organizations,
    vdcs: informers.vdcs,
    namespaces: informers.namespaces,
    roleBindings: informers.roleBindings,
    quotas: informers.quotas,
    limitRanges: informers.limitRanges,
    networkPolicies: informers.networkPolicies,
    privilegedOrganizations: new Set(config.privilegedOrganizations),
  });
  const quotaWatcher = new QuotaWatcher({
    ...base,
    vdcs: informers.vdcs,
    quotas: informers.quotas,
    thresholdPercent: config.quotaThresholdPercent,
  });

  const persistentError = (kind: 'organization' | 'VDC') => (key: string, err: unknown, failures: number) => {
    const obj = kind === 'organization' ? informers.organizations.get(key) : informers.vdcs.get(key.split('/')[1], key.split('/')[0]);
    if (!obj) return;
    const name = obj.metadata?.name ?? key;
    recorder.record(obj, 'Warning', 'ReconcileFailed', `Reconcile of ${kind} '${name}' failed ${failures} times in a row: ${errorMessage(err)}`.slice(0, 1024), {
      organization: kind === 'organization' ? name : (obj as VirtualDataCenter).spec?.organizationRef,
      vdc: kind === 'VDC' ? name : undefined,
    });
  };

  const common = { metrics: deps.metrics, logger: logger.child({ component: 'controller' }), resyncPeriodMs: config.resyncPeriodMs };
  const organization = new Controller({
    ...common,
    name: 'organization',
    workers: config.workers.organization,
    reconcile: (key) => orgReconciler.reconcile(key),
    onPersistentError: persistentError('organization'),
  });
  const vdc = new Controller({
    ...common,
    name: 'virtualdatacenter',
    workers: config.workers.vdc,
    reconcile: (key) => vdcReconciler.reconcile(key),
    onPersistentError: persistentError('VDC'),
  });
  const quota = new Controller({
    ...common,
    name: 'quota',
    workers: config.workers.quota,
    reconcile: (key) => quotaWatcher.reconcile(key),
  });

  // Organization: its own events, its namespace and role bindings, VDCs coming and going.
  organization
    .watchPrimary(informers.organizations)
    // vdcCount: VDCs created or deleted together update the organization once.
    .watch(informers.vdcs, (v, old) => (old ? undefined : v.spec?.organizationRef), { delayMs: 500 })
    .watch(informers.namespaces, orgKeyOf)
    .watch(informers.roleBindings, orgKeyOf);

  // VDC: its own events, its children, its organization's spec, its siblings (the ceiling).
  const vdcKeysOf = (org: string) => vdcsOfOrganization(informers.vdcs, org).map(objectKey);
  const changed = (o: KubernetesObject, old?: KubernetesObject) =>
    !old ||
    o.metadata?.generation !== old.metadata?.generation ||
    Boolean(o.metadata?.deletionTimestamp) !== Boolean(old.metadata?.deletionTimestamp);
  vdc
    .watchPrimary(informers.vdcs)
    .watch(informers.vdcs, (v, old) => {
      const org = v.spec?.organizationRef;
      if (!org || !changed(v, old) || !informers.organizations.get(org)?.spec?.quota) return undefined;
      return vdcKeysOf(org).filter((k) => k !== objectKey(v));
    })
    .watch(informers.organizations, (o, old) => (changed(o, old) ? vdcKeysOf(o.metadata?.name ?? '') : undefined))
    .watch(informers.namespaces, vdcKeyOf)
    .watch(informers.roleBindings, vdcKeyOf)
    .watch(informers.quotas, (q, old) =>
      // The quota controller updates status all the time; only spec and label changes matter here.
      !old || !semanticEqual(q.spec, old.spec) || !semanticEqual(q.metadata.labels, old.metadata.labels) ? vdcKeyOf(q) : undefined,
    )
    .watch(informers.limitRanges, vdcKeyOf)
    .watch(informers.networkPolicies, vdcKeyOf);

  // QuotaWatcher: the quotas' status, and the VDC (its status holds the last reported level).
  quota.watchPrimary(informers.vdcs).watch(informers.quotas, vdcKeyOf);

  const all = Object.values(informers) as ResilientInformer<KubernetesObject>[];
  for (const i of all) i.start();
  // An informer that cannot list (RBAC, a missing CRD) retries forever: say which one.
  const waiting = setInterval(() => {
    const pending = Object.entries(informers).filter(([, i]) => !(i as ResilientInformer<KubernetesObject>).hasSynced()).map(([k]) => k);
    log.warn(`still waiting for the first list of: ${pending.join(', ')}`);
  }, 30_000);
  waiting.unref();
  await Promise.all(all.map((i) => i.waitForSync())).finally(() => clearInterval(waiting));
  const controllers = { organization, vdc, quota };
  const startControllers = () => {
    log.info('informers synced; starting controllers', { workers: config.workers });
    for (const c of Object.values(controllers)) c.start();
  };

  // With leader election the informers run everywhere (their caches are warm for a takeover)
  // and the controllers only on the holder of the Lease.
  let elector: LeaderElector | undefined;
  let leaseClient: KubeClient | undefined;
  let stopped: Promise<void> | undefined;
  const le = config.leaderElection;
  if (le.enabled) {
    leaseClient = await KubeClient.create(kc, { userAgent: 'ovim-operator/leader-election', maxSockets: 2 });
    elector = new LeaderElector({
      client: leaseClient,
      namespace: le.namespace,
      name: le.name,
      identity: le.identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      logger: logger.child({ component: 'leader-election' }),
    });
    log.info(`waiting for the lease ${le.namespace}/${le.name} as ${le.identity}`);
    elector.run({
      onStartedLeading: startControllers,
      onStoppedLeading: () => {
        // Another replica may be leading already: drop the queued keys, let only the running
        // reconciles finish, and let the process restart as a follower.
        shutdown(true)
          .catch((err: unknown) => log.error(`stop after the lost lease failed: ${errorMessage(err)}`))
          .finally(() => deps.onLostLeadership?.());
      },
    });
  } else {
    startControllers();
  }

  const operator: Operator = {
    client,
    recorder,
    informers,
    controllers,
    isLeader: () => elector?.isLeader() ?? true,
    resync() {
      organization.resyncAll();
      vdc.resyncAll();
      quota.resyncAll();
    },
    async waitIdle(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      // Idle means all three at once: one controller's writes can wake another.
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        const ok = await Promise.all(Object.values(controllers).map((c) => c.waitIdle(left)));
        if (!ok.every(Boolean)) return false;
        if (Object.values(controllers).every((c) => c.queue.length === 0)) return true;
      }
    },
    stop: () => shutdown(false),
  };

  function shutdown(lostLease: boolean): Promise<void> {
    stopped ??= (async () => {
      log.info(lostLease ? 'lost the lease: stopping without the queued keys' : 'stopping: draining the work queues');
      await Promise.all(Object.values(controllers).map((c) => c.stop(20_000, { discardQueued: lostLease })));
      // Release the lease only once nothing reconciles any more: a successor starts at once.
      await elector?.stop();
      leaseClient?.close();
      for (const i of all) i.stop();
      if (ownRecorder) {
        const flushed = await (recorder as EventRecorder).flush(5_000);
        if (!flushed) log.warn('not every pending event was written before the timeout');
        await (recorder as EventRecorder).stop(2_000);
        eventsClient?.close();
      }
      if (!deps.client) client.close();
      log.info('stopped');
    })();
    return stopped;
  }
  return operator;
}
