// The events query as pure functions over plain data: the compact record the store keeps, the
// API's filters, the order of results, paging, tenant scopes and the JSON item shape
// (DESIGN.md section 5). The store (store.ts) answers the same questions with indexes;
// `runQuery` here is the plain reference it must agree with.
import { categoryOf } from '../history/categories.js';

/** What the store keeps per event: only what the API filters on or returns. */
export interface EventRecord {
  /** metadata.uid (the API's `id`). */
  uid: string;
  name: string;
  namespace: string;
  type: string;
  reason: string;
  message: string;
  /** source.component, else reportingComponent. */
  component: string;
  /** involvedObject.kind */
  kind: string;
  /** involvedObject.name */
  objectName: string;
  /** Milliseconds since the epoch. */
  firstTimestamp: number;
  /** Milliseconds since the epoch; the sort key. */
  lastTimestamp: number;
  count: number;
  /**
   * `ovim.io/organization`, else derived from an `org-<name>` namespace or an Organization object.
   * Informational (the `organization` filter): scopes never trust it.
   */
  organization: string | undefined;
  /** `ovim.io/vdc`, else the name of an involved VirtualDataCenter. */
  vdc: string | undefined;
  /** `ovim.io/actor` */
  actor: string | undefined;
  /** `ovim.io/owner` */
  owner: string | undefined;
  /** `ovim.io/actor-verified` is "true": the admission webhook stamped the actor (DESIGN.md section 8). */
  actorVerified?: boolean;
  /** `ovim.io/owner-verified` is "true". */
  ownerVerified?: boolean;
  /** OVIM's category (DESIGN.md section 7); derived from reason and kind when absent. */
  category?: string;
}

export type EventTypeFilter = 'Normal' | 'Warning';

/** The API's filters, already validated (section 5). Absent means "any". */
export interface EventFilters {
  type?: EventTypeFilter;
  /** Case-insensitive substring of the source component. */
  component?: string;
  namespace?: string;
  reason?: string;
  /** involvedObject.kind */
  kind?: string;
  /** involvedObject.name */
  name?: string;
  organization?: string;
  vdc?: string;
  /** Only events whose last timestamp is at or after this instant (ms since the epoch). */
  since?: number;
}

export interface PageRequest {
  /** 1-based. */
  page: number;
  limit: number;
}

export interface QueryResult {
  items: EventRecord[];
  /** All matches, not only the page. */
  total: number;
}

/**
 * What a caller may see, computed once per request from the token's claims.
 * - `all`: system admins.
 * - `organization`: an organization's admins — `org-<org>` and the `vdc-*` namespaces labelled as
 *   the organization's (NamespaceOwnership), and the operator's events about their Organization
 *   object in `default`.
 * - `own`: an organization's users — the events of that organization whose verified actor or owner is them.
 */
export type Scope =
  | { kind: 'all' }
  | { kind: 'organization'; organization: string }
  | { kind: 'own'; organization: string; username: string };

export const LIMITS = {
  events: { default: 50, max: 200 },
  recent: { default: 10, max: 50 },
} as const;

/** The namespace where events about cluster-scoped objects (Organizations) live. */
export const CLUSTER_EVENTS_NAMESPACE = 'default';

export const orgNamespace = (org: string): string => `org-${org}`;
export const vdcNamespacePrefix = (org: string): string => `vdc-${org}-`;

/** Clamps a validated (>= 1) limit to the route's maximum. */
export function clampLimit(limit: number | undefined, bounds: { default: number; max: number }): number {
  if (limit === undefined) return bounds.default;
  return Math.min(Math.max(1, Math.floor(limit)), bounds.max);
}

/**
 * The order of every answer: `last_timestamp` descending, ties by name, then namespace and uid
 * (so the order is total and pages are stable slices). Negative when `a` comes first.
 */
export function compareEvents(a: EventRecord, b: EventRecord): number {
  if (a.lastTimestamp !== b.lastTimestamp) return b.lastTimestamp - a.lastTimestamp;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.uid !== b.uid) return a.uid < b.uid ? -1 : 1;
  return 0;
}

/**
 * Who owns each namespace the operator provisions (its `ovim.io/organization` label). The only
 * way a `vdc-*` namespace is attributed to an organization: organization names may contain '-',
 * so `vdc-acme-corp-x` may be organization `acme`'s VDC `corp-x` or `acme-corp`'s VDC `x`.
 */
