// JSON Schemas of the application-level events API (DESIGN.md section 7): the posted event, the
// bulk body, retention policies, and the list's extra query vocabulary. The OpenAPI paths are
// built from the same objects.
import { CATEGORIES } from '../history/categories.js';
import { MAX_BULK, MAX_MAP_KEYS } from '../history/app-events.js';
import { ARCHIVE_TYPES } from '../history/retention.js';
import { SORT_COLUMNS } from '../history/vocabulary.js';
import { eventSchema, eventsQuerySchema, eventsResponseSchema } from './schemas.js';

const str = (maxLength: number, description: string, extra: Record<string, unknown> = {}) =>
  ({ type: 'string', minLength: 1, maxLength, description, ...extra }) as const;
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const stringMap = (description: string) =>
  ({
    type: 'object',
    maxProperties: MAX_MAP_KEYS,
    propertyNames: { maxLength: 253 },
    additionalProperties: { type: 'string', maxLength: 16384 },
    description: `${description} (at most ${MAX_MAP_KEYS} keys; the three maps together at most 16 KB)`,
  }) as const;

/** One posted event. */
const appEventProperties = {
    name: str(253, 'Name of the occurrence: a repeated name with the same event_time folds into one event (count bumped).'),
    type: { type: 'string', enum: ['Normal', 'Warning', 'Error'], default: 'Normal', description: 'Error is mirrored to Kubernetes as Warning.' },
    reason: str(128, 'CamelCase reason, e.g. VMPowerOnRequested.', { pattern: '^[A-Z][A-Za-z0-9]*$' }),
    message: { type: 'string', minLength: 1, maxLength: 1024, description: 'At most 1024 characters; credentials in it are redacted.' },
    component: str(128, 'Who reports it (default ovim-backend).'),
    category: { type: 'string', enum: [...CATEGORIES], description: 'Default: derived from the reason and the involved object kind.' },
    action: str(128, 'What was done, e.g. power_on.'),
    namespace: str(63, 'Namespace it concerns.', { pattern: DNS_LABEL }),
    org_id: str(63, 'Organization it belongs to: its admins see it.', { pattern: DNS_LABEL }),
    vdc_id: str(253, 'Virtual data center.'),
    vm_id: str(253, 'Virtual machine.'),
    user_id: str(253, 'The backend user id.'),
    username: str(253, 'The backend user: stored as the actor, unverified.'),
    involved_object_kind: str(63, 'Kind of the object (Organization, VirtualDataCenter, VirtualMachine are mirrored to Kubernetes).', { pattern: '^[A-Z][A-Za-z0-9]*$' }),
    involved_object_name: str(253, 'Name of the object.'),
    involved_object_namespace: str(63, 'Namespace of the object.', { pattern: DNS_LABEL }),
    involved_object_uid: str(128, 'uid of the object: when given, only that object is mirrored to.'),
    metadata: stringMap('String map'),
    annotations: stringMap('String map'),
    labels: stringMap('String map'),
    event_time: { type: 'string', format: 'date-time', maxLength: 64, description: 'RFC 3339; at most 30 s in the future. Default: now.' },
} as const;

/**
 * Objects whose only fields are `properties`: an unknown field is a 400 (fastify's validator
 * would silently drop it under `additionalProperties: false`).
 */
const closed = <P extends Record<string, unknown>>(properties: P) => ({ propertyNames: { enum: Object.keys(properties) }, properties });

/** One posted event. */
export const appEventBodySchema = {
  type: 'object',
  required: ['reason', 'message'],
  ...closed(appEventProperties),
} as const;

export const bulkBodySchema = {
  type: 'object',
  required: ['events'],
  ...closed({ events: { type: 'array', minItems: 1, maxItems: MAX_BULK, items: appEventBodySchema } }),
} as const;

export const policySchema = {
  type: 'object',
  required: ['category', 'type', 'retention_days'],
  ...closed({
    category: { type: 'string', enum: [...CATEGORIES] },
    type: { type: 'string', enum: [...ARCHIVE_TYPES, 'all'], description: '"all": Normal, Warning and Error alike.' },
    retention_days: { type: 'integer', minimum: 1, maximum: 36500, description: 'Audit and security: at least 90.' },
    max_events: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000_000, description: 'Per organization; null: no cap. Ignored for audit and security.' },
  }),
} as const;

export const policiesBodySchema = {
  type: 'object',
  required: ['policies'],
  ...closed({ policies: { type: 'array', minItems: 1, maxItems: 64, items: policySchema } }),
} as const;

const repeated = (item: Record<string, unknown>, description: string) => ({
  anyOf: [item, { type: 'array', items: item, maxItems: 20 }],
  description: `${description} Repeat the parameter for any of several values.`,
});
const text = (maxLength = 253) => ({ type: 'string', maxLength }) as const;
const TYPES = { type: 'string', enum: ['Normal', 'Warning', 'Error'] } as const;

/** The backend's vocabulary on GET /api/v1/events (archive only). */
export const vocabularyQueryProperties = {
  type: repeated(TYPES, 'Event type (case-insensitive).'),
  category: repeated({ type: 'string', enum: [...CATEGORIES] }, 'Category (archive only).'),
  reason: repeated(text(), 'Reason (exact).'),
  component: repeated(text(), 'Case-insensitive substring of the component.'),
  namespace: repeated(text(), "Namespace (exact). Outside the caller's scope: 403."),
  org_id: repeated(text(), 'Organization id (archive only).'),
  vdc_id: repeated(text(), 'Virtual data center id (archive only).'),
  vm_id: repeated(text(), 'Virtual machine id (archive only).'),
  user_id: repeated(text(), 'Backend user id (archive only).'),
  username: repeated(text(), 'Backend username (archive only).'),
  search: { type: 'string', maxLength: 512, description: 'Words that must all occur in the message (full text; archive only).' },
  sort_by: { type: 'string', enum: [...SORT_COLUMNS], description: 'Sort column (default last_timestamp; archive only). No cursor with another order.' },
  sort_order: { type: 'string', enum: ['asc', 'desc'], description: 'Default desc.' },
  include_deleted: { type: 'string', enum: ['true', 'false'], description: 'System admins only: show soft-deleted events too.' },
  page_size: { type: 'integer', minimum: 1, description: 'Alias of limit.' },
} as const;

