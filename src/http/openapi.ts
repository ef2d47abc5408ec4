// The OpenAPI 3 document of the events API, built from the schemas the server validates with.
import {
  errorSchema,
  eventSchema,
  healthResponseSchema,
  recentQuerySchema,
  recentResponseSchema,
  statusResponseSchema,
} from './schemas.js';
import { historyPaths } from './history-schemas.js';
import { appEventBodySchema, appEventPaths, eventDetailSchema, listQuerySchema, listResponseSchema } from './app-event-schemas.js';
import { streamQuerySchema } from './stream-routes.js';

type JsonObject = Record<string, unknown>;

/** A JSON Schema object with `$ref`s to the components where the document has one. */
function refs(schema: unknown): unknown {
  if (schema === eventSchema) return { $ref: '#/components/schemas/Event' };
  if (schema === errorSchema) return { $ref: '#/components/schemas/Error' };
  if (Array.isArray(schema)) return schema.map(refs);
  if (schema && typeof schema === 'object') {
    return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, refs(v)]));
  }
  return schema;
}

function queryParameters(schema: { properties: Record<string, JsonObject> }): JsonObject[] {
  return Object.entries(schema.properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: 'query', required: false, description, schema: rest };
  });
}

const json = (schema: unknown, description: string) => ({
  description,
  content: { 'application/json': { schema: refs(schema) } },
});

const errors = {
  400: json(errorSchema, 'A malformed parameter (e.g. a non-integer limit, a page below 1, an unknown type).'),
  401: json(errorSchema, 'Missing, malformed, expired or wrongly signed token.'),
  403: json(errorSchema, "A namespace outside the caller's scope, or a role without access to events."),
  429: json(errorSchema, "More than 20 rejected tokens a minute from the client's address; Retry-After says when to retry."),
};

/** The whole document (served at GET /api/v1/openapi.json). */
export function openApiDocument(version = '0.1.0'): JsonObject {
  const eventsOperation = (operationId: string) => ({
    operationId,
    summary: 'List events',
    description:
      'Events the caller may see (system_admin: all; org_admin: their organization; org_user/org_member: ' +
      'events of their organization caused by or owned by them), filtered, sorted by last_timestamp ' +
      'descending (ties by name), in stable 1-based pages.',
    tags: ['events'],
    security: [{ bearerAuth: [] }],
    parameters: queryParameters(listQuerySchema as unknown as { properties: Record<string, JsonObject> }),
    responses: { 200: json(listResponseSchema, 'One page of events and the total number of matches.'), ...errors },
  });
  return {
    openapi: '3.0.3',
    info: {
      title: 'OVIM operator events API',
      version,
      description:
        'The audit trail of the OVIM operator: Kubernetes Events about Organizations, virtual data centers and ' +
        'VMs, served from an in-memory store. Authenticate with `Authorization: Bearer <JWT>` (tokens of the OVIM ' +
        'backend: HS256, issuer ovim-backend, claims user_id, username, role, org_id).',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'events', description: 'The audit trail' },
      { name: 'operations', description: 'Health and metrics (no token needed)' },
    ],
    paths: {
      '/api/v1/events': {
        get: eventsOperation('listEvents'),
        post: {
          operationId: 'createEvent',
          summary: 'Record an application-level event (system_admin; archive)',
          description:
            'Stored in the archive; when it names an existing Organization, VirtualDataCenter or VirtualMachine it is also ' +
            'recorded as a Kubernetes Event on it (annotation ovim.io/source-event-id). A repeated name + event_time folds ' +
            'into one event (count bumped); with an Idempotency-Key a retry writes nothing and answers like the first.',
          tags: ['application events'],
          security: [{ bearerAuth: [] }],
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          requestBody: { required: true, content: { 'application/json': { schema: appEventBodySchema } } },
          responses: { 201: json(eventDetailSchema, 'The stored event.'), ...errors, 413: json(errorSchema, 'Body over 64 KiB.'), 422: json(errorSchema, 'The Idempotency-Key was used for another request.') },
        },
      },
      '/api/v1/events/': { get: { ...eventsOperation('listEventsTrailingSlash'), summary: 'List events (same as without the slash)' } },
      '/api/v1/events/recent': {
        get: {
          operationId: 'recentEvents',
          summary: 'The newest events',
          description: 'The newest events the caller may see, newest first.',
          tags: ['events'],
          security: [{ bearerAuth: [] }],
          parameters: queryParameters(recentQuerySchema),
          responses: { 200: json(recentResponseSchema, 'The newest events.'), ...errors },
        },
      },
      ...historyPaths({ json, errors, queryParameters }),
      ...appEventPaths({ json, errors }),
      '/api/v1/routes': {
        get: {
          operationId: 'listRoutes',
          summary: 'EventRoutes in scope, with their status',
          description:
            "System admins: every route; organization admins: the routes in org-<org>. Never a Secret or a URL path (src/routes/api.ts).",
          tags: ['routes'],
          security: [{ bearerAuth: [] }],
          responses: { 200: { description: '{"routes": [...], "count": N}' }, ...errors },
        },
      },
      '/api/v1/events/stream': {
        get: {
          operationId: 'streamEvents',
          summary: 'The live tail (Server-Sent Events)',
          description:
            'Scoped and filtered like the list. On connect: the newest `limit` events (newest first), then an ' +
            '`event: ready` message; then every new or updated event as it is recorded (`data:` one event item, ' +
            '`id:` its position). Send `Last-Event-ID` to resume after a position (a `reset` event says when that ' +
            'position is no longer known). A heartbeat comment every 15 s. A client that leaves more than 1 MiB ' +
            'unread gets `event: dropped` and is disconnected; the stream ends with `event: end` when the token ' +
            'expires. At most 10 streams per token and 500 in total (429). The token goes in the Authorization ' +
            'header only: one in the query string is a 400.',
          tags: ['events'],
          security: [{ bearerAuth: [] }],
          parameters: queryParameters(streamQuerySchema),
          responses: {
            200: { description: 'The event stream.', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...errors,
            429: json(errorSchema, 'Too many streams open (per token or in total).'),
          },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          operationId: 'openApiDocument',
          summary: 'This document',
          tags: ['events'],
          security: [{ bearerAuth: [] }],
          responses: { 200: { description: 'The OpenAPI document.', content: { 'application/json': {} } }, 401: errors[401], 429: errors[429] },
        },
      },
      '/health': {
        get: {
          operationId: 'health',
          summary: 'Health with its checks',
          tags: ['operations'],
          responses: {
            200: json(healthResponseSchema, 'Kubernetes reachable and informers synced.'),
            503: json(healthResponseSchema, 'Degraded: Kubernetes unreachable or informers not synced.'),
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'liveness',
          summary: 'Liveness',
          tags: ['operations'],
          responses: { 200: json(statusResponseSchema, 'The process serves requests.') },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readiness',
          summary: 'Readiness (informers synced)',
          tags: ['operations'],
          responses: {
            200: json(statusResponseSchema, 'Ready.'),
            503: json(errorSchema, 'Informers have not synced yet.'),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          tags: ['operations'],
          responses: { 200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
    },
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Event: refs({ ...eventSchema }), Error: refs({ ...errorSchema }) },
    },
  };
}
