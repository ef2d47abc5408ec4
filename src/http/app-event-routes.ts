// The application-level events API (DESIGN.md section 7): POST /api/v1/events and /bulk for the
// backend's system_admin tokens, GET|DELETE /api/v1/events/{id}, /categories,
// /retention-policies (GET|PUT) and /cleanup. Served only with the archive.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatTimestamp, toApiEvent } from '../events/query.js';
import { appEventRow, categoryList, checkAppEvent, type AppEventInput } from '../history/app-events.js';
import { AppEventStore, type FullRow } from '../history/app-store.js';
import type { HistoryArchive } from '../history/archive.js';
import { HistoryUnavailableError } from '../history/engine.js';
import { ARCHIVE_TYPES, type ArchiveType, type RetentionPolicy } from '../history/retention.js';
import type { Category } from '../history/categories.js';
import type { Claims } from './auth.js';
import { namesMirroredObject } from './app-event-mirror.js';
import { appEventBodySchema, bulkBodySchema, policiesBodySchema } from './app-event-schemas.js';
import { recordOfRow, type RouteHelpers } from './history-routes.js';

/** Mirrors a stored application-level event onto its Kubernetes object, if it names one (never blocks). */
export interface AppEventMirroring {
  mirror(row: FullRow): void;
}

export interface AppEventRouteOptions {
  /** Records posted events on existing OVIM objects as Kubernetes Events. */
  mirror?: AppEventMirroring;
  /** Where the API's security events live (the operator's namespace). */
  securityNamespace?: string;
  now?: () => number;
}

const SINGLE_BODY_LIMIT = 64 * 1024;
const BULK_BODY_LIMIT = 2 * 1024 * 1024;
const MAX_KEY_LENGTH = 255;

interface AjvError {
  instancePath?: string;
  keyword?: string;
  /** Set on the errors of a `propertyNames` check: the offending field. */
  propertyName?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string; allowedValues?: unknown[]; limit?: number };
}

/** "invalid field "events.3.reason": must match pattern ..." from ajv's first error. */
export function fieldMessage(errors: readonly AjvError[] | undefined): string {
  const first = errors?.[0] ?? {};
  const path = (first.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const join = (leaf: string) => (path ? `${path}.${leaf}` : leaf);
  if (first.keyword === 'required' && first.params?.missingProperty) return `invalid field "${join(first.params.missingProperty)}": is required`;
  if (first.keyword === 'additionalProperties' && first.params?.additionalProperty) {
    return `invalid field "${join(first.params.additionalProperty)}": unknown field`;
  }
  if (first.propertyName !== undefined) {
    return first.keyword === 'enum' ? `invalid field "${join(first.propertyName)}": unknown field` : `invalid field "${path}": a key is longer than 253 characters`;
  }
  let why = first.message ?? 'is invalid';
  if (first.keyword === 'enum' && first.params?.allowedValues) why = `must be one of ${first.params.allowedValues.join(', ')}`;
  if (first.keyword === 'pattern') why = path.endsWith('reason') ? 'must be CamelCase (letters and digits, starting with a capital)' : 'has characters that are not allowed';
  return path ? `invalid field "${path}": ${why}` : `invalid body: ${why}`;
}

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof HistoryUnavailableError) return reply.code(503).send({ error: `event history is unavailable now: ${err.message}` });
  const status = (err as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500) return reply.code(status).send({ error: (err as Error).message });
  return reply.code(503).send({ error: 'event history is unavailable now' });
}

const parseMap = (text: string | null | undefined): Record<string, string> | undefined => {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as Record<string, string>;
  } catch {
    return undefined;
  }
};

/** The full item of a row: the list's item plus what the backend's model has. */
export function detailItem(row: FullRow): Record<string, unknown> {
  const item: Record<string, unknown> = { ...toApiEvent(recordOfRow(row)), category: row.category, writer: row.writer };
  const add = (key: string, value: unknown) => {
    if (value !== null && value !== undefined && value !== '') item[key] = value;
  };
  add('action', row.action);
  add('org_id', row.org_id);
  add('vdc_id', row.vdc_id);
  add('vm_id', row.vm_id);
  add('user_id', row.user_id);
  add('username', row.username);
  add('requested_via', row.requested_via);
  add('involved_object_namespace', row.object_namespace);
  add('involved_object_uid', row.object_uid);
  add('metadata', parseMap(row.metadata));
  add('annotations', parseMap(row.annotations));
  add('labels', parseMap(row.labels));
  if (row.deleted_at !== null && row.deleted_at !== undefined) item.deleted_at = formatTimestamp(Number(row.deleted_at));
  return item;
}

