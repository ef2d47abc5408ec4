// The event catalog of DESIGN.md section 4: every reason the operator records, with its event
// type and the kinds of object it is recorded on. The recorder's signature is typed from it, so
// a reason cannot be recorded with the wrong type (a compile error; a mismatch forced through a
// cast is corrected at run time).
import type { EventType } from './types.js';

export const ORGANIZATION_KIND = 'Organization';
export const VDC_KIND = 'VirtualDataCenter';
export const VM_KIND = 'VirtualMachine';
/** The operator's own Namespace: the object of the API's AuthenticationFailed events. */
export const NAMESPACE_KIND = 'Namespace';
export const EVENTROUTE_KIND = 'EventRoute';

export type CatalogKind = typeof ORGANIZATION_KIND | typeof VDC_KIND | typeof VM_KIND | typeof NAMESPACE_KIND | typeof EVENTROUTE_KIND;

/** apiVersion of each catalog kind, used when a caller hands over an object without one. */
export const KIND_API_VERSIONS: Readonly<Record<CatalogKind, string>> = {
  Organization: 'ovim.io/v1',
  VirtualDataCenter: 'ovim.io/v1',
  VirtualMachine: 'kubevirt.io/v1',
  Namespace: 'v1',
  EventRoute: 'ovim.io/v1',
};

export interface CatalogEntry {
  readonly type: EventType;
  readonly kinds: readonly CatalogKind[];
  /** When it is recorded (the table's "When" column). */
  readonly when: string;
}

export const EVENT_CATALOG = {
  OrganizationCreated: { type: 'Normal', kinds: [ORGANIZATION_KIND], when: 'first successful provisioning' },
  OrganizationUpdated: { type: 'Normal', kinds: [ORGANIZATION_KIND], when: 'a spec change (new generation) was applied' },
  OrganizationDeleted: { type: 'Normal', kinds: [ORGANIZATION_KIND], when: 'cleanup finished, finalizer removed' },
  ReconcileForced: { type: 'Normal', kinds: [ORGANIZATION_KIND, VDC_KIND], when: 'force-reconcile annotation handled' },
  // DESIGN.md section 8: recorded by the admission webhook with the deleting user as actor.
  DeletionRequested: { type: 'Normal', kinds: [ORGANIZATION_KIND, VDC_KIND], when: 'a user asked to delete it' },
  DeletionBlocked: { type: 'Warning', kinds: [ORGANIZATION_KIND], when: 'deletion requested while VDCs exist' },
  // The contract's table lists ReconcileFailed for Organizations; VDC reconciles fail the same way.
  ReconcileFailed: { type: 'Warning', kinds: [ORGANIZATION_KIND, VDC_KIND], when: 'a reconcile error persisted past retries' },
  // DESIGN.md section 4's performance event (src/observability/slow-reconcile.ts).
  SlowReconcile: { type: 'Warning', kinds: [ORGANIZATION_KIND, VDC_KIND], when: 'one reconcile took longer than the threshold (default 10 s); names the slowest step' },
  VDCCreated: { type: 'Normal', kinds: [VDC_KIND], when: 'first successful provisioning' },
  VDCUpdated: { type: 'Normal', kinds: [VDC_KIND], when: 'a spec change was applied' },
  VDCDeleted: { type: 'Normal', kinds: [VDC_KIND], when: 'cleanup finished' },
  QuotaExceeded: {
    type: 'Warning',
    kinds: [VDC_KIND],
    when: "the ResourceQuota has used >= hard, or the requested quota exceeds the organization's remaining ceiling",
  },
  QuotaThresholdReached: { type: 'Warning', kinds: [VDC_KIND], when: 'usage crossed the warning threshold' },
  CreationFailed: { type: 'Warning', kinds: [VDC_KIND], when: 'provisioning impossible' },
  VMCreated: { type: 'Normal', kinds: [VM_KIND], when: 'KubeVirt VM created' },
  VMStarted: { type: 'Normal', kinds: [VM_KIND], when: 'KubeVirt VM started' },
  VMStopped: { type: 'Normal', kinds: [VM_KIND], when: 'KubeVirt VM stopped' },
  VMDeleted: { type: 'Normal', kinds: [VM_KIND], when: 'KubeVirt VM deleted' },
  ProvisioningFailed: { type: 'Warning', kinds: [VM_KIND], when: 'VM reports a failure condition before ever running' },
  StartupFailed: { type: 'Warning', kinds: [VM_KIND], when: 'VM fails to start' },
  // Security events of the HTTP API (component ovim-api; DESIGN.md section 8).
  AuthenticationFailed: { type: 'Warning', kinds: [NAMESPACE_KIND], when: 'rejected tokens, aggregated per client address' },
  AccessDenied: { type: 'Warning', kinds: [ORGANIZATION_KIND], when: 'a valid token asked for something outside its scope (403)' },
  // Event routes (DESIGN.md section 9).
  RouteTriggered: { type: 'Normal', kinds: [EVENTROUTE_KIND], when: "the route's threshold was reached" },
  DeliveryFailed: {
    type: 'Warning',
    kinds: [EVENTROUTE_KIND],
    when: "a delivery failed after its last retry, was refused (SSRF guard), or the route's backlog overflowed",
  },
} as const satisfies Record<string, CatalogEntry>;

/** Every reason of the catalog. */
export type EventReason = keyof typeof EVENT_CATALOG;

/** The event type a reason must be recorded with. */
export type ReasonType<R extends EventReason> = (typeof EVENT_CATALOG)[R]['type'];

/** Reasons recorded with the given type. */
export type ReasonsOfType<T extends EventType> = {
  [R in EventReason]: ReasonType<R> extends T ? R : never;
}[EventReason];

/** Reasons that may be recorded on the given kind. */
export type ReasonsOfKind<K extends CatalogKind> = {
  [R in EventReason]: K extends (typeof EVENT_CATALOG)[R]['kinds'][number] ? R : never;
}[EventReason];

/** The reasons as constants: `Reasons.OrganizationCreated === 'OrganizationCreated'`. */
export const Reasons = Object.freeze(
  Object.fromEntries(Object.keys(EVENT_CATALOG).map((r) => [r, r])) as { readonly [R in EventReason]: R },
);

export const ALL_REASONS = Object.keys(EVENT_CATALOG) as EventReason[];

export function isEventReason(value: string): value is EventReason {
  return Object.prototype.hasOwnProperty.call(EVENT_CATALOG, value);
}

export function catalogEntry(reason: EventReason): CatalogEntry {
  return EVENT_CATALOG[reason];
}

/** The type a reason must be recorded with. */
export function reasonType<R extends EventReason>(reason: R): ReasonType<R> {
  return EVENT_CATALOG[reason].type as ReasonType<R>;
}

/** Whether the catalog allows `reason` on objects of `kind`. */
export function reasonAllowsKind(reason: EventReason, kind: string): boolean {
  return (EVENT_CATALOG[reason].kinds as readonly string[]).includes(kind);
}

/** The one kind a reason belongs to, when it belongs to exactly one. */
export function soleKind(reason: EventReason): CatalogKind | undefined {
  const kinds = EVENT_CATALOG[reason].kinds as readonly CatalogKind[];
  return kinds.length === 1 ? kinds[0] : undefined;
}
