// OrganizationReconciler: namespace org-<name>, one RoleBinding per admin group to
// ovim:org-admin, status, finalizer, deletion blocked while VDCs exist (DESIGN.md section 3).
//
// Every event is tied to a status transition and recorded only after that status was written
// with the resourceVersion the decision was made on: a stale cache makes the write fail (409)
// instead of repeating an event, and resyncs and restarts find nothing left to report.
import type { ReconcileResult } from '../kube/controller.js';
import { deleteObject, type PlainObject } from '../kube/apply.js';
import { isNotFound } from '../kube/errors.js';
import { resourcePath } from '../kube/rest.js';
import { findCondition } from '../resources/conditions.js';
import { desiredOrganizationNamespace, ownsNamespace } from '../resources/namespace.js';
import { ORGANIZATION_FINALIZER, ROLE_LABEL, organizationNamespace } from '../resources/naming.js';
import { desiredOrganizationRoleBindings, routeSecretsRoleBinding } from '../resources/rbac.js';
import {
  LABELS,
  ORGANIZATION_PLURAL,
  OVIM_API_VERSION,
  type Organization,
  type OrganizationPhase,
  type OrganizationStatus,
  type VirtualDataCenter,
} from '../resources/types.js';
import {
  CACHE_BEHIND,
  READY,
  ensureFinalizer,
  ensureNamespace,
  forcedBy,
  isDeleting,
  nextCommonStatus,
  pendingForceReconcile,
  removeFinalizer,
  requestedBy,
  safely,
  syncChildren,
  writeStatusIfChanged,
  type ReadyInput,
  type ReconcilerBase,
  type Store,
} from './common.js';

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
}

/** The VDCs of an organization: those in org-<name> that reference it. */
export function vdcsOfOrganization(vdcs: Store<VirtualDataCenter>, org: string): VirtualDataCenter[] {
  const ns = organizationNamespace(org);
  return vdcs
    .list()
    .filter((v) => v.metadata?.namespace === ns && v.spec?.organizationRef === org)
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
    out.push({ type: 'Normal', reason: 'OrganizationUpdated', actor });
  }
  if (next.lastForcedReconcile && next.lastForcedReconcile !== prev?.lastForcedReconcile) {
    out.push({ type: 'Normal', reason: 'ReconcileForced', actor: forcedBy(org) });
  }
  const ready = findCondition(next.conditions, READY);
  const before = findCondition(prev?.conditions, READY);
  const warning = ready && ready.status === 'False' ? WARNING_REASONS[ready.reason] : undefined;
  if (warning && (before?.reason !== ready?.reason || before?.observedGeneration !== ready?.observedGeneration)) {
    out.push({ type: 'Warning', reason: warning, message: ready?.message ?? '', actor });
  }
  return out;
}

const STATUS_KEYS: (keyof OrganizationStatus)[] = ['namespace', 'phase', 'vdcCount', 'conditions', 'observedGeneration', 'lastForcedReconcile'];

export class OrganizationReconciler {
  /** Keys whose finalizer patch was sent but has not succeeded (see removeOrphan). */
  private readonly unguarded = new Set<string>();

  constructor(private readonly deps: OrganizationReconcilerDeps) {}

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const org = this.deps.organizations.get(key);
    if (!org) return this.unguarded.has(key) ? this.removeOrphan(key) : undefined;
    if (this.deps.expectations?.isPending(key)) return CACHE_BEHIND;
    if (isDeleting(org)) return this.finalize(org);

    const name = org.metadata.name as string;
    const forced = pendingForceReconcile(org);
    const nsName = organizationNamespace(name);
    const prevReady = findCondition(org.status?.conditions, READY);
    const vdcCount = vdcsOfOrganization(this.deps.vdcs, name).length;

