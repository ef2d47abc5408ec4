// VdcReconciler: namespace vdc-<org>-<vdc> with ResourceQuota vdc-quota, LimitRange vdc-limits,
// a NetworkPolicy and RoleBindings to ovim:vdc-admin for the organization's admin groups;
// preconditions (DESIGN.md section 3) that turn into phase Failed with one Warning; Suspended
// while the organization is disabled; finalizer that deletes the namespace and waits for it.
import type { Controller, ReconcileResult } from '../kube/controller.js';
import { deleteObject, semanticEqual, type PlainObject } from '../kube/apply.js';
import { step } from '../kube/errors.js';
import { objectKey } from '../kube/informer.js';
import { findCondition, rfc3339 } from '../resources/conditions.js';
import { desiredLimitRange } from '../resources/limitrange.js';
import { desiredVdcNamespace, ownsNamespace } from '../resources/namespace.js';
import {
  LIMIT_RANGE_NAME,
  MAX_NAMESPACE_LENGTH,
  NETWORK_POLICY_NAME,
  QUOTA_NAME,
  ROLE_LABEL,
  VDC_FINALIZER,
  organizationNamespace,
  vdcNamespace,
} from '../resources/naming.js';
import { desiredNetworkPolicy } from '../resources/networkpolicy.js';
import { desiredResourceQuota, hardAmounts, organizationCeiling, vdcQuotaAmounts, type QuotaField } from '../resources/quota.js';
import { desiredVdcRoleBindings } from '../resources/rbac.js';
import {
  LABELS,
  type Organization,
  type VdcPhase,
  type VirtualDataCenter,
  type VirtualDataCenterStatus,
} from '../resources/types.js';
import { ceilingVerdict, type CeilingCandidate, type CeilingExcess } from './ceiling.js';
import {
  CACHE_BEHIND,
  READY,
  REQUEUE,
  ensureNamespace,
  deletedBy,
  forcedBy,
  modifiedBy,
  isDeleting,
  nextCommonStatus,
  objectsIn,
  pendingForceReconcile,
  requestedBy,
  safely,
  statusUnchanged,
  syncChildren,
  writeStatusIfChanged,
  type ReadyInput,
  type ReconcilerBase,
  type Store,
} from './common.js';
import { finalizer } from './finalizer.js';
import { vdcsOfOrganization } from './organization.js';
import { OWED_REASONS, ReportLedger, eventExists } from './reported.js';
import { newController, reportPersistentFailure, requeueInto, specOrDeletionChanged, vdcKeyOf, type ControllerSetup } from './setup.js';

export { READY } from './common.js';

/** Reasons of the VDC's Ready condition. */
export const VdcReasons = {
  Provisioned: 'Provisioned',
  Suspended: 'OrganizationSuspended',
  WrongNamespace: 'WrongNamespace',
  OrganizationNotFound: 'OrganizationNotFound',
  OrganizationDisabled: 'OrganizationDisabled',
  NamespaceNameTooLong: 'NamespaceNameTooLong',
  NamespaceConflict: 'NamespaceConflict',
  QuotaExceeded: 'QuotaExceeded',
  NamespaceTerminating: 'NamespaceTerminating',
  Deleting: 'Deleting',
} as const;

/** Ready reasons that mean "provisioning impossible" and the Warning each one records. */
export const FAILURE_EVENTS: Readonly<Record<string, 'CreationFailed' | 'QuotaExceeded'>> = {
  [VdcReasons.WrongNamespace]: 'CreationFailed',
  [VdcReasons.OrganizationNotFound]: 'CreationFailed',
  [VdcReasons.OrganizationDisabled]: 'CreationFailed',
  [VdcReasons.NamespaceNameTooLong]: 'CreationFailed',
  [VdcReasons.NamespaceConflict]: 'CreationFailed',
  [VdcReasons.QuotaExceeded]: 'QuotaExceeded',
};

export interface VdcReconcilerDeps extends ReconcilerBase {
  organizations: Store<Organization>;
  vdcs: Store<VirtualDataCenter>;
  namespaces: Store<PlainObject>;
  roleBindings: Store<PlainObject>;
  quotas: Store<PlainObject>;
  limitRanges: Store<PlainObject>;
  networkPolicies: Store<PlainObject>;
  /** Organizations whose VDCs may run privileged pods (the operator's --allow-privileged-organization). */
  privilegedOrganizations?: ReadonlySet<string>;
}

export type Precondition =
  | { kind: 'ok'; org: Organization }
  | { kind: 'suspended'; message: string }
  | { kind: 'failed'; reason: string; message: string };