function isSystemAdmin(claims: Claims | null): boolean {
  return claims?.role === 'system_admin';
}

/** The policies as the API shows them. */
function policyJson(p: RetentionPolicy) {
  return { category: p.category, type: p.type, retention_days: p.retentionDays, max_events: p.maxEvents };
}

interface PolicyBody {
  policies: { category: Category; type: ArchiveType | 'all'; retention_days: number; max_events?: number | null }[];
}

export function registerAppEventRoutes(app: FastifyInstance, archive: HistoryArchive, helpers: RouteHelpers, options: AppEventRouteOptions = {}): void {
  const { authenticate, scopeOf } = helpers;
  const now = options.now ?? Date.now;
  const store = new AppEventStore(archive, now);
  const securityNamespace = options.securityNamespace || 'default';

  /** 403 unless the token is a system admin's (the backend's own tokens). */
  const adminOnly = async (request: FastifyRequest, reply: FastifyReply) => {
    if (reply.sent) return;
    const claims = request.claims;
    if (!isSystemAdmin(claims)) return reply.code(403).send({ error: `role ${JSON.stringify(claims?.role ?? '')} may not do this: system_admin only` });
  };

  /** The request's Idempotency-Key (scoped to the token's user), or undefined. */
  const keyOf = (request: FastifyRequest): string | undefined => {
    const header = request.headers['idempotency-key'];
    if (header === undefined) return undefined;
    if (Array.isArray(header) || header.length === 0 || header.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(header)) {
      throw Object.assign(new Error(`invalid header "Idempotency-Key": 1 to ${MAX_KEY_LENGTH} printable characters`), { statusCode: 400 });
    }
    const claims = request.claims as Claims;
    return `${claims.userId || claims.username}\n${header}`;
  };

  const fingerprint = (request: FastifyRequest) =>
    createHash('sha256').update(`${request.method} ${request.routeOptions.url ?? ''}\n${JSON.stringify(request.body)}`).digest('hex');

  /** Stores posted events (one transaction) and answers; a remembered key replays the first answer. */
  const ingest = async (
    request: FastifyRequest,
    reply: FastifyReply,
    inputs: AppEventInput[],
    answer: (rows: readonly { uid: string }[]) => unknown,
    /** The answer shows the stored rows (their count after folding), not only their ids. */
    readBack: boolean,
  ) => {
    const key = keyOf(request);
    const print = key ? fingerprint(request) : '';
    const replay = async (): Promise<FastifyReply | undefined> => {
      if (!key) return undefined;
      const first = await store.remembered(key);
      if (!first) return undefined;
      if (first.fingerprint !== print) {
        return reply.code(422).send({ error: 'this Idempotency-Key was used for a different request' });
      }
      const rows = readBack ? await store.get(first.uids, { kind: 'all' }, true) : first.uids.map((uid) => ({ uid }));
      return reply.code(first.status).header('idempotent-replayed', 'true').send(answer(rows));
    };
    const replayed = await replay();
    if (replayed) return replayed;
    const at = now();
    const claims = request.claims as Claims;
    const prefix = inputs.length > 1 || request.routeOptions.url?.endsWith('/bulk') ? (i: number) => `events.${i}.` : () => '';
    const rows = inputs.map((input, i) => appEventRow(input, checkAppEvent(input, at, prefix(i)), { username: claims.username }, archive.owners, at));
    try {
      await store.insert(rows, key ? { key, fingerprint: print, status: 201 } : undefined);
    } catch (err) {
      // A concurrent request with the same key won: answer like it.
      if ((err as { statusCode?: number }).statusCode === 422 && key) {
        const again = await replay();
        if (again) return again;
        return reply.code(409).send({ error: 'a request with this Idempotency-Key is in progress; retry' });
      }
      throw err;
    }
    const mirror = options.mirror;
    // The stored rows, not the posted ones: a re-post of a soft-deleted occurrence stays deleted
    // and is not mirrored again. A bulk reads back only the rows that name an object to mirror.
    const wanted = readBack ? rows : mirror ? rows.filter(namesMirroredObject) : [];
    const stored = wanted.length > 0 ? await store.get([...new Set(wanted.map((r) => r.uid))], { kind: 'all' }, true) : [];
    if (mirror) for (const row of stored) if (row.deleted_at === null) mirror.mirror(row);
    return reply.code(201).send(answer(readBack ? stored : rows));
  };

  const validated = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (!request.validationError) return true;
    const errors = (request.validationError as { validation?: AjvError[] }).validation;
    void reply.code(400).send({ error: fieldMessage(errors) });
    return false;
  };

  app.post<{ Body: AppEventInput }>(
    '/api/v1/events',
    { schema: { body: appEventBodySchema }, attachValidation: true, bodyLimit: SINGLE_BODY_LIMIT, onRequest: [authenticate, adminOnly] },
    async (request, reply) => {
      if (!validated(request, reply)) return reply;
      try {
        return await ingest(request, reply, [request.body], (rows) => (rows[0] ? detailItem(rows[0] as FullRow) : {}), true);
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.post<{ Body: { events: AppEventInput[] } }>(
    '/api/v1/events/bulk',
    { schema: { body: bulkBodySchema }, attachValidation: true, bodyLimit: BULK_BODY_LIMIT, onRequest: [authenticate, adminOnly] },
    async (request, reply) => {
      if (!validated(request, reply)) return reply;
      const count = request.body.events.length;
      try {
        return await ingest(request, reply, request.body.events, (rows) => ({
          message: 'Events created successfully',
          count,
          ids: rows.map((r) => r.uid),
        }), false);
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.get('/api/v1/events/categories', { onRequest: authenticate }, async (_request, reply) =>
    reply.header('cache-control', 'no-store').send({ categories: categoryList() }),
  );

  app.get('/api/v1/events/retention-policies', { onRequest: [authenticate, adminOnly] }, async (_request, reply) => {
    try {
      return reply.header('cache-control', 'no-store').send({ policies: (await archive.policies()).map(policyJson) });
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.put<{ Body: PolicyBody }>(
    '/api/v1/events/retention-policies',
    { schema: { body: policiesBodySchema }, attachValidation: true, onRequest: [authenticate, adminOnly] },
    async (request, reply) => {
      if (!validated(request, reply)) return reply;
      try {
        const changes: RetentionPolicy[] = request.body.policies.flatMap((p) =>
          (p.type === 'all' ? ARCHIVE_TYPES : [p.type]).map((type) => ({
            category: p.category,
            type,
            retentionDays: p.retention_days,
            maxEvents: p.max_events ?? null,
          })),
        );
        const policies = await store.setPolicies(changes, (request.claims as Claims).username, securityNamespace);
        return reply.send({ policies: policies.map(policyJson) });
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.post('/api/v1/events/cleanup', { onRequest: [authenticate, adminOnly] }, async (_request, reply) => {
    try {
      const report = await store.cleanup();
      return reply.send({
        message: 'Old events cleaned up successfully',
        deleted_count: report.deleted,
        by_policy: report.byPolicy,
      });
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get<{ Params: { id: string }; Querystring: { include_deleted?: string } }>(
    '/api/v1/events/:id',
    { onRequest: authenticate },
    async (request, reply) => {
      const id = request.params.id;
      const includeDeleted = request.query.include_deleted === 'true';
      if (includeDeleted && !isSystemAdmin(request.claims)) return reply.code(403).send({ error: 'include_deleted is for system admins only' });
      if (id.length > 253) return reply.code(404).send({ error: 'event not found' });
      try {
        const [row] = await store.get([id], scopeOf(request), includeDeleted);
        // Another tenant's id is "not found" too: ids cannot be probed.
        if (!row) return reply.code(404).send({ error: 'event not found' });
        return reply.header('cache-control', 'no-store').send(detailItem(row));
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/events/:id',
    { onRequest: [authenticate, adminOnly] },
    async (request, reply) => {
      const id = request.params.id;
      if (id.length > 253) return reply.code(404).send({ error: 'event not found' });
      try {
        const result = await store.softDelete(id, (request.claims as Claims).username, securityNamespace);
        return reply.send({
          message: result.alreadyDeleted ? 'Event was deleted already' : 'Event deleted successfully',
          id,
          ...(result.securityEventId ? { security_event_id: result.securityEventId } : {}),
        });
      } catch (err) {
        return fail(reply, err);
      }
    },
  );
}
