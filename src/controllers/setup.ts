// What every controller's registration needs (controller-runtime's SetupWithManager): the shared
// informers, the reconciler dependencies and the configuration. Each reconciler module declares
// its own controller (what it watches, how events map to its keys); src/operator.ts only
// assembles them.
import type { Logger } from 'winston';
import type { OperatorConfig } from '../config.js';
import type { PlainObject } from '../kube/apply.js';
import { Controller, type FailureStreak, type Reconciler } from '../kube/controller.js';
import type { Metrics } from '../metrics.js';
import { organizationNamespace } from '../resources/naming.js';
import { LABELS, type Organization, type VirtualDataCenter } from '../resources/types.js';
import type { ResilientInformer } from '../kube/informer.js';
import { errorMessage, type EventSink, type ReconcilerBase } from './common.js';
import type { KubeObject } from '../kube/meta.js';
import { CONTROLLER_KINDS, primaryOf, reportSlowReconcile } from '../observability/slow-reconcile-event.js';

export interface OperatorInformers {
  organizations: ResilientInformer<Organization>;
  vdcs: ResilientInformer<VirtualDataCenter>;
  namespaces: ResilientInformer<PlainObject>;
  roleBindings: ResilientInformer<PlainObject>;
  quotas: ResilientInformer<PlainObject>;
  limitRanges: ResilientInformer<PlainObject>;
  networkPolicies: ResilientInformer<PlainObject>;
}

export interface ControllerSetup {
  /** Client, recorder, logger and write expectations shared by the reconcilers. */
  base: ReconcilerBase;
  informers: OperatorInformers;
  config: OperatorConfig;
  metrics?: Metrics;
  logger: Logger;
}

/** A controller with the operator's common options (metrics, logger, resync period). */
export function newController(
  setup: ControllerSetup,
  name: string,
  workers: number,
  reconcile: Reconciler,
  onPersistentError?: (key: string, err: unknown, streak: FailureStreak) => void,
): Controller {
  return new Controller({
    name,
    workers,
    reconcile,
    onPersistentError,
    metrics: setup.metrics,
    logger: setup.logger.child({ component: 'controller' }),
    resyncPeriodMs: setup.config.resyncPeriodMs,
    persistentAfterMs: setup.config.reconcileFailedAfterMs,
    kind: CONTROLLER_KINDS[name],
    slowReconcileThresholdMs: setup.config.slowReconcileThresholdMs,
    onSlowReconcile: (key, slow) => reportSlowReconcile(setup.base.events, name, primaryOf(setup.informers, key), slow),
  });
}

/** Enqueues a key again, now or after a delay (the reconcilers' `requeue`). */
export function requeueInto(controller: () => Controller): (key: string, delayMs?: number) => void {
  return (key, delayMs) => (delayMs ? controller().queue.addAfter(key, delayMs) : controller().enqueue(key));
}

/** A Warning ReconcileFailed on an object whose reconcile has kept failing (see Controller). */
export function reportPersistentFailure(
  events: EventSink,
  kind: 'organization' | 'VDC',
  obj: Organization | VirtualDataCenter | undefined,
  key: string,
  err: unknown,
  streak: FailureStreak,
): void {
  if (!obj) return;
  const name = obj.metadata?.name ?? key;
  const lasted = `has been failing for ${Math.round(streak.failingForMs / 1000)} s (${streak.failures} attempts)`;
  events.record(obj, 'Warning', 'ReconcileFailed', `Reconcile of ${kind} '${name}' ${lasted}: ${errorMessage(err)}`.slice(0, 1024), {
    organization: kind === 'organization' ? name : (obj as VirtualDataCenter).spec?.organizationRef,
    vdc: kind === 'VDC' ? name : undefined,
  });
}

const labelOf = (o: KubeObject | undefined, label: string) => o?.metadata?.labels?.[label];

/** The VDC key of a child object (labels ovim.io/organization and ovim.io/vdc), if it has one. */
export function vdcKeyOf(o: KubeObject): string | undefined {
  const org = labelOf(o, LABELS.organization);
  const vdc = labelOf(o, LABELS.vdc);
  return org && vdc ? `${organizationNamespace(org)}/${vdc}` : undefined;
}

/** The Organization key of a child object of an organization (not of a VDC). */
export function orgKeyOf(o: KubeObject): string | undefined {
  const org = labelOf(o, LABELS.organization);
  return org && !labelOf(o, LABELS.vdc) ? org : undefined;
}

/** Whether a primary object changed in a way its dependents care about (spec or deletion). */
export function specOrDeletionChanged(o: KubeObject, old?: KubeObject): boolean {
  return (
    !old ||
    o.metadata?.generation !== old.metadata?.generation ||
    Boolean(o.metadata?.deletionTimestamp) !== Boolean(old.metadata?.deletionTimestamp)
  );
}
