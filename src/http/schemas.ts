// JSON Schemas of the API (DESIGN.md section 5): fastify validates query strings and serializes
// answers with them, and the OpenAPI document is built from the same objects, so the two cannot
// drift apart.
import { LIMITS } from '../events/query.js';

const text = (description: string, maxLength = 253) => ({ type: 'string', maxLength, description }) as const;

/** Parameters the list takes when the archive is on (DESIGN.md section 7); 400 without it. */
export const historyQueryProperties = {
  until: {
    type: 'string',
    format: 'date-time',
    description: 'RFC 3339 timestamp; only events whose last timestamp is at or before it (archive only).',
  },
  actor: text('Who caused the event (the ovim.io/actor annotation, exact; archive only).'),
  cursor: text('Opaque position from next_cursor of the previous answer: pages deep results without an offset (archive only).', 1024),
} as const;

/** Parameters of GET /api/v1/events. */
export const eventsQuerySchema = {
  type: 'object',
  properties: {
    limit: {
      type: 'integer',
      minimum: 1,
      default: LIMITS.events.default,
      description: `Page size. Default ${LIMITS.events.default}; values above ${LIMITS.events.max} are clamped to ${LIMITS.events.max}.`,
    },
    page: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, default: 1, description: 'Page number, 1-based.' },
    type: { type: 'string', enum: ['Normal', 'Warning'], description: 'Event type (case-insensitive).' },
    component: text('Case-insensitive substring of the source component.'),
    namespace: text('Namespace (exact). Outside the caller\'s scope: 403.'),
    reason: text('Reason (exact), e.g. VDCCreated.'),
    kind: text('Kind of the involved object (exact), e.g. VirtualDataCenter.'),
    name: text('Name of the involved object (exact).'),
    organization: text('Organization (exact).'),
    vdc: text('Virtual data center (exact).'),
    since: {
      type: 'string',
      format: 'date-time',
      description: 'RFC 3339 timestamp; only events whose last timestamp is at or after it.',
    },
    ...historyQueryProperties,
  },
} as const;

/** Parameters of GET /api/v1/events/recent. */
export const recentQuerySchema = {
  type: 'object',
  properties: {
    limit: {
      type: 'integer',
      minimum: 1,
      default: LIMITS.recent.default,
      description: `Number of events. Default ${LIMITS.recent.default}; values above ${LIMITS.recent.max} are clamped to ${LIMITS.recent.max}.`,
    },
  },
} as const;

export const eventSchema = {
  type: 'object',
  required: [
    'id',
    'name',
    'namespace',
    'type',
    'reason',
    'message',
    'component',
    'involved_object_kind',
    'involved_object_name',
    'first_timestamp',
    'last_timestamp',
    'count',
  ],
  properties: {
    id: { type: 'string', description: 'The Event\'s uid.' },
    name: { type: 'string' },
    namespace: { type: 'string' },
    type: { type: 'string', description: 'Normal or Warning.' },
    reason: { type: 'string' },
    message: { type: 'string' },
    component: { type: 'string', description: 'source.component (e.g. ovim-controller).' },
    involved_object_kind: { type: 'string' },
    involved_object_name: { type: 'string' },
    first_timestamp: { type: 'string', format: 'date-time', description: 'RFC 3339, UTC.' },
    last_timestamp: { type: 'string', format: 'date-time', description: 'RFC 3339, UTC.' },
    count: { type: 'integer', minimum: 1 },
    organization: { type: 'string', description: 'When known.' },
    vdc: { type: 'string', description: 'When known.' },
    actor: { type: 'string', description: 'Who caused it, when known.' },
    actor_verified: {
      type: 'boolean',
      description: 'With actor: true when the admission webhook stamped it from the authenticated user, false when it was only stated.',
    },
    category: { type: 'string', description: 'OVIM\'s category (organization, vdc, vm, security, ...): see /api/v1/events/categories.' },
  },
} as const;

export const eventsResponseSchema = {
  type: 'object',
  required: ['events', 'total_count', 'page', 'page_size'],
  properties: {
    events: { type: 'array', items: eventSchema },
    total_count: { type: 'integer', description: 'All matches, not only this page.' },
    page: { type: 'integer' },
    page_size: { type: 'integer', description: 'The limit in effect (after clamping).' },
    total_count_exact: { type: 'boolean', description: 'Archive only: false when total_count is an estimate (above 100,000 matches).' },
    next_cursor: { type: 'string', nullable: true, description: 'Archive only: pass as cursor for the next page; null on the last page.' },
  },
} as const;

export const recentResponseSchema = {
  type: 'object',
  required: ['events', 'count'],
  properties: {
    events: { type: 'array', items: eventSchema },
    count: { type: 'integer', description: 'Number of events returned.' },
  },
} as const;

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' } },
} as const;

const check = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string' },
    size: { type: 'integer' },
    max_size: { type: 'integer' },
    evictions: { type: 'integer' },
  },
} as const;

export const healthResponseSchema = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    checks: {
      type: 'object',
      required: ['kubernetes', 'informers', 'event_store', 'leader_election'],
      properties: {
        kubernetes: { ...check, description: 'reachable | unreachable' },
        informers: { ...check, description: 'synced | syncing | disconnected (synced once, a list or watch is failing now)' },
        event_store: { ...check, description: 'ok, with size, max_size and evictions' },
        leader_election: { ...check, description: 'leader | follower | disabled' },
        history: {
          type: 'object',
          required: ['status'],
          properties: { status: { type: 'string' }, reason: { type: 'string' }, buffered: { type: 'integer' } },
          description: 'ok | degraded (with the reason), and the events waiting for the database; only with the archive on',
        },
      },
    },
  },
} as const;

export const statusResponseSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' } },
} as const;

/** Error answers of the authenticated routes. */
export const apiErrorResponses = {
  400: { ...errorSchema, description: 'A malformed parameter.' },
  401: { ...errorSchema, description: 'No token, or an invalid one.' },
  403: { ...errorSchema, description: 'A namespace outside the caller\'s scope, or a role without access.' },
  429: { ...errorSchema, description: 'More than 20 rejected tokens a minute from the client\'s address (Retry-After).' },
} as const;
