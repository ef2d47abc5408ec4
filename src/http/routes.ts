// The authenticated routes: GET /api/v1/events (and with a trailing slash), /api/v1/events/recent
// and /api/v1/openapi.json. Every answer comes from the EventStore, filtered by the caller's scope.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  LIMITS,
  clampLimit,
  namespaceInScope,
  toApiEvent,
  type EventFilters,
  type EventRecord,
  type EventTypeFilter,
  type Scope,
} from '../events/query.js';
import type { EventStore } from '../events/store.js';
import type { HistoryArchive } from '../history/archive.js';
import { AuthError, bearerToken, type Claims, type TokenVerifier } from './auth.js';
import { listFromHistory, registerHistoryRoutes } from './history-routes.js';
import { registerAppEventRoutes, type AppEventRouteOptions } from './app-event-routes.js';
import { listQuerySchema, listResponseSchema } from './app-event-schemas.js';
import { ARCHIVE_ONLY_PARAMS } from './vocabulary-params.js';
import { openApiDocument } from './openapi.js';
import { registerStreamRoute } from './stream-routes.js';
import type { StreamHub, StreamHubOptions } from './stream-hub.js';
import {
  apiErrorResponses,
  recentQuerySchema,
  recentResponseSchema,
} from './schemas.js';
import { ForbiddenError, scopeForClaims } from './scope.js';
import type { SecurityMonitor } from './security.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's scope, set by the authentication hook of /api/v1 routes. */
    scope: Scope | null;
    /** The caller's verified claims, set with the scope. */
    claims: Claims | null;
  }
}

export interface EventsQuery {
  limit?: number;
  page?: number;
  type?: EventTypeFilter;
  component?: string;
  namespace?: string;
  reason?: string;
  kind?: string;
  name?: string;
  organization?: string;
  vdc?: string;
  since?: string;
  /** Archive only: */
  until?: string;
  actor?: string;
  cursor?: string;
}

const FILTER_PARAMS = ['type', 'component', 'namespace', 'reason', 'kind', 'name', 'organization', 'vdc', 'since', 'until', 'actor', 'cursor'] as const;

/**
 * Before schema validation: integers must be plain decimal digits (so `1.5`, `1e2`, `0x10`, ` 5`
 * stay strings and fail as "must be integer"), `type` is matched case-insensitively, and an empty
 * filter means no filter.
 */
export function normalizeQuery(query: Record<string, unknown>): void {
  for (const key of ['limit', 'page', 'page_size']) {
    const value = query[key];
    if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) continue;
    const n = Number(value);
    // A limit beyond any real size is clamped like any other large limit; a page that large is
    // left to the schema's maximum (400).
    query[key] = Number.isSafeInteger(n) ? n : key !== 'page' ? Number.MAX_SAFE_INTEGER : n;
  }
  for (const key of FILTER_PARAMS) if (query[key] === '') delete query[key];
  const typeName = (t: unknown) => {
    const lower = typeof t === 'string' ? t.toLowerCase() : '';
    return lower === 'normal' ? 'Normal' : lower === 'warning' ? 'Warning' : lower === 'error' ? 'Error' : t;
  };
  if (typeof query.type === 'string') query.type = typeName(query.type);
  else if (Array.isArray(query.type)) query.type = query.type.map(typeName);
}

async function normalizeHook(request: FastifyRequest): Promise<void> {
  if (request.query && typeof request.query === 'object') normalizeQuery(request.query as Record<string, unknown>);
}

/**
 * The JSON text of event items, by record. Records are immutable (the store replaces them on
 * updates), so an entry never goes stale; the map is emptied when it reaches its bound.
 */
export class ItemJsonCache {
  private readonly items = new Map<EventRecord, string>();
  constructor(private readonly max = 5_000) {}

  json(record: EventRecord): string {
    let text = this.items.get(record);
    if (text === undefined) {
      text = JSON.stringify(toApiEvent(record));
      if (this.items.size >= this.max) this.items.clear();
      this.items.set(record, text);
    }
    return text;
  }

  /** `[item,item,...]` */
  array(records: readonly EventRecord[]): string {
    let out = '[';
    for (let i = 0; i < records.length; i++) out += (i ? ',' : '') + this.json(records[i] as EventRecord);
    return `${out}]`;
  }
}

export class BadRequestError extends Error {
  readonly statusCode = 400;
}

/** The in-memory store's filters from a validated query. */
export function eventFiltersOf(q: EventsQuery): EventFilters {
  const filters: EventFilters = {};
  if (q.type !== undefined) filters.type = q.type;
  if (q.component !== undefined) filters.component = q.component;
  if (q.namespace !== undefined) filters.namespace = q.namespace;
  if (q.reason !== undefined) filters.reason = q.reason;
  if (q.kind !== undefined) filters.kind = q.kind;
  if (q.name !== undefined) filters.name = q.name;
  if (q.organization !== undefined) filters.organization = q.organization;
  if (q.vdc !== undefined) filters.vdc = q.vdc;
  if (q.since !== undefined) {
    const since = Date.parse(q.since.toUpperCase());
    if (!Number.isFinite(since)) throw new BadRequestError('invalid query parameter "since": must be an RFC 3339 timestamp');
    filters.since = since;
  }
  return filters;
}

/** The message of an {"error"} answer (bounded: error answers are short). */
export function errorOf(payload: unknown): string {
  if (typeof payload !== 'string' || payload.length > 4_096) return 'forbidden';
  try {
    const error = (JSON.parse(payload) as { error?: unknown }).error;
    return typeof error === 'string' ? error : 'forbidden';
  } catch {
    return 'forbidden';
  }
}