function describeExcess(excess: readonly CeilingExcess[]): string {
  const fmt = (f: QuotaField, v: number) =>
    f === 'memory' || f === 'storage' ? `${Math.round((v / 2 ** 30) * 100) / 100}Gi` : String(Math.round(v * 1000) / 1000);
  return excess.map((e) => `${e.field} requested ${fmt(e.field, e.requested)}, remaining ${fmt(e.field, e.remaining)} of ${fmt(e.field, e.ceiling)}`).join('; ');
}

/** The organization's VDCs as ceiling candidates (deleting ones hold nothing). */
export function ceilingCandidates(
  org: string,
  vdcs: Store<VirtualDataCenter>,
  quotas: Store<PlainObject>,
): CeilingCandidate[] {
  const ns = organizationNamespace(org);
  return objectsIn(vdcs, ns)
    .filter((v) => v.spec?.organizationRef === org && !isDeleting(v))
    .filter((v) => vdcNamespace(org, v.metadata.name ?? '').length <= MAX_NAMESPACE_LENGTH)
    .map((v) => {
      const name = v.metadata.name as string;
      const quota = quotas.get(QUOTA_NAME, vdcNamespace(org, name));
      const owned = quota?.metadata.labels?.[LABELS.vdc] === name && quota?.metadata.labels?.[LABELS.organization] === org;
      const spec = (owned ? (quota as { spec?: { hard?: Record<string, string> } }).spec : undefined) ?? undefined;
      return {
        key: `${ns}/${name}`,
        createdAt: v.metadata.creationTimestamp ?? '',
        name,
        requested: v.spec?.quota ? vdcQuotaAmounts(v.spec.quota) : {},
        applied: spec?.hard ? hardAmounts(spec.hard) : undefined,
      };
    });
}

/** Whether a VDC may be provisioned (pure; the namespace ownership check comes later). */
export function vdcPrecondition(
  vdc: VirtualDataCenter,
  org: Organization | undefined,
  context: { provisioned: boolean; candidates: readonly CeilingCandidate[] },
): Precondition {
  const name = vdc.metadata.name as string;
  const ref = vdc.spec?.organizationRef ?? '';
  const expectedNs = organizationNamespace(ref);
  if (vdc.metadata.namespace !== expectedNs) {
    return {
      kind: 'failed',
      reason: VdcReasons.WrongNamespace,
      message: `VDC '${name}' must be created in namespace ${expectedNs} (the namespace of organization '${ref}'), not ${vdc.metadata.namespace}`,
    };
  }
  if (!org) {
    return { kind: 'failed', reason: VdcReasons.OrganizationNotFound, message: `Organization '${ref}' does not exist` };
  }
  const ws = vdcNamespace(ref, name);
  if (ws.length > MAX_NAMESPACE_LENGTH) {
    return {
      kind: 'failed',
      reason: VdcReasons.NamespaceNameTooLong,
      message: `Namespace name ${ws} is ${ws.length} characters, over the limit of ${MAX_NAMESPACE_LENGTH}; use a shorter VDC name`,
    };
  }
  if (org.spec?.isEnabled === false) {
    if (context.provisioned) return { kind: 'suspended', message: `Organization '${ref}' is disabled; the VDC is suspended` };
    return { kind: 'failed', reason: VdcReasons.OrganizationDisabled, message: `Organization '${ref}' is disabled` };
  }
  const verdict = ceilingVerdict(organizationCeiling(org.spec?.quota), context.candidates, `${vdc.metadata.namespace}/${name}`);
  if (!verdict.fits) {
    return {
      kind: 'failed',
      reason: VdcReasons.QuotaExceeded,
      message: `Requested quota exceeds the remaining quota of organization '${ref}': ${describeExcess(verdict.excess)}`.slice(0, 1024),
    };
  }
  return { kind: 'ok', org };
}

export type PlannedVdcEvent =
  | { type: 'Normal'; reason: 'VDCCreated' | 'VDCUpdated' | 'ReconcileForced'; actor?: string }
  | { type: 'Warning'; reason: 'CreationFailed' | 'QuotaExceeded'; message: string; actor?: string };

