// From an Event (as the informer hands it over) to an archived row, and which Events the archive
// keeps by default. Pure.
import {
  CLUSTER_EVENTS_NAMESPACE,
  TRUSTED_ORGANIZATION_EVENT_COMPONENT,
  vdcNamespacePrefix,
  type EventRecord,
  type NamespaceOwnership,
} from '../events/query.js';
import { compactEvent, type EventObject } from '../events/store.js';
import { EVENT_ANNOTATIONS } from '../events/types.js';
import { categoryOf } from './categories.js';
import type { ArchiveRow } from './schema.js';

/** Timestamps further than this in the future are clamped to "now" on ingest. */
export const FUTURE_SKEW_MS = 30_000;

/** The kinds OVIM records events about (archived wherever they live). */
export const OVIM_KINDS: ReadonlySet<string> = new Set([
  'Organization',
  'VirtualDataCenter',
  'VirtualMachine',
  'EventRoute',
]);

/**
 * The organization an event belongs to, as the tenant scopes decide it: its `org-<x>` namespace,
 * a `vdc-<x>-*` namespace whose owner label says x, or an Organization's own events in `default`.
 * Undefined when no organization owns it (yet).
 */
export function tenantOf(record: Pick<EventRecord, 'namespace' | 'kind' | 'objectName' | 'component'>, owners: NamespaceOwnership): string | undefined {
  const ns = record.namespace;
  // An org-<x> namespace is x's only when labelled so (someone else may have created org-zzz).
  if (ns.startsWith('org-') && ns.length > 4) return owners.ownerOf(ns) === ns.slice(4) ? ns.slice(4) : undefined;
  if (ns.startsWith('vdc-')) {
    const owner = owners.ownerOf(ns);
    return owner !== undefined && ns.startsWith(vdcNamespacePrefix(owner)) ? owner : undefined;
  }
  // Anyone may create Events in `default`: only the operator's controller speaks for an Organization there.
  if (ns === CLUSTER_EVENTS_NAMESPACE && record.kind === 'Organization' && record.objectName && record.component === TRUSTED_ORGANIZATION_EVENT_COMPONENT) {
    return record.objectName;
  }
  return undefined;
}

/**
 * Whether the archive keeps an event by default: OVIM's kinds, OVIM's own components, and every
 * event in a namespace the operator manages (`org-*`, `vdc-*`, or labelled as an organization's).
 */
export function archivedByDefault(record: EventRecord, owners: NamespaceOwnership): boolean {
  if (OVIM_KINDS.has(record.kind)) return true;
  if (record.component.startsWith('ovim-')) return true;
  const ns = record.namespace;
  return ns.startsWith('org-') || ns.startsWith('vdc-') || owners.ownerOf(ns) !== undefined;
}

/**
 * The Kubernetes Event the API recorded for an application-level event (DESIGN.md section 7):
 * the application's row already holds it. Only the API's own component counts, so another
 * writer cannot hide its Events from the archive with the annotation.
 */
export function isMirrorOfApplicationEvent(event: EventObject): boolean {
  return Boolean(event.metadata?.annotations?.[EVENT_ANNOTATIONS.sourceEventId]) && (event.source?.component ?? event.reportingComponent) === 'ovim-api';
}

/** An event's archived row; undefined for objects that are not usable events. */
export function archiveRow(event: EventObject, owners: NamespaceOwnership, now: number): ArchiveRow | undefined {
  const r = compactEvent(event, now);
  if (!r) return undefined;
  return rowOfRecord(r, owners, now);
}

export function rowOfRecord(r: EventRecord, owners: NamespaceOwnership, now: number): ArchiveRow {
  const latest = now + FUTURE_SKEW_MS;
  const last = r.lastTimestamp > latest ? now : r.lastTimestamp;
  const first = Math.min(r.firstTimestamp > latest ? now : r.firstTimestamp, last);
  const orgId = tenantOf(r, owners);
  return {
    uid: r.uid,
    name: r.name,
    namespace: r.namespace,
    type: r.type,
    reason: r.reason,
    message: r.message,
    component: r.component,
    kind: r.kind,
    object_name: r.objectName,
    first_timestamp: first,
    last_timestamp: last,
    count: r.count,
    organization: r.organization ?? null,
    vdc: r.vdc ?? null,
    actor: r.actor ?? null,
    owner: r.owner ?? null,
    actor_verified: r.actorVerified === true ? 1 : 0,
    owner_verified: r.ownerVerified === true ? 1 : 0,
    category: categoryOf(r.reason, r.kind),
    writer: 'kubernetes',
    org_id: orgId ?? null,
    vdc_id: r.vdc ?? null,
    vm_id: r.kind === 'VirtualMachine' ? r.objectName : null,
    user_id: null,
    username: r.actor ?? null,
    action: null,
    metadata: null,
    annotations: null,
    labels: null,
    ingested_at: now,
    deleted_at: null,
  };
}

/** Two rows of one uid folded into one (count and last timestamp never move backwards). */
export function mergeRows(older: ArchiveRow, newer: ArchiveRow): ArchiveRow {
  const latest = newer.last_timestamp >= older.last_timestamp ? newer : older;
  return {
    ...latest,
    count: Math.max(older.count, newer.count),
    first_timestamp: Math.min(older.first_timestamp, newer.first_timestamp),
    org_id: older.org_id ?? newer.org_id,
  };
}