export interface NamespaceOwnership {
  ownerOf(namespace: string): string | undefined;
}

/** Knows no namespace: every `vdc-*` namespace is nobody's (the fail-closed default). */
export const NO_NAMESPACE_OWNERS: NamespaceOwnership = { ownerOf: () => undefined };

/**
 * The component whose Organization events in `default` an organization's admins see: anyone who
 * may create Events in `default` could otherwise plant one "about" their Organization. (The
 * API's own security events there, component `ovim-api`, are for system admins only.)
 */
export const TRUSTED_ORGANIZATION_EVENT_COMPONENT = 'ovim-controller';

/** Whether `org-<org>` is the organization's namespace by its owner label, not only its name. */
export function isHomeNamespaceOf(namespace: string, org: string, owners: NamespaceOwnership): boolean {
  return namespace === orgNamespace(org) && owners.ownerOf(namespace) === org;
}

/** Whether `namespace` is one of the organization's VDC namespaces (by its owner label). */
export function isVdcNamespaceOf(namespace: string, org: string, owners: NamespaceOwnership): boolean {
  return namespace.startsWith(vdcNamespacePrefix(org)) && owners.ownerOf(namespace) === org;
}

/**
 * Whether an event belongs to an organization: its `org-<org>` namespace or a `vdc-<org>-*`
 * namespace, either labelled as the organization's (an unknown or foreign owner never matches,
 * whatever the name or the event's annotations say); or the Organization object's own events in
 * `default` as the operator's controller reported them.
 */
export function organizationMatcher(org: string, owners: NamespaceOwnership): (record: EventRecord) => boolean {
  const home = orgNamespace(org);
  const prefix = vdcNamespacePrefix(org);
  return (record) => {
    const ns = record.namespace;
    if (ns === home || ns.startsWith(prefix)) return owners.ownerOf(ns) === org;
    if (ns === CLUSTER_EVENTS_NAMESPACE) {
      return (
        record.kind === 'Organization' &&
        record.objectName === org &&
        record.component === TRUSTED_ORGANIZATION_EVENT_COMPONENT
      );
    }
    return false;
  };
}

export function belongsToOrganization(record: EventRecord, org: string, owners: NamespaceOwnership): boolean {
  return organizationMatcher(org, owners)(record);
}

/** The scope as a predicate (built once per request). */
export function scopeMatcher(scope: Scope, owners: NamespaceOwnership): (record: EventRecord) => boolean {
  switch (scope.kind) {
    case 'all':
      return () => true;
    case 'organization':
      return organizationMatcher(scope.organization, owners);
    case 'own': {
      const ofOrganization = organizationMatcher(scope.organization, owners);
      const user = scope.username;
      // Only stamped names count: a name typed into an annotation shows nobody else's events.
      return (record) =>
        ((record.actorVerified === true && record.actor === user) || (record.ownerVerified === true && record.owner === user)) &&
        ofOrganization(record);
    }
  }
}

/** Whether the scope lets its holder see this event. */
export function inScope(record: EventRecord, scope: Scope, owners: NamespaceOwnership): boolean {
  return scopeMatcher(scope, owners)(record);
}

/**
 * Whether a `namespace` filter is inside the scope (outside → 403): `default`, and the `org-<org>`
 * and `vdc-<org>-*` namespaces known (by their label) to be the organization's. A namespace whose
 * owner is unknown (not yet seen, or never labelled) or another organization is outside.
 */
export function namespaceInScope(namespace: string, scope: Scope, owners: NamespaceOwnership): boolean {
  if (scope.kind === 'all') return true;
  const org = scope.organization;
  return (
    isHomeNamespaceOf(namespace, org, owners) ||
    namespace === CLUSTER_EVENTS_NAMESPACE ||
    isVdcNamespaceOf(namespace, org, owners)
  );
}