/** The events a status transition stands for (pure). */
export function vdcEvents(vdc: VirtualDataCenter, prev: VirtualDataCenterStatus | undefined, next: VirtualDataCenterStatus): PlannedVdcEvent[] {
  const generation = vdc.metadata.generation ?? 0;
  const actor = requestedBy(vdc);
  const out: PlannedVdcEvent[] = [];
  if (next.phase === 'Active' && next.namespace && !prev?.namespace) {
    out.push({ type: 'Normal', reason: 'VDCCreated', actor });
  } else if (next.phase === 'Active' && prev?.namespace && prev.observedGeneration !== undefined && prev.observedGeneration < generation) {
    out.push({ type: 'Normal', reason: 'VDCUpdated', actor: modifiedBy(vdc) });
  }
  if (next.lastForcedReconcile && next.lastForcedReconcile !== prev?.lastForcedReconcile) {
    out.push({ type: 'Normal', reason: 'ReconcileForced', actor: forcedBy(vdc) });
  }
  const ready = findCondition(next.conditions, READY);
  const before = findCondition(prev?.conditions, READY);
  const warning = next.phase === 'Failed' && ready?.status === 'False' ? FAILURE_EVENTS[ready.reason] : undefined;
  if (warning && (before?.reason !== ready?.reason || before?.observedGeneration !== ready?.observedGeneration || prev?.phase !== 'Failed')) {
    out.push({ type: 'Warning', reason: warning, message: ready?.message ?? '', actor });
  }
  return out;
}

const STATUS_KEYS: (keyof VirtualDataCenterStatus)[] = ['namespace', 'phase', 'conditions', 'observedGeneration', 'lastForcedReconcile', 'pendingEvents', 'pendingEventsTicket'];
const MARKER_KEYS: ReadonlySet<string> = new Set(['pendingEvents', 'pendingEventsTicket']);
const OTHER_KEYS = STATUS_KEYS.filter((k) => !MARKER_KEYS.has(k));

export class VdcReconciler {

  /** Owed lifecycle events this process recorded or saw confirmed (see reported.ts). */
  private readonly ledger: ReportLedger;