    // The finalizer and the namespace in parallel (one round trip less): should the
    // organization vanish before its finalizer lands, removeOrphan() deletes the namespace.
    const [current, outcome] = await Promise.all([
      ensureFinalizer(this.deps, this.unguarded, key, org, ORGANIZATION_FINALIZER),
      ensureNamespace(
        this.deps.client,
        desiredOrganizationNamespace(name),
        this.deps.namespaces.get(nsName),
        (ns) => ownsNamespace(ns, name),
        { force: forced !== undefined, suspectConflict: prevReady?.reason === OrgReasons.NamespaceConflict },
      ),
    ]);

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
      return { requeueAfter: 30_000 };
    }
    if (outcome === 'terminating') {
      await this.writeStatus(current, {
        phase: 'Pending',
        ready: { reason: OrgReasons.NamespaceTerminating, message: `Namespace ${nsName} is being deleted; waiting to recreate it` },
        vdcCount,
        forced,
      });
      return { requeueAfter: 2_000 };
    }

    const desired = desiredOrganizationRoleBindings(name, current.spec?.admins ?? []);
    const routeSecrets = this.deps.routeSecretsSubject;
    const admins = desired.length;
    if (routeSecrets) desired.push(routeSecretsRoleBinding(name, routeSecrets));
    const observed = this.deps.roleBindings
      .list()
      .filter(
        (rb) =>
          rb.metadata.namespace === nsName &&
          rb.metadata.labels?.[LABELS.organization] === name &&
          rb.metadata.labels?.[LABELS.vdc] === undefined &&
          (rb.metadata.labels?.[ROLE_LABEL] === 'org-admin' || rb.metadata.labels?.[ROLE_LABEL] === 'route-secrets'),
      );
    await syncChildren(this.deps.client, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' }, desired, observed, forced !== undefined);

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

  /**
   * The organization vanished while its finalizer was being added in parallel with its
   * namespace (so the finalizer never landed): delete the namespace once the API server
   * confirms the organization is gone and no VDC is left in it. Only keys this process was
   * provisioning qualify; nothing else labelled as ours is ever collected.
   */
  private async removeOrphan(name: string): Promise<void> {
    const nsName = organizationNamespace(name);
    const ns = this.deps.namespaces.get(nsName);
    if (!ns || !ownsNamespace(ns, name) || isDeleting(ns) || vdcsOfOrganization(this.deps.vdcs, name).length > 0) return;
    try {
      await this.deps.client.get(resourcePath({ apiVersion: OVIM_API_VERSION, plural: ORGANIZATION_PLURAL, name }));
      return; // it exists: the cache is behind
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.deps.logger?.info(`deleting namespace ${nsName} of the deleted organization ${name}`);
    await deleteObject(this.deps.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName } });
    this.unguarded.delete(name);
  }

  /** Deletion: blocked while VDCs exist; then the namespace goes, then the finalizer. */
  private async finalize(org: Organization): Promise<ReconcileResult | void> {
    if (!(org.metadata.finalizers ?? []).includes(ORGANIZATION_FINALIZER)) return;
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
        await deleteObject(this.deps.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName } });
      }
      await this.writeStatus(org, {
        phase: 'Terminating',
        ready: { reason: OrgReasons.Deleting, message: `Waiting for namespace ${nsName} to be deleted` },
        vdcCount: 0,
      });
      return { requeueAfter: 5_000 };
    }
    if (!(await removeFinalizer(this.deps.client, org, ORGANIZATION_FINALIZER))) return;
    safely(this.deps.logger, 'OrganizationDeleted', () => this.deps.events.recordOrganizationDeleted(org, requestedBy(org)));
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
    if (!(await writeStatusIfChanged(this.deps, org, next, STATUS_KEYS))) return;
    this.emit(org, organizationEvents(org, prev, next));
  }

  private emit(org: Organization, planned: PlannedEvent[]): void {
    const { events } = this.deps;
    for (const e of planned) {
      safely(this.deps.logger, e.reason, () => {
        if (e.reason === 'OrganizationCreated') events.recordOrganizationCreated(org, e.actor);
        else if (e.reason === 'OrganizationUpdated') events.recordOrganizationUpdated(org, e.actor);
        else if (e.reason === 'ReconcileForced') events.recordOrganizationReconcileForced(org, e.actor);
        else if (e.type === 'Warning') events.record(org, 'Warning', e.reason, e.message, { actor: e.actor, organization: org.metadata.name });
      });
    }
  }
}