export function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="ovim"');
  return reply.code(status).send({ error: message });
}

export interface EventRoutesOptions {
  store: EventStore;
  verify: TokenVerifier;
  /** Counts rejections (→ 429 past the limit) and records security events. */
  security?: SecurityMonitor;
  /** When given, the list answers from the archive, and export and stats are served. */
  history?: HistoryArchive;
  /** The live stream's limits (tests shrink them). */
  stream?: StreamHubOptions;
  /** Application-level events (with the archive): mirroring and the security events' namespace. */
  appEvents?: AppEventRouteOptions;
}

export function registerEventRoutes(app: FastifyInstance, { store, verify, security, history, stream, appEvents }: EventRoutesOptions): StreamHub {
  app.decorateRequest('scope', null);
  app.decorateRequest('claims', null);
  const items = new ItemJsonCache();

  // Every 403 to a valid token, whichever route answers it (list, history, stream, application
  // events), is recorded as AccessDenied on the caller's Organization, with the answer's message.
  app.addHook('onSend', async (request, reply, payload) => {
    const claims = request.claims;
    if (reply.statusCode === 403 && claims) security?.accessDenied(request.ip, { username: claims.username, role: claims.role, organization: claims.orgId }, errorOf(payload));
    return payload;
  });

  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    let claims: Claims | null = null;
    try {
      claims = await verify(bearerToken(request.headers.authorization));
      request.claims = claims;
      request.scope = scopeForClaims(claims);
    } catch (err) {
      if (err instanceof AuthError) {
        // A request without any credentials is no rejected token (the panel before sign-in).
        const retryAfter = request.headers.authorization ? (security?.authenticationFailed(request.ip, err.message) ?? 0) : 0;
        if (retryAfter > 0) {
          reply.header('retry-after', String(retryAfter));
          return sendError(reply, 429, `too many rejected tokens from this address; retry in ${retryAfter} s`);
        }
        return sendError(reply, 401, err.message);
      }
      if (err instanceof ForbiddenError) return sendError(reply, 403, err.message);
      throw err;
    }
  };

  const scopeOf = (request: FastifyRequest): Scope => {
    // The hook always sets it; a missing scope would be a wiring bug, never an open door.
    if (!request.scope) throw new ForbiddenError('no scope');
    return request.scope;
  };

  const listEvents = async (request: FastifyRequest<{ Querystring: EventsQuery }>, reply: FastifyReply) => {
    const scope = scopeOf(request);
    const q = request.query;
    if (history) return listFromHistory(history, scope, q, reply);
    for (const param of ['until', 'actor', 'cursor', ...ARCHIVE_ONLY_PARAMS] as const) {
      if ((q as Record<string, unknown>)[param] !== undefined) throw new BadRequestError(`query parameter "${param}" needs the event archive, which is off`);
    }
    for (const [param, value] of Object.entries(q)) {
      if (Array.isArray(value) || value === 'Error') throw new BadRequestError(`query parameter "${param}" with several values (or type Error) needs the event archive, which is off`);
    }
    const pageSize = (q as { page_size?: number }).page_size;
    if (pageSize !== undefined) q.limit = pageSize;
    if (q.namespace !== undefined && !namespaceInScope(q.namespace, scope, store.namespaceOwners)) {
      return sendError(reply, 403, `namespace ${JSON.stringify(q.namespace)} is outside your scope`);
    }
    const filters = eventFiltersOf(q);
    const limit = clampLimit(q.limit, LIMITS.events);
    const page = q.page ?? 1;
    const result = store.query(filters, scope, { page, limit });
    // Written by hand from cached item JSON; the shape is eventsResponseSchema's (tested).
    return reply
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(`{"events":${items.array(result.items)},"total_count":${result.total},"page":${page},"page_size":${limit}}`);
  };

  const eventsRoute = {
    schema: {
      querystring: listQuerySchema,
      response: { 200: listResponseSchema, ...apiErrorResponses },
    },
    onRequest: authenticate,
    preValidation: normalizeHook,
  };
  app.get<{ Querystring: EventsQuery }>('/api/v1/events', eventsRoute, listEvents);
  app.get<{ Querystring: EventsQuery }>('/api/v1/events/', eventsRoute, listEvents);

  app.get<{ Querystring: { limit?: number } }>(
    '/api/v1/events/recent',
    {
      schema: { querystring: recentQuerySchema, response: { 200: recentResponseSchema, ...apiErrorResponses } },
      onRequest: authenticate,
      preValidation: normalizeHook,
    },
    async (request, reply) => {
      const events = store.recent(scopeOf(request), clampLimit(request.query.limit, LIMITS.recent));
      return reply
        .header('cache-control', 'no-store')
        .type('application/json; charset=utf-8')
        .send(`{"events":${items.array(events)},"count":${events.length}}`);
    },
  );

  if (history) registerHistoryRoutes(app, history, { authenticate, normalize: normalizeHook, scopeOf });
  if (history) registerAppEventRoutes(app, history, { authenticate, normalize: normalizeHook, scopeOf }, appEvents);
  const hub = registerStreamRoute(app, store, { authenticate, normalize: normalizeHook, scopeOf }, stream);

  const document = JSON.stringify(openApiDocument());
  app.get('/api/v1/openapi.json', { onRequest: authenticate }, async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(document),
  );
  return hub;
}