  constructor(private readonly deps: VdcReconcilerDeps) {
    this.ledger = new ReportLedger({ requeue: deps.requeue, durable: deps.deliveries });
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult | void> {
    const [namespace = '', name = ''] = key.split('/');
    const vdc = this.deps.vdcs.get(name, namespace);
    if (!vdc) {
      this.ledger.forget(key);
      return;
    }
    if (this.deps.expectations?.isPending(key)) return CACHE_BEHIND;
    return finalizer(this.deps, vdc, VDC_FINALIZER, {
      apply: (current) => this.apply(current),
      cleanup: (current) => this.cleanup(current),
      finalized: (gone) =>
        safely(this.deps.logger, 'VDCDeleted', () => this.deps.events.recordVdcDeleted(gone, gone.spec?.organizationRef ?? '', deletedBy(gone))),
    }, signal);
  }

  /** Provisioning of a live VDC (it carries the finalizer). */
  private async apply(current: VirtualDataCenter): Promise<ReconcileResult | void> {
    const namespace = current.metadata.namespace ?? '';
    const name = current.metadata.name ?? '';
    const orgName = current.spec?.organizationRef ?? '';
    const org = this.deps.organizations.get(orgName);
    const forced = pendingForceReconcile(current);
    const ws = vdcNamespace(orgName, name);
    const inOrgNamespace = namespace === organizationNamespace(orgName);
    const cachedNs = inOrgNamespace ? this.deps.namespaces.get(ws) : undefined;
    const provisioned = ownsNamespace(cachedNs, orgName, name);

    const pre = vdcPrecondition(current, org, {
      provisioned,
      candidates: inOrgNamespace ? ceilingCandidates(orgName, this.deps.vdcs, this.deps.quotas) : [],
    });
    if (pre.kind === 'failed') {
      await this.writeStatus(current, { phase: 'Failed', ready: { reason: pre.reason, message: pre.message }, forced });
      return;
    }
    if (pre.kind === 'suspended') {
      await this.writeStatus(current, { phase: 'Suspended', ready: { reason: VdcReasons.Suspended, message: pre.message }, forced });
      return;
    }

    const prevReady = findCondition(current.status?.conditions, READY);
    const outcome = await step('namespace', () =>
      ensureNamespace(
        this.deps.client,
        desiredVdcNamespace(orgName, name, current.spec, { privilegedAllowed: this.deps.privilegedOrganizations?.has(orgName) }),
        cachedNs,
        (ns) => ownsNamespace(ns, orgName, name),
        { force: forced !== undefined, suspectConflict: prevReady?.reason === VdcReasons.NamespaceConflict },
      ),
    );
    if (outcome === 'conflict') {
      await this.writeStatus(current, {
        phase: 'Failed',
        ready: {
          reason: VdcReasons.NamespaceConflict,
          message: `Namespace ${ws} already exists and belongs to someone else; rename the VDC or remove the namespace`,
        },
        forced,
      });
      // A namespace of someone else sends no event to our (label-selected) informer when it
      // goes away: look again now and then (a read, not a write).
      return { requeueAfter: REQUEUE.foreignNamespace };
    }
    if (outcome === 'terminating') {
      await this.writeStatus(current, {
        phase: 'Pending',
        ready: { reason: VdcReasons.NamespaceTerminating, message: `Namespace ${ws} is being deleted; waiting to recreate it` },
        forced,
      });
      return { requeueAfter: REQUEUE.namespaceTerminating };
    }

    await step('workload objects', () => this.syncWorkloadChildren(current, pre.org, forced !== undefined));

    const status: VirtualDataCenterStatus = {};
    if (outcome === 'created' && !current.status?.resourceUsage) {
      // A namespace we just created holds nothing: report zero usage with the first status
      // write (the QuotaWatcher keeps it current from then on).
      Object.assign(status, initialUsage(this.now()));
    }
    await this.writeStatus(current, {
      phase: 'Active',
      ready: { status: 'True', reason: VdcReasons.Provisioned, message: `Namespace ${ws} with quota, limits, network policy and RBAC is in place` },
      namespace: ws,
      forced,
      extra: status,
    });
  }

  private async syncWorkloadChildren(vdc: VirtualDataCenter, org: Organization, force: boolean): Promise<void> {
    const name = vdc.metadata.name as string;
    const orgName = vdc.spec.organizationRef;
    const ws = vdcNamespace(orgName, name);
    const mine = (o: PlainObject | undefined) =>
      o && o.metadata.labels?.[LABELS.organization] === orgName && o.metadata.labels?.[LABELS.vdc] === name ? [o] : [];
    const np = desiredNetworkPolicy(orgName, name, vdc.spec.networkPolicy);
    const rbs = desiredVdcRoleBindings(orgName, name, org.spec?.admins ?? []);
    const observedRbs = objectsIn(this.deps.roleBindings, ws).filter((rb) => rb.metadata.labels?.[ROLE_LABEL] === 'vdc-admin');
    const { client } = this.deps;
    await Promise.all([
      syncChildren(client, { apiVersion: 'v1', kind: 'ResourceQuota' }, [desiredResourceQuota(orgName, name, vdc.spec.quota)], mine(this.deps.quotas.get(QUOTA_NAME, ws)), force),
      syncChildren(client, { apiVersion: 'v1', kind: 'LimitRange' }, [desiredLimitRange(orgName, name, vdc.spec.limitRange)], mine(this.deps.limitRanges.get(LIMIT_RANGE_NAME, ws)), force),
      syncChildren(client, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' }, np ? [np] : [], mine(this.deps.networkPolicies.get(NETWORK_POLICY_NAME, ws)), force),
      syncChildren(client, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' }, rbs, observedRbs, force),
    ]);
  }

  /** Deletion: delete the workload namespace, wait until it is gone; then `done` (the finalizer goes). */
  private async cleanup(vdc: VirtualDataCenter): Promise<ReconcileResult | void | 'done'> {
    const name = vdc.metadata.name as string;
    const orgName = vdc.spec?.organizationRef ?? '';
    const ws = vdcNamespace(orgName, name);
    // Only a VDC in its organization's namespace can own the workload namespace: a misplaced
    // twin with the same names must not delete the real one's.
    if (vdc.metadata.namespace === organizationNamespace(orgName)) {
      const ns = this.deps.namespaces.get(ws);
      if (ns && ownsNamespace(ns, orgName, name)) {
        if (!isDeleting(ns)) await step('namespace deletion', () => deleteObject(this.deps.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ws } }));
        await this.writeStatus(vdc, {
          phase: 'Terminating',
          ready: { reason: VdcReasons.Deleting, message: `Waiting for namespace ${ws} to be deleted` },
        });
        return { requeueAfter: REQUEUE.namespaceDeletion };
      }
    }
    return 'done';
  }

  private async writeStatus(
    vdc: VirtualDataCenter,
    s: { phase: VdcPhase; ready: ReadyInput; namespace?: string; forced?: string; extra?: VirtualDataCenterStatus },
  ): Promise<void> {
    const prev = vdc.status;
    const key = objectKey(vdc);
    const next = nextCommonStatus(vdc, s, s.phase === 'Active', this.now()) as VirtualDataCenterStatus;
    const planned = vdcEvents(vdc, prev, next);
    const owed = planned.filter((e) => OWED_REASONS.has(e.reason)).map((e) => e.reason);
    const marker = this.ledger.plan(key, prev, owed, !statusUnchanged(prev, next, OTHER_KEYS));
    Object.assign(next, marker.marker);
    // A merge patch removes a field only when told so with null.
    const extra: Record<string, unknown> = { ...s.extra, ...marker.nulls };
    const wrote = await writeStatusIfChanged(this.deps, vdc, next, STATUS_KEYS, extra).catch((err: unknown) => {
      this.ledger.refused(next.pendingEventsTicket, prev?.pendingEventsTicket, err);
      throw err;
    });
    const org = vdc.spec?.organizationRef;
    if (wrote) {
      this.ledger.written(key, next.pendingEvents, next.pendingEventsTicket, prev?.pendingEventsTicket);
      for (const e of planned) this.recordEvent(vdc, e, org);
    } else {
      this.ledger.carrying(key, prev);
    }
    // Owed from before: this process restarted, or the earlier record was given up.
    for (const reason of this.ledger.owedFrom(key, wrote ? next : prev)) {
      if (!this.ledger.needsRecording(key, reason) || (reason !== 'VDCCreated' && reason !== 'VDCUpdated')) continue;
      if (await step('events', () => eventExists(this.deps.client, vdc, reason))) this.ledger.confirm(key, reason);
      else this.recordEvent(vdc, { type: 'Normal', reason, actor: requestedBy(vdc) }, org);
    }
  }

  private recordEvent(vdc: VirtualDataCenter, e: PlannedVdcEvent, org: string | undefined): void {
    const { events } = this.deps;
    const key = objectKey(vdc);
    safely(this.deps.logger, e.reason, () => {
      if (e.reason === 'VDCCreated') events.recordVdcCreated(vdc, org, e.actor, this.ledger.track(key, e.reason));
      else if (e.reason === 'VDCUpdated') events.recordVdcUpdated(vdc, org, e.actor, this.ledger.track(key, e.reason));
      else if (e.reason === 'ReconcileForced') events.recordVdcReconcileForced(vdc, e.actor);
      else if (e.type === 'Warning') events.record(vdc, 'Warning', e.reason, e.message, { actor: e.actor, organization: org, vdc: vdc.metadata.name });
    });
  }
}

/** Zero usage for a namespace that was just created. */
export function initialUsage(now: Date): VirtualDataCenterStatus {
  return {
    resourceUsage: { cpuUsed: '0', memoryUsed: '0', storageUsed: '0', cpuPercentage: 0, memoryPercentage: 0, storagePercentage: 0 },
    workloadCounts: { totalPods: 0, totalVMs: 0 },
    lastMetricsUpdate: rfc3339(now),
  };
}

/**
 * The VDC controller: its own events, its children, its organization's spec and deletion, its
 * siblings (the organization's quota ceiling), and quota spec or label changes (the quota
 * controller updates the quotas' status all the time: that alone is no reason to reconcile).
 */
export function vdcController(setup: ControllerSetup): Controller {
  const { informers, base } = setup;
  const reconciler: VdcReconciler = new VdcReconciler({
    ...base,
    ...informers,
    privilegedOrganizations: new Set(setup.config.privilegedOrganizations),
    requeue: requeueInto(() => controller),
  });
  const controller: Controller = newController(
    setup,
    'virtualdatacenter',
    setup.config.workers.vdc,
    (key, signal) => reconciler.reconcile(key, signal),
    (key, err, streak) => {
      const [namespace, name] = key.split('/');
      reportPersistentFailure(base.events, 'VDC', informers.vdcs.get(name ?? '', namespace), key, err, streak);
    },
  );
  const vdcKeysOf = (org: string) => vdcsOfOrganization(informers.vdcs, org).map(objectKey);
  return controller
    .watchPrimary(informers.vdcs)
    .watch(informers.vdcs, (v, old) => {
      const org = v.spec?.organizationRef;
      if (!org || !specOrDeletionChanged(v, old) || !informers.organizations.get(org)?.spec?.quota) return undefined;
      return vdcKeysOf(org).filter((k) => k !== objectKey(v));
    })
    .watch(informers.organizations, (o, old) => (specOrDeletionChanged(o, old) ? vdcKeysOf(o.metadata?.name ?? '') : undefined))
    .watch(informers.namespaces, vdcKeyOf)
    .watch(informers.roleBindings, vdcKeyOf)
    .watch(informers.quotas, (q, old) =>
      !old || !semanticEqual(q.spec, old.spec) || !semanticEqual(q.metadata.labels, old.metadata.labels) ? vdcKeyOf(q) : undefined,
    )
    .watch(informers.limitRanges, vdcKeyOf)
    .watch(informers.networkPolicies, vdcKeyOf);
}