export const listQuerySchema = {
  type: 'object',
  properties: { ...eventsQuerySchema.properties, ...vocabularyQueryProperties },
} as const;

/** An item in full (GET /api/v1/events/{id}, the POST answer). */
export const eventDetailSchema = {
  type: 'object',
  required: eventSchema.required,
  properties: {
    ...eventSchema.properties,
    writer: { type: 'string', description: 'kubernetes (a Kubernetes Event) or application (posted to this API).' },
    action: { type: 'string' },
    org_id: { type: 'string' },
    vdc_id: { type: 'string' },
    vm_id: { type: 'string' },
    user_id: { type: 'string' },
    username: { type: 'string' },
    requested_via: { type: 'string', description: 'The token user that posted it.' },
    involved_object_namespace: { type: 'string' },
    involved_object_uid: { type: 'string' },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    deleted_at: { type: 'string', format: 'date-time' },
  },
} as const;

export const listResponseSchema = {
  ...eventsResponseSchema,
  properties: { ...eventsResponseSchema.properties, total_pages: { type: 'integer', description: 'Archive only: pages of page_size.' } },
} as const;

type JsonObject = Record<string, unknown>;

interface DocHelpers {
  json: (schema: unknown, description: string) => unknown;
  errors: Record<number, unknown>;
}

/** The OpenAPI paths of the application-level events API. */
export function appEventPaths({ json, errors }: DocHelpers): JsonObject {
  const security = [{ bearerAuth: [] }];
  const tags = ['application events'];
  const unavailable = json({ type: 'object', properties: { error: { type: 'string' } } }, 'The archive is unavailable now.');
  const idempotency = {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description: 'A retried request with the same key (within 24 h) writes nothing and answers like the first.',
    schema: { type: 'string', maxLength: 255 },
  };
  const body = (schema: unknown) => ({ required: true, content: { 'application/json': { schema } } });
  const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 253 } };
  return {
    '/api/v1/events/bulk': {
      post: {
        operationId: 'createEvents',
        summary: 'Record 1–100 application-level events at once (system_admin)',
        description: 'All or nothing: one invalid event (400 naming events.N.field) stores none.',
        tags,
        security,
        parameters: [idempotency],
        requestBody: body(bulkBodySchema),
        responses: {
          201: json({ type: 'object', properties: { message: { type: 'string' }, count: { type: 'integer' }, ids: { type: 'array', items: { type: 'string' } } } }, 'Stored.'),
          ...errors,
          413: json({ type: 'object' }, 'Body over 2 MiB.'),
          422: json({ type: 'object' }, 'The Idempotency-Key was used for another request.'),
          503: unavailable,
        },
      },
    },
    '/api/v1/events/categories': {
      get: {
        operationId: 'eventCategories',
        summary: 'The event categories with their colours and icons',
        tags,
        security,
        responses: { 200: json({ type: 'object', properties: { categories: { type: 'array' } } }, 'The categories.'), ...errors },
      },
    },
    '/api/v1/events/retention-policies': {
      get: {
        operationId: 'retentionPolicies',
        summary: 'Retention policies per category and type (system_admin)',
        tags,
        security,
        responses: { 200: json({ type: 'object', properties: { policies: { type: 'array', items: policySchema } } }, 'The policies.'), ...errors, 503: unavailable },
      },
      put: {
        operationId: 'setRetentionPolicies',
        summary: 'Change retention policies (system_admin; recorded as a security event)',
        description: 'Audit and security keep at least 90 days and are never evicted by count. All changes or none.',
        tags,
        security,
        requestBody: body(policiesBodySchema),
        responses: { 200: json({ type: 'object', properties: { policies: { type: 'array', items: policySchema } } }, 'The policies after the change.'), ...errors, 503: unavailable },
      },
    },
    '/api/v1/events/cleanup': {
      post: {
        operationId: 'cleanupEvents',
        summary: 'Run retention now (system_admin)',
        tags,
        security,
        responses: { 200: json({ type: 'object', properties: { message: { type: 'string' }, deleted_count: { type: 'integer' }, by_policy: { type: 'array' } } }, 'What was deleted.'), ...errors, 503: unavailable },
      },
    },
    '/api/v1/events/{id}': {
      get: {
        operationId: 'getEvent',
        summary: 'One event by id, in full',
        description: "Scoped like the list: an event outside the caller's scope is a 404 (ids cannot be probed).",
        tags,
        security,
        parameters: [idParam, { name: 'include_deleted', in: 'query', required: false, schema: { type: 'string', enum: ['true', 'false'] } }],
        responses: { 200: json(eventDetailSchema, 'The event.'), ...errors, 404: json({ type: 'object' }, 'No such event in scope.'), 503: unavailable },
      },
      delete: {
        operationId: 'deleteEvent',
        summary: 'Soft-delete an event (system_admin; recorded as a security event)',
        description: 'Security events cannot be deleted (403). Re-posting a deleted event never restores it.',
        tags,
        security,
        parameters: [idParam],
        responses: { 200: json({ type: 'object' }, 'Deleted (or deleted already).'), ...errors, 404: json({ type: 'object' }, 'No such event.'), 503: unavailable },
      },
    },
  };
}
