// Application-level events (DESIGN.md section 7, "the seed's second layer"): what the OVIM
// backend posts, validated beyond the JSON schema (map sizes, timestamps), sanitized like
// recorded events and turned into archive rows. Pure: the clock and the owners are passed in.
import { createHash, randomUUID } from 'node:crypto';
import { NO_NAMESPACE_OWNERS, type NamespaceOwnership } from '../events/query.js';
import { sanitizeAnnotation, sanitizeMessage } from '../events/redact.js';
import { CATEGORIES, categoryOf, type Category } from './categories.js';
import { FUTURE_SKEW_MS, tenantOf } from './rows.js';
import type { ArchiveRow } from './schema.js';

/** One event as the backend posts it (after the JSON schema: types and lengths are checked). */
export interface AppEventInput {
  name?: string;
  type?: 'Normal' | 'Warning' | 'Error';
  reason: string;
  message: string;
  component?: string;
  category?: Category;
  action?: string;
  namespace?: string;
  org_id?: string;
  vdc_id?: string;
  vm_id?: string;
  user_id?: string;
  username?: string;
  involved_object_kind?: string;
  involved_object_name?: string;
  involved_object_namespace?: string;
  involved_object_uid?: string;
  metadata?: Record<string, string>;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  event_time?: string;
}

/** Keys at most per map, and the bytes of all three maps together (keys and values, UTF-8). */
export const MAX_MAP_KEYS = 32;
export const MAX_MAPS_BYTES = 16 * 1024;
export const MAX_BULK = 100;
export const DEFAULT_APP_COMPONENT = 'ovim-backend';

/** A field of a posted event that is not acceptable (→ 400 naming it). */
export class AppEventError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    why: string,
  ) {
    super(`invalid field "${field}": ${why}`);
  }
}

/** What the category list answers: name, description, colour and icon (the backend's own set). */
export const CATEGORY_INFO: Readonly<Record<Category, { description: string; color: string; icon: string }>> = {
  organization: { description: 'Organization lifecycle and management events', color: '#2ca02c', icon: 'fa-building' },
  vdc: { description: 'Virtual Data Center resource and lifecycle events', color: '#ff7f0e', icon: 'fa-server' },
  vm: { description: 'Virtual Machine lifecycle and operation events', color: '#d62728', icon: 'fa-desktop' },
  security: { description: 'Authentication, authorization, and security events', color: '#9467bd', icon: 'fa-shield-alt' },
  performance: { description: 'Performance monitoring and optimization events', color: '#8c564b', icon: 'fa-chart-line' },
  integration: { description: 'External system integration and API events', color: '#e377c2', icon: 'fa-plug' },
  system: { description: 'System-level and infrastructure events', color: '#7f7f7f', icon: 'fa-cogs' },
  audit: { description: 'Audit trail and compliance events', color: '#bcbd22', icon: 'fa-clipboard-list' },
  quota: { description: 'Resource quota and limit events', color: '#17becf', icon: 'fa-balance-scale' },
  network: { description: 'Network configuration and connectivity events', color: '#aec7e8', icon: 'fa-network-wired' },
  storage: { description: 'Storage provisioning and management events', color: '#ffbb78', icon: 'fa-hdd' },
  backup: { description: 'Backup and disaster recovery events', color: '#98df8a', icon: 'fa-archive' },
};

export function categoryList(): { name: Category; description: string; color: string; icon: string }[] {
  return CATEGORIES.map((name) => ({ name, ...CATEGORY_INFO[name] }));
}

