// OrganizationReconciler: namespace org-<name>, one RoleBinding per admin group to
// ovim:org-admin, status, finalizer, deletion blocked while VDCs exist (DESIGN.md section 3).
//
// Every event is tied to a status transition and recorded only after that status was written
// with the resourceVersion the decision was made on: a stale cache makes the write fail (409)
// instead of repeating an event, and resyncs and restarts find nothing left to report.
import type { Controller, ReconcileResult } from '../kube/controller.js';
import { deleteObject, type PlainObject } from '../kube/apply.js';
import { step } from '../kube/errors.js';
import { findCondition } from '../resources/conditions.js';
import { desiredOrganizationNamespace, ownsNamespace } from '../resources/namespace.js';
import { ORGANIZATION_FINALIZER, ROLE_LABEL, organizationNamespace } from '../resources/naming.js';
import { desiredOrganizationRoleBindings, routeSecretsRoleBinding } from '../resources/rbac.js';
import {
  LABELS,
  type Organization,
  type OrganizationPhase,
  type OrganizationStatus,
  type VirtualDataCenter,
} from '../resources/types.js';
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
import { OWED_REASONS, ReportLedger, eventExists } from './reported.js';
import { Debounce } from '../kube/debounce.js';
import { newController, orgKeyOf, reportPersistentFailure, requeueInto, type ControllerSetup } from './setup.js';

export { READY } from './common.js';

/** Reasons of the Organization's Ready condition. */
export const OrgReasons = {
  Provisioned: 'Provisioned',
  Disabled: 'OrganizationDisabled',
  NamespaceConflict: 'NamespaceConflict',
  NamespaceTerminating: 'NamespaceTerminating',
  DeletionBlocked: 'DeletionBlocked',
  Deleting: 'Deleting',
} as const;

export interface OrganizationReconcilerDeps extends ReconcilerBase {
  organizations: Store<Organization>;
  vdcs: Store<VirtualDataCenter>;
  namespaces: Store<PlainObject>;
  roleBindings: Store<PlainObject>;
  /** When set, this ServiceAccount is bound to ovim:route-secrets in org-<name> (EventRoutes). */
  routeSecretsSubject?: { namespace: string; name: string };
  /** True while VDCs of this organization are still coming or going: vdcCount waits for the burst. */
  vdcCountSettling?: (name: string) => boolean;
}