/** The filters as one predicate (undefined when there is none). */
export function filterPredicate(filters: EventFilters): ((record: EventRecord) => boolean) | undefined {
  const checks: ((r: EventRecord) => boolean)[] = [];
  const { type, namespace, reason, kind, name, organization, vdc, since } = filters;
  if (type !== undefined) checks.push((r) => r.type === type);
  if (namespace !== undefined) checks.push((r) => r.namespace === namespace);
  if (reason !== undefined) checks.push((r) => r.reason === reason);
  if (kind !== undefined) checks.push((r) => r.kind === kind);
  if (name !== undefined) checks.push((r) => r.objectName === name);
  if (organization !== undefined) checks.push((r) => r.organization === organization);
  if (vdc !== undefined) checks.push((r) => r.vdc === vdc);
  if (since !== undefined) checks.push((r) => r.lastTimestamp >= since);
  if (filters.component !== undefined) checks.push(componentMatcher(filters.component));
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (r) => {
    for (const check of checks) if (!check(r)) return false;
    return true;
  };
}

/** Case-insensitive substring match on the component; components are few, so lower-casing is cached. */
export function componentMatcher(component: string): (record: EventRecord) => boolean {
  const needle = component.toLowerCase();
  const lowered = new Map<string, boolean>();
  return (r) => {
    let hit = lowered.get(r.component);
    if (hit === undefined) {
      hit = r.component.toLowerCase().includes(needle);
      lowered.set(r.component, hit);
    }
    return hit;
  };
}

/** The slice of an ordered list that is page `page` of size `limit` (1-based). */
export function pageSlice<T>(ordered: readonly T[], page: PageRequest): T[] {
  const start = (page.page - 1) * page.limit;
  if (!Number.isFinite(start) || start >= ordered.length) return [];
  return ordered.slice(start, start + page.limit);
}

/** The reference query: scope, filters, order, page — by scanning everything. */
export function runQuery(
  records: Iterable<EventRecord>,
  filters: EventFilters,
  scope: Scope,
  page: PageRequest,
  owners: NamespaceOwnership,
): QueryResult {
  const matches = filterPredicate(filters);
  const visible = scopeMatcher(scope, owners);
  const hits: EventRecord[] = [];
  for (const r of records) if (visible(r) && (!matches || matches(r))) hits.push(r);
  hits.sort(compareEvents);
  return { items: pageSlice(hits, page), total: hits.length };
}

const DAY_MS = 86_400_000;
const MAX_FOUR_DIGIT_YEAR_MS = 253_402_300_800_000; // 10000-01-01T00:00:00Z
let formattedDay = NaN;
let formattedDayPrefix = '';
const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/**
 * RFC 3339 in UTC the way Go's RFC3339Nano prints it: no fraction when it is zero. (Called for
 * every item of every answer: the date part is reused while the day stays the same.)
 */
export function formatTimestamp(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= MAX_FOUR_DIGIT_YEAR_MS) {
    const iso = new Date(ms).toISOString();
    return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
  }
  const day = Math.floor(ms / DAY_MS);
  if (day !== formattedDay) {
    formattedDay = day;
    formattedDayPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11); // YYYY-MM-DDT
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  const fraction = millis === 0 ? '' : `.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}`;
  return `${formattedDayPrefix}${two(hours)}:${two(minutes)}:${two(seconds)}${fraction}Z`;
}

/** The API's event item (section 5). */
export interface ApiEvent {
  id: string;
  name: string;
  namespace: string;
  type: string;
  reason: string;
  message: string;
  component: string;
  involved_object_kind: string;
  involved_object_name: string;
  first_timestamp: string;
  last_timestamp: string;
  count: number;
  organization?: string;
  vdc?: string;
  actor?: string;
  actor_verified?: boolean;
  category: string;
}

export function toApiEvent(r: EventRecord): ApiEvent {
  const item: ApiEvent = {
    id: r.uid,
    name: r.name,
    namespace: r.namespace,
    type: r.type,
    reason: r.reason,
    message: r.message,
    component: r.component,
    involved_object_kind: r.kind,
    involved_object_name: r.objectName,
    first_timestamp: formatTimestamp(r.firstTimestamp),
    last_timestamp: formatTimestamp(r.lastTimestamp),
    count: r.count,
    category: r.category ?? categoryOf(r.reason, r.kind),
  };
  if (r.organization !== undefined) item.organization = r.organization;
  if (r.vdc !== undefined) item.vdc = r.vdc;
  if (r.actor !== undefined) {
    item.actor = r.actor;
    item.actor_verified = r.actorVerified === true;
  }
  return item;
}
