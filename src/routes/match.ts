// Which routes an event goes to (pure). A route's scope is the API's: `scopeMatcher` of
// src/events/query.ts decides, with the same Scope an org_admin's token gets, so a route in
// org-a sees exactly what org a's admins see in the API. The index only narrows the candidates
// (by the event's organization and reason); every candidate is still checked in full.
import {
  CLUSTER_EVENTS_NAMESPACE,
  scopeMatcher,
  type EventRecord,
  type NamespaceOwnership,
  type Scope,
} from '../events/query.js';
import type { EventRoute, RouteMatchSpec } from './types.js';

const ORGANIZATION_NAME = /^[a-z0-9]([-a-z0-9]{0,57}[a-z0-9])?$/;

/**
 * The scope of a route in `namespace`: everything in the operator's namespace, the
 * organization's (org_admin) scope in `org-<org>`, none elsewhere (undefined).
 */
export function routeScope(namespace: string, operatorNamespace: string): Scope | undefined {
  if (namespace === operatorNamespace) return { kind: 'all' };
  if (namespace.startsWith('org-')) {
    const organization = namespace.slice(4);
    if (ORGANIZATION_NAME.test(organization)) return { kind: 'organization', organization };
  }
  return undefined;
}

export interface CompiledRoute {
  /** namespace/name */
  key: string;
  scope: Scope;
  /** The full check: scope and spec.match. */
  matches(record: EventRecord): boolean;
  /** Index keys: the organization ('*' = all) and the reasons (undefined = any). */
  organization: string;
  reasons: readonly string[] | undefined;
}

const setOf = (list: readonly string[] | undefined): ReadonlySet<string> | undefined =>
  list && list.length > 0 ? new Set(list) : undefined;

/** spec.match as one predicate (pure; empty lists mean any). */
export function matchPredicate(match: RouteMatchSpec | undefined): (record: EventRecord) => boolean {
  const types = setOf(match?.types);
  const reasons = setOf(match?.reasons);
  const kinds = setOf(match?.kinds);
  const names = setOf(match?.names);
  const vdcs = setOf(match?.vdcs);
  const text = match?.messageContains || undefined;
  return (r) =>
    (!types || types.has(r.type)) &&
    (!reasons || reasons.has(r.reason)) &&
    (!kinds || kinds.has(r.kind)) &&
    (!names || names.has(r.objectName)) &&
    (!vdcs || (r.vdc !== undefined && vdcs.has(r.vdc))) &&
    (text === undefined || r.message.includes(text));
}

export function compileRoute(route: EventRoute, scope: Scope, owners: NamespaceOwnership): CompiledRoute {
  const inScope = scopeMatcher(scope, owners);
  const fields = matchPredicate(route.spec?.match);
  const reasons = route.spec?.match?.reasons;
  return {
    key: `${route.metadata.namespace ?? ''}/${route.metadata.name ?? ''}`,
    scope,
    matches: (r) => inScope(r) && fields(r),
    organization: scope.kind === 'all' ? '*' : scope.organization,
    reasons: reasons && reasons.length > 0 ? [...new Set(reasons)] : undefined,
  };
}

/**
 * The organization whose scope may contain the event (an index key only; the scope decides):
 * org-<org>, a vdc-* namespace's owner label, an Organization's events in `default`.
 */
export function organizationKey(record: EventRecord, owners: NamespaceOwnership): string | undefined {
  const ns = record.namespace;
  if (ns.startsWith('org-')) return ns.slice(4);
  if (ns.startsWith('vdc-')) return owners.ownerOf(ns);
  if (ns === CLUSTER_EVENTS_NAMESPACE && record.kind === 'Organization') return record.objectName;
  return undefined;
}

const ANY = '*';
const slot = (organization: string, reason: string) => `${organization}\u0000${reason}`;

/** Routes by (organization, reason): four map reads per event whatever the number of routes. */
export class RouteIndex {
  private readonly slots = new Map<string, CompiledRoute[]>();
  private readonly byKey = new Map<string, CompiledRoute>();

  constructor(private readonly owners: NamespaceOwnership) {}

  get size(): number {
    return this.byKey.size;
  }

  set(route: CompiledRoute): void {
    this.delete(route.key);
    this.byKey.set(route.key, route);
    for (const reason of route.reasons ?? [ANY]) {
      const k = slot(route.organization, reason);
      const list = this.slots.get(k);
      if (list) list.push(route);
      else this.slots.set(k, [route]);
    }
  }

  delete(key: string): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    for (const reason of old.reasons ?? [ANY]) {
      const k = slot(old.organization, reason);
      const rest = (this.slots.get(k) ?? []).filter((r) => r !== old);
      if (rest.length > 0) this.slots.set(k, rest);
      else this.slots.delete(k);
    }
  }

  /** The routes the event goes to. */
  match(record: EventRecord): CompiledRoute[] {
    const out: CompiledRoute[] = [];
    const org = organizationKey(record, this.owners);
    const take = (k: string) => {
      const list = this.slots.get(k);
      if (list) for (const r of list) if (r.matches(record)) out.push(r);
    };
    if (org !== undefined && org !== ANY) {
      take(slot(org, record.reason));
      take(slot(org, ANY));
    }
    take(slot(ANY, record.reason));
    take(slot(ANY, ANY));
    return out;
  }
}