function mapBytes(map: Record<string, string> | undefined): number {
  if (!map) return 0;
  let n = 0;
  for (const [k, v] of Object.entries(map)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** The posted time in ms; more than the skew ahead of `now` is refused. */
export function eventTimeOf(input: AppEventInput, now: number, field = 'event_time'): number {
  if (input.event_time === undefined) return now;
  const ms = Date.parse(input.event_time.toUpperCase());
  if (!Number.isFinite(ms) || ms < 0) throw new AppEventError(field, 'must be an RFC 3339 timestamp');
  if (ms > now + FUTURE_SKEW_MS) throw new AppEventError(field, `must not be more than ${FUTURE_SKEW_MS / 1000} s in the future`);
  return ms;
}

/** The checks the JSON schema cannot express; `prefix` names the event in a bulk ("events.3."). */
export function checkAppEvent(input: AppEventInput, now: number, prefix = ''): number {
  const total = mapBytes(input.metadata) + mapBytes(input.annotations) + mapBytes(input.labels);
  if (total > MAX_MAPS_BYTES) {
    throw new AppEventError(`${prefix}metadata`, `metadata, annotations and labels together must not exceed ${MAX_MAPS_BYTES} bytes (got ${total})`);
  }
  return eventTimeOf(input, now, `${prefix}event_time`);
}

/**
 * The row's uid: one per (name, event_time), so a repeated post of the same occurrence folds
 * into one row (its count bumped); an event without a name is its own row.
 */
export function appEventUid(name: string | undefined, eventTime: number): string {
  if (name === undefined || name === '') return `app-${randomUUID()}`;
  return `app-${createHash('sha256').update(`${name}\n${eventTime}`).digest('hex').slice(0, 32)}`;
}

const json = (map: Record<string, string> | undefined): string | null =>
  map && Object.keys(map).length > 0 ? JSON.stringify(map) : null;

/** Who posted it: the token's user (never the stated username). */
export interface Poster {
  username: string;
}

/** The archive row of a posted event (after checkAppEvent). */
export function appEventRow(input: AppEventInput, eventTime: number, poster: Poster, owners: NamespaceOwnership, now: number): ArchiveRow {
  const kind = input.involved_object_kind ?? '';
  const objectName = input.involved_object_name ?? '';
  const orgId = input.org_id || undefined;
  const namespace = input.namespace || input.involved_object_namespace || (orgId ? `org-${orgId}` : 'default');
  const component = input.component || DEFAULT_APP_COMPONENT;
  const name = input.name || `${input.reason}.${eventTime.toString(36)}`;
  // The backend names the tenant; without it, the namespace decides as for Kubernetes Events.
  const tenant = orgId ?? tenantOf({ namespace, kind, objectName, component }, owners) ?? null;
  const username = input.username ? sanitizeAnnotation(input.username) : null;
  return {
    uid: appEventUid(input.name, eventTime),
    name,
    namespace,
    type: input.type ?? 'Normal',
    reason: input.reason,
    message: sanitizeMessage(input.message),
    component,
    kind,
    object_name: objectName,
    first_timestamp: eventTime,
    last_timestamp: eventTime,
    count: 1,
    organization: orgId ?? null,
    vdc: input.vdc_id || null,
    // The stated username is the backend's word: shown as the actor, never as verified.
    actor: username,
    owner: null,
    actor_verified: 0,
    owner_verified: 0,
    category: input.category ?? categoryOf(input.reason, kind),
    writer: 'application',
    org_id: tenant,
    vdc_id: input.vdc_id || null,
    vm_id: input.vm_id || (kind === 'VirtualMachine' ? objectName || null : null),
    user_id: input.user_id || null,
    username,
    action: input.action || null,
    metadata: json(input.metadata),
    annotations: json(input.annotations),
    labels: json(input.labels),
    ingested_at: now,
    deleted_at: null,
    requested_via: poster.username,
    object_namespace: input.involved_object_namespace || null,
    object_uid: input.involved_object_uid || null,
  };
}

/** A security event the API writes itself (policy changes, deletions): never deletable. */
export function securityRow(reason: string, message: string, actor: string, namespace: string, now: number): ArchiveRow {
  const input: AppEventInput = { reason, message, category: 'security', component: 'ovim-api', namespace, involved_object_kind: 'Namespace', involved_object_name: namespace, username: actor };
  return {
    ...appEventRow(input, now, { username: actor }, NO_NAMESPACE_OWNERS, now),
    // The token's user, authenticated by its signature; no tenant: system admins only (like AuthenticationFailed).
    actor_verified: 1,
    org_id: null,
  };
}