/** The VDCs of an organization: those in org-<name> that reference it. */
export function vdcsOfOrganization(vdcs: Store<VirtualDataCenter>, org: string): VirtualDataCenter[] {
  const ns = organizationNamespace(org);
  return objectsIn(vdcs, ns)
    .filter((v) => v.spec?.organizationRef === org)
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

export type PlannedEvent =
  | { type: 'Normal'; reason: 'OrganizationCreated' | 'OrganizationUpdated' | 'ReconcileForced'; actor?: string }
  | { type: 'Warning'; reason: 'DeletionBlocked' | 'ReconcileFailed'; message: string; actor?: string };

const WARNING_REASONS: Partial<Record<string, 'DeletionBlocked' | 'ReconcileFailed'>> = {
  [OrgReasons.NamespaceConflict]: 'ReconcileFailed',
  [OrgReasons.DeletionBlocked]: 'DeletionBlocked',
};

/** The events a status transition stands for (pure: tested without a cluster). */
export function organizationEvents(org: Organization, prev: OrganizationStatus | undefined, next: OrganizationStatus): PlannedEvent[] {
  const generation = org.metadata.generation ?? 0;
  const actor = requestedBy(org);
  const out: PlannedEvent[] = [];
  const provisioned = next.phase === 'Active' || next.phase === 'Disabled';
  if (provisioned && next.namespace && !prev?.namespace) {
    out.push({ type: 'Normal', reason: 'OrganizationCreated', actor });
  } else if (provisioned && prev?.namespace && prev.observedGeneration !== undefined && prev.observedGeneration < generation) {
    out.push({ type: 'Normal', reason: 'OrganizationUpdated', actor: modifiedBy(org) });
  }
  if (next.lastForcedReconcile && next.lastForcedReconcile !== prev?.lastForcedReconcile) {
    out.push({ type: 'Normal', reason: 'ReconcileForced', actor: forcedBy(org) });
  }
  const ready = findCondition(next.conditions, READY);
  const before = findCondition(prev?.conditions, READY);
  const warning = ready && ready.status === 'False' ? WARNING_REASONS[ready.reason] : undefined;
  if (warning && (before?.reason !== ready?.reason || before?.observedGeneration !== ready?.observedGeneration)) {
    out.push({ type: 'Warning', reason: warning, message: ready?.message ?? '', actor: warning === 'DeletionBlocked' ? deletedBy(org) : actor });
  }
  return out;
}

const STATUS_KEYS: (keyof OrganizationStatus)[] = ['namespace', 'phase', 'vdcCount', 'conditions', 'observedGeneration', 'lastForcedReconcile', 'pendingEvents', 'pendingEventsTicket'];
const MARKER_KEYS: ReadonlySet<string> = new Set(['pendingEvents', 'pendingEventsTicket']);
const OTHER_KEYS = STATUS_KEYS.filter((k) => !MARKER_KEYS.has(k));

export class OrganizationReconciler {

  /** Owed lifecycle events this process recorded or saw confirmed (see reported.ts). */
  private readonly ledger: ReportLedger;

  constructor(private readonly deps: OrganizationReconcilerDeps) {
    this.ledger = new ReportLedger({ requeue: deps.requeue, durable: deps.deliveries });
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult | void> {
    const org = this.deps.organizations.get(key);
    if (!org) {
      this.ledger.forget(key);
      return;
    }
    if (this.deps.expectations?.isPending(key)) return CACHE_BEHIND;
    return finalizer(this.deps, org, ORGANIZATION_FINALIZER, {
      apply: (current) => this.apply(current),
      cleanup: (current) => this.cleanup(current),
      finalized: (gone) => safely(this.deps.logger, 'OrganizationDeleted', () => this.deps.events.recordOrganizationDeleted(gone, deletedBy(gone))),
    }, signal);
  }

  /** Provisioning of a live organization (it carries the finalizer). */
  private async apply(current: Organization): Promise<ReconcileResult | void> {
    const name = current.metadata.name as string;
    const forced = pendingForceReconcile(current);
    const nsName = organizationNamespace(name);
    const prevReady = findCondition(current.status?.conditions, READY);
    // While a burst of VDCs is settling, the count stays as written: the reconcile at its end
    // writes the final count once, with whatever else changed meanwhile.
    const written = current.status?.vdcCount;
    const vdcCount = written !== undefined && this.deps.vdcCountSettling?.(name) ? written : vdcsOfOrganization(this.deps.vdcs, name).length;
    const outcome = await step('namespace', () =>
      ensureNamespace(
        this.deps.client,
        desiredOrganizationNamespace(name),
        this.deps.namespaces.get(nsName),
        (ns) => ownsNamespace(ns, name),
        { force: forced !== undefined, suspectConflict: prevReady?.reason === OrgReasons.NamespaceConflict },
      ),
    );

    if (outcome === 'conflict') {
      await this.writeStatus(current, {
        phase: 'Failed',
        ready: {
          reason: OrgReasons.NamespaceConflict,
          message: `Namespace ${nsName} exists and is not managed by ovim-operator for organization '${name}'; remove or rename it`,
        },
        vdcCount,
        forced,
      });
      // A namespace of someone else sends no event to our (label-selected) informer when it
      // goes away: look again now and then (a read, not a write).
      return { requeueAfter: REQUEUE.foreignNamespace };
    }
    if (outcome === 'terminating') {
      await this.writeStatus(current, {
        phase: 'Pending',
        ready: { reason: OrgReasons.NamespaceTerminating, message: `Namespace ${nsName} is being deleted; waiting to recreate it` },
        vdcCount,
        forced,
      });
      return { requeueAfter: REQUEUE.namespaceTerminating };
    }

    const desired = desiredOrganizationRoleBindings(name, current.spec?.admins ?? []);
    const routeSecrets = this.deps.routeSecretsSubject;
    const admins = desired.length;
    if (routeSecrets) desired.push(routeSecretsRoleBinding(name, routeSecrets));
    const observed = objectsIn(this.deps.roleBindings, nsName)
      .filter(
        (rb) =>
          rb.metadata.labels?.[LABELS.organization] === name &&
          rb.metadata.labels?.[LABELS.vdc] === undefined &&
          (rb.metadata.labels?.[ROLE_LABEL] === 'org-admin' || rb.metadata.labels?.[ROLE_LABEL] === 'route-secrets'),
      );
    await step('role bindings', () =>
      syncChildren(this.deps.client, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' }, desired, observed, forced !== undefined),
    );

    const enabled = current.spec?.isEnabled !== false;
    await this.writeStatus(current, {
      phase: enabled ? 'Active' : 'Disabled',
      ready: enabled
        ? { status: 'True', reason: OrgReasons.Provisioned, message: `Namespace ${nsName} and ${admins} admin role binding(s) are in place` }
        : { reason: OrgReasons.Disabled, message: `Organization '${name}' is disabled; its VDCs are suspended` },
      namespace: nsName,
      vdcCount,
      forced,
    });
  }

  /** Deletion: blocked while VDCs exist; then the namespace goes; then `done` (the finalizer goes). */
  private async cleanup(org: Organization): Promise<ReconcileResult | void | 'done'> {
    const name = org.metadata.name as string;
    const nsName = organizationNamespace(name);
    const vdcs = vdcsOfOrganization(this.deps.vdcs, name);
    if (vdcs.length > 0) {
      const names = vdcs.map((v) => v.metadata.name).join(', ');
      await this.writeStatus(org, {
        phase: 'Terminating',
        ready: {
          reason: OrgReasons.DeletionBlocked,
          message: `Organization '${name}' cannot be deleted while ${vdcs.length} VirtualDataCenter(s) exist: ${names}`.slice(0, 1024),
        },
        vdcCount: vdcs.length,
      });
      return;
    }
    const ns = this.deps.namespaces.get(nsName);
    if (ns && ownsNamespace(ns, name)) {
      if (!isDeleting(ns)) {
        // The last events of its VDCs (VDCDeleted) are written into this namespace: deliver
        // them before it starts terminating, or the API server refuses them.
        await this.deps.events.flush?.(5_000);
        await step('namespace deletion', () => deleteObject(this.deps.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName } }));
      }
      await this.writeStatus(org, {
        phase: 'Terminating',
        ready: { reason: OrgReasons.Deleting, message: `Waiting for namespace ${nsName} to be deleted` },
        vdcCount: 0,
      });
      return { requeueAfter: REQUEUE.namespaceDeletion };
    }
    return 'done';
  }

  /**
   * Writes the status when it differs from what the cache holds, then records the events of
   * the transition.
   */
  private async writeStatus(
    org: Organization,
    s: { phase: OrganizationPhase; ready: ReadyInput; vdcCount: number; namespace?: string; forced?: string },
  ): Promise<void> {
    const prev = org.status;
    const next: OrganizationStatus = {
      ...(nextCommonStatus(org, s, s.phase === 'Active' || s.phase === 'Disabled', this.now()) as OrganizationStatus),
      vdcCount: s.vdcCount,
    };
    const key = org.metadata.name ?? '';
    const planned = organizationEvents(org, prev, next);
    const owed = planned.filter((e) => OWED_REASONS.has(e.reason)).map((e) => e.reason);
    const marker = this.ledger.plan(key, prev, owed, !statusUnchanged(prev, next, OTHER_KEYS));
    Object.assign(next, marker.marker);
    // A merge patch removes a field only when told so with null.
    const wrote = await writeStatusIfChanged(this.deps, org, next, STATUS_KEYS, marker.nulls).catch((err: unknown) => {
      this.ledger.refused(next.pendingEventsTicket, prev?.pendingEventsTicket, err);
      throw err;
    });
    if (wrote) {
      this.ledger.written(key, next.pendingEvents, next.pendingEventsTicket, prev?.pendingEventsTicket);
      this.emit(org, planned);
    } else {
      this.ledger.carrying(key, prev);
    }
    // Owed from before: this process restarted, or the earlier record was given up.
    for (const reason of this.ledger.owedFrom(key, wrote ? next : prev)) {
      if (!this.ledger.needsRecording(key, reason) || (reason !== 'OrganizationCreated' && reason !== 'OrganizationUpdated')) continue;
      if (await step('events', () => eventExists(this.deps.client, org, reason))) this.ledger.confirm(key, reason);
      else this.emit(org, [{ type: 'Normal', reason, actor: requestedBy(org) }]);
    }
  }

  private emit(org: Organization, planned: PlannedEvent[]): void {
    const { events } = this.deps;
    const key = org.metadata.name ?? '';
    for (const e of planned) {
      safely(this.deps.logger, e.reason, () => {
        if (e.reason === 'OrganizationCreated') events.recordOrganizationCreated(org, e.actor, this.ledger.track(key, e.reason));
        else if (e.reason === 'OrganizationUpdated') events.recordOrganizationUpdated(org, e.actor, this.ledger.track(key, e.reason));
        else if (e.reason === 'ReconcileForced') events.recordOrganizationReconcileForced(org, e.actor);
        else if (e.type === 'Warning') events.record(org, 'Warning', e.reason, e.message, { actor: e.actor, organization: org.metadata.name });
      });
    }
  }
}

/**
 * The Organization controller: its own events, its namespace and role bindings, and VDCs coming
 * and going (vdcCount; VDCs created or deleted together update the organization once).
 */
export function organizationController(setup: ControllerSetup): Controller {
  const { informers, base } = setup;
  const counts = new Debounce((key) => controller.enqueue(key), VDC_COUNT_DELAY_MS, VDC_COUNT_MAX_DELAY_MS);
  const requeue = requeueInto(() => controller);
  const reconciler: OrganizationReconciler = new OrganizationReconciler({
    ...base,
    ...informers,
    routeSecretsSubject: setup.config.routes.serviceAccount,
    // A confirmed event's marker is cleared through the same debounce: VDCs are usually created
    // right after their organization, and the count and the marker then go in one write.
    requeue: (key, delayMs) => (delayMs ? requeue(key, delayMs) : counts.touch(key)),
    vdcCountSettling: (key) => counts.pending(key),
  });
  const controller: Controller = newController(
    setup,
    'organization',
    setup.config.workers.organization,
    (key, signal) => reconciler.reconcile(key, signal),
    (key, err, streak) => reportPersistentFailure(base.events, 'organization', informers.organizations.get(key), key, err, streak),
  );
  return controller
    .track(counts)
    .watchPrimary(informers.organizations)
    .watch(informers.vdcs, (v, old) => {
      if (!old && v.spec?.organizationRef) counts.touch(v.spec.organizationRef);
      return undefined;
    })
    .watch(informers.namespaces, orgKeyOf)
    .watch(informers.roleBindings, orgKeyOf);
}

/** VDCs created or deleted less than this apart update their organization's vdcCount once... */
export const VDC_COUNT_DELAY_MS = 500;
/** ...at most this long after the first of them. */
export const VDC_COUNT_MAX_DELAY_MS = 2_000;
