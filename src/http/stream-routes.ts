// GET /api/v1/events/stream (DESIGN.md section 5): the live tail as Server-Sent Events. Scoped
// and filtered exactly like the list (the same scope matcher and filter predicate), newest
// events first on connect, `Last-Event-ID` resumes from the hub's journal, a heartbeat comment
// every 15 s. The token travels in the Authorization header only: one in the URL is refused.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hijackCounted } from './hijacked.js';
import {
  LIMITS,
  clampLimit,
  filterPredicate,
  namespaceInScope,
  scopeMatcher,
  toApiEvent,
  type EventRecord,
} from '../events/query.js';
import type { EventStore } from '../events/store.js';
import { bearerToken } from './auth.js';
import type { RouteHelpers } from './history-routes.js';
import { eventFiltersOf, sendError, type EventsQuery } from './routes.js';
import { eventsQuerySchema } from './schemas.js';
import { vocabularyQueryProperties } from './app-event-schemas.js';
import { streamVocabulary } from './stream-vocabulary.js';
import type { VocabularyError } from './vocabulary-params.js';
import { StreamHub, sseMessage, tokenKey, type StreamHubOptions, type StreamSink } from './stream-hub.js';

type StreamQuery = Omit<EventsQuery, 'page' | 'cursor' | 'until'>;

const { page: _page, cursor: _cursor, until: _until, ...streamProperties } = eventsQuerySchema.properties;

export const streamQuerySchema = {
  type: 'object',
  properties: {
    ...streamProperties,
    // Repeated filters (OR within a field) and category: the vocabulary the stream takes.
    type: vocabularyQueryProperties.type,
    reason: vocabularyQueryProperties.reason,
    component: vocabularyQueryProperties.component,
    namespace: vocabularyQueryProperties.namespace,
    category: vocabularyQueryProperties.category,
    limit: {
      type: 'integer',
      minimum: 1,
      default: LIMITS.events.default,
      description: `Events sent on connect (newest first). Default ${LIMITS.events.default}, at most ${LIMITS.events.max}.`,
    },
  },
} as const;

/** Query parameters that name a credential, and values shaped like a JWT. */
const TOKEN_PARAMS = new Set(['token', 'access_token', 'accesstoken', 'id_token', 'jwt', 'bearer', 'auth', 'authorization', 'api_key', 'apikey']);
const JWT_SHAPE = /^(Bearer\s+)?eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/i;

/** Whether the query string carries a token (refused: URLs end up in logs and histories). */
export function queryCarriesToken(query: unknown): boolean {
  if (!query || typeof query !== 'object') return false;
  for (const [key, value] of Object.entries(query as Record<string, unknown>)) {
    if (TOKEN_PARAMS.has(key.toLowerCase())) return true;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) if (typeof v === 'string' && v.length < 16_384 && JWT_SHAPE.test(v)) return true;
  }
  return false;
}

/** The `exp` of a token already verified (ms since the epoch; far future when it has none). */
export function tokenExpiry(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' && Number.isFinite(payload.exp) ? payload.exp * 1000 : Number.MAX_SAFE_INTEGER;
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}

/** An HTTP response as a stream sink: bytes queued = the response's and its socket's buffers. */
function responseSink(reply: FastifyReply): StreamSink {
  const res = reply.raw;
  return {
    write: (text) => {
      res.write(text);
    },
    buffered: () => res.writableLength,
    end: () => {
      res.end();
      // A client that does not read never lets the end drain: cut it off.
      setTimeout(() => res.destroy(), 1_000).unref();
    },
  };
}

export function registerStreamRoute(
  app: FastifyInstance,
  store: EventStore,
  { authenticate, normalize, scopeOf }: RouteHelpers,
  options: StreamHubOptions = {},
): StreamHub {
  const hub = new StreamHub(options);
  const unsubscribe = store.onChange((record) => hub.publish(record));
  app.addHook('preClose', async () => {
    unsubscribe();
    hub.close();
  });

  const refuseTokenInUrl = async (request: FastifyRequest, reply: FastifyReply) => {
    if (queryCarriesToken(request.query)) {
      return sendError(reply, 400, 'a token is accepted only in the Authorization header, never in the URL');
    }
  };

  app.get<{ Querystring: StreamQuery }>(
    '/api/v1/events/stream',
    { schema: { querystring: streamQuerySchema }, onRequest: [refuseTokenInUrl, authenticate], preValidation: normalize },
    async (request, reply) => {
      const scope = scopeOf(request);
      const q = request.query;
      for (const param of ['page', 'cursor', 'until'] as const) {
        if (param in q) return sendError(reply, 400, `query parameter "${param}" does not apply to the live stream`);
      }
      let vocabulary: ((r: EventRecord) => boolean) | undefined;
      try {
        vocabulary = streamVocabulary(q as Record<string, unknown>, scope, store.namespaceOwners);
      } catch (err) {
        return sendError(reply, (err as VocabularyError).statusCode, (err as Error).message);
      }
      if (q.namespace !== undefined && !namespaceInScope(q.namespace, scope, store.namespaceOwners)) {
        return sendError(reply, 403, `namespace ${JSON.stringify(q.namespace)} is outside your scope`);
      }
      const filters = eventFiltersOf(q);
      const visible = scopeMatcher(scope, store.namespaceOwners);
      const filtered = filterPredicate(filters);
      const actor = q.actor;
      const matches = (r: EventRecord) =>
        visible(r) && (!filtered || filtered(r)) && (actor === undefined || r.actor === actor) && (!vocabulary || vocabulary(r));

      const token = bearerToken(request.headers.authorization);
      const admission = hub.admit(tokenKey(token));
      if (!admission.ok) return sendError(reply.header('retry-after', '5'), 429, admission.reason);

      hijackCounted(reply);
      const res = reply.raw;
      const socket = request.raw.socket;
      // A stream is quiet between heartbeats: exempt it from the server's idle socket timeout.
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      socket.setNoDelay(true);
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      const handle = admission.attach({ matches, sink: responseSink(reply) });
      // A stream never outlives its token: it ends when the token expires.
      const expiresIn = tokenExpiry(token) - Date.now();
      const expiry = setTimeout(() => handle.end(sseMessage('{"reason":"token expired"}', undefined, 'end')), Math.max(0, Math.min(expiresIn, 2 ** 31 - 1)));
      expiry.unref();
      res.on('close', () => {
        clearTimeout(expiry);
        handle.close();
      });

      handle.send('retry: 3000\n\n');
      const lastEventId = request.headers['last-event-id'];
      const resumeFrom = typeof lastEventId === 'string' && lastEventId.length <= 64 ? lastEventId : undefined;
      const replay = resumeFrom !== undefined ? hub.since(resumeFrom, matches) : undefined;
      if (replay) {
        for (const { id, record } of replay) if (!handle.send(sseMessage(JSON.stringify(toApiEvent(record)), id))) return;
        handle.send(sseMessage(`{"position":${JSON.stringify(hub.head)}}`, hub.head, 'ready'));
        return;
      }
      if (resumeFrom !== undefined) {
        handle.send(sseMessage('{"reason":"the resume point is no longer known; sending the newest events"}', undefined, 'reset'));
      }
      // Newest first, all carrying the current position: a resume from there loses nothing.
      const limit = clampLimit(q.limit, LIMITS.events);
      const head = hub.head;
      for (const record of snapshot(store, filters, scope, actor !== undefined || vocabulary !== undefined, matches, limit)) {
        if (!handle.send(sseMessage(JSON.stringify(toApiEvent(record)), head))) return;
      }
      handle.send(sseMessage(`{"position":${JSON.stringify(head)}}`, head, 'ready'));
    },
  );
  return hub;
}

/** The newest `limit` matching events: the store's indexed query, or a scan for what it does not index (actor, repeated filters). */
function snapshot(
  store: EventStore,
  filters: ReturnType<typeof eventFiltersOf>,
  scope: Parameters<typeof scopeMatcher>[0],
  scan: boolean,
  matches: (r: EventRecord) => boolean,
  limit: number,
): EventRecord[] {
  if (!scan) return store.query(filters, scope, { page: 1, limit }).items;
  const out: EventRecord[] = [];
  for (const r of store.records()) {
    if (matches(r)) out.push(r);
    if (out.length >= limit) break;
  }
  return out;
}
