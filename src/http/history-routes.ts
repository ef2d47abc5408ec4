// The events API answered from the archive (DESIGN.md sections 5 and 7): the list with `until`,
// `actor` and keyset cursors, /api/v1/events/export (streamed, bounded memory) and
// /api/v1/events/stats. Same filters and scopes as the in-memory list; the scope becomes one SQL
// predicate. A database that cannot answer gives 503, never 500.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import {
  LIMITS,
  clampLimit,
  formatTimestamp,
  namespaceInScope,
  toApiEvent,
  type EventRecord,
  type Scope,
} from '../events/query.js';
import type { HistoryArchive } from '../history/archive.js';
import { HistoryUnavailableError } from '../history/engine.js';
import type { CursorKey, HistoryFilters, HistorySelection, ItemRow, StatsGroup } from '../history/sql.js';
import type { EventsQuery } from './routes.js';
import { apiErrorResponses, eventSchema } from './schemas.js';
import { exportQuerySchema, statsQuerySchema, statsResponseSchema } from './history-schemas.js';
import { takeVocabulary, type VocabularyQuery } from './vocabulary-params.js';

export class BadHistoryRequest extends Error {
  readonly statusCode = 400;
}

/** The row as the in-memory record type, so items have one shape whatever answers. */
export function recordOfRow(r: ItemRow): EventRecord {
  return {
    uid: r.uid,
    name: r.name,
    namespace: r.namespace,
    type: r.type,
    reason: r.reason,
    message: r.message,
    component: r.component,
    kind: r.kind,
    objectName: r.object_name,
    firstTimestamp: Number(r.first_timestamp),
    lastTimestamp: Number(r.last_timestamp),
    count: Number(r.count),
    organization: r.organization ?? undefined,
    vdc: r.vdc ?? undefined,
    actor: r.actor ?? undefined,
    owner: r.owner ?? undefined,
    actorVerified: Number(r.actor_verified) === 1,
    category: r.category,
  };
}

export const itemJson = (r: ItemRow): string => JSON.stringify(toApiEvent(recordOfRow(r)));

/** Cursors: base64url of the JSON array [last_timestamp, name, namespace, uid]. */
export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify([key.lastTimestamp, key.name, key.namespace, key.uid])).toString('base64url');
}

export function decodeCursor(text: string): CursorKey {
  const bad = () => new BadHistoryRequest('invalid query parameter "cursor": pass next_cursor from a previous answer');
  // Bounded before decoding (the schema caps it at 1024 characters too).
  if (text.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(text)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== 4) throw bad();
  const [t, name, namespace, uid] = value as unknown[];
  if (!Number.isSafeInteger(t) || typeof name !== 'string' || typeof namespace !== 'string' || typeof uid !== 'string') throw bad();
  return { lastTimestamp: t as number, name, namespace, uid };
}

function timestamp(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value.toUpperCase());
  if (!Number.isFinite(ms)) throw new BadHistoryRequest(`invalid query parameter "${name}": must be an RFC 3339 timestamp`);
  return ms;
}

/** The list's parameters that select events (everything but paging). */
export type HistoryQueryParams = Omit<EventsQuery, 'limit' | 'page' | 'cursor'>;

/** The validated query string as history filters. */
export function historyFilters(q: HistoryQueryParams): HistoryFilters {
  const f: HistoryFilters = {};
  for (const key of ['type', 'component', 'namespace', 'reason', 'kind', 'name', 'organization', 'vdc', 'actor'] as const) {
    const value = q[key];
    if (value !== undefined && value !== '') (f as Record<string, string>)[key] = value;
  }
  f.since = timestamp('since', q.since);
  f.until = timestamp('until', q.until);
  if (f.since === undefined) delete f.since;
  if (f.until === undefined) delete f.until;
  return f;
}

function selectionFor(archive: HistoryArchive, scope: Scope, q: HistoryQueryParams): HistorySelection {
  if (q.namespace !== undefined && q.namespace !== '' && !namespaceInScope(q.namespace, scope, archive.owners)) {
    throw Object.assign(new Error(`namespace ${JSON.stringify(q.namespace)} is outside your scope`), { statusCode: 403 });
  }
  return { filters: historyFilters(q), scope };
}

/** Paging and ordering: the list's only (export streams newest first; stats count). */
const LIST_ONLY_PARAMS = ['sort_by', 'sort_order', 'page_size'] as const;

/**
 * The selection of export and stats: the list's filters and the backend's vocabulary (repeated
 * filters, context ids, search, include_deleted), under the caller's scope.
 */
function vocabularySelectionFor(archive: HistoryArchive, scope: Scope, q: HistoryQueryParams, route: 'export' | 'stats'): HistorySelection {
  for (const param of LIST_ONLY_PARAMS) {
    if ((q as Record<string, unknown>)[param] !== undefined) throw new BadHistoryRequest(`query parameter "${param}" does not apply to ${route}: it is the list's`);
  }
  const { vocabulary, includeDeleted } = takeVocabulary(q as VocabularyQuery, scope, archive.owners, archive.engine.dialect);
  return { ...selectionFor(archive, scope, q), vocabulary, includeDeleted };
}

/** Errors of the history routes as the API's {"error"} answers (503 when the archive cannot answer). */
function sendFailure(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof HistoryUnavailableError) {
    return reply.code(503).send({ error: `event history is unavailable now: ${err.message}` });
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500) return reply.code(status).send({ error: (err as Error).message });
  return reply.code(503).send({ error: 'event history is unavailable now' });
}

/** GET /api/v1/events from the archive. */
export async function listFromHistory(
  archive: HistoryArchive,
  scope: Scope,
  q: HistoryQueryParams & { limit?: number; page?: number; cursor?: string },
  reply: FastifyReply,
): Promise<FastifyReply> {
  try {
    // The backend's vocabulary first: it takes repeated values out of the classic filters.
    const { vocabulary, sort, includeDeleted } = takeVocabulary(q as VocabularyQuery & { limit?: number }, scope, archive.owners, archive.engine.dialect);
    const selection: HistorySelection = { ...selectionFor(archive, scope, q), vocabulary, sort, includeDeleted };
    const limit = clampLimit(q.limit, LIMITS.events);
    const page = q.page ?? 1;
    let after: CursorKey | undefined;
    if (q.cursor !== undefined && q.cursor !== '') {
      if (page !== 1) throw new BadHistoryRequest('use either "cursor" or "page", not both');
      if (sort) throw new BadHistoryRequest('"cursor" pages the default order only: drop sort_by/sort_order or use "page"');
      after = decodeCursor(q.cursor);
    }
    const result = await archive.list(selection, { limit, offset: after ? 0 : (page - 1) * limit, after });
    const items = `[${result.items.map(itemJson).join(',')}]`;
    const next = result.next && !sort ? JSON.stringify(encodeCursor(result.next)) : 'null';
    const pages = Math.ceil(result.total / limit);
    return reply
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(
        `{"events":${items},"total_count":${result.total},"total_count_exact":${result.totalExact},"page":${page},"page_size":${limit},"total_pages":${pages},"next_cursor":${next}}`,
      );
  } catch (err) {
    return sendFailure(reply, err);
  }
}

/** The item's fields, in the schema's order. */
const CSV_COLUMNS = Object.keys(eventSchema.properties);

/** One CSV cell: quoted when needed; a leading formula character is neutralised (tenants write messages). */
export function csvCell(value: unknown): string {
  let text = value === undefined || value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(r: ItemRow): string {
  const item = toApiEvent(recordOfRow(r)) as unknown as Record<string, unknown>;
  return `${CSV_COLUMNS.map((c) => csvCell(item[c])).join(',')}\r\n`;
}

const BUCKET_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
export const MAX_BUCKET_MS = 31 * 86_400_000;
export const MAX_BUCKETS = 1_000;

export function bucketMillis(text: string): number {
  const m = /^([1-9][0-9]{0,3})([mhd])$/.exec(text);
  const ms = m ? Number(m[1]) * (BUCKET_UNITS[m[2] as string] as number) : NaN;
  if (!Number.isFinite(ms) || ms > MAX_BUCKET_MS) {
    throw new BadHistoryRequest('invalid query parameter "bucket": a width like 5m, 1h or 1d, from 1m to 31d');
  }
  return ms;
}

export interface RouteHelpers {
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  normalize: (request: FastifyRequest) => Promise<void>;
  scopeOf: (request: FastifyRequest) => Scope;
}

/** /api/v1/events/export and /api/v1/events/stats. */
export function registerHistoryRoutes(app: FastifyInstance, archive: HistoryArchive, helpers: RouteHelpers): void {
  const { authenticate, normalize, scopeOf } = helpers;

  app.get<{ Querystring: HistoryQueryParams & { format?: 'ndjson' | 'csv' } }>(
    '/api/v1/events/export',
    { schema: { querystring: exportQuerySchema, response: { ...apiErrorResponses } }, onRequest: authenticate, preValidation: normalize },
    async (request, reply) => {
      const csv = request.query.format === 'csv';
      let pages: AsyncGenerator<ItemRow[]>;
      let first: IteratorResult<ItemRow[]>;
      try {
        pages = archive.exportRows(vocabularySelectionFor(archive, scopeOf(request), request.query, 'export'));
        // The first page before the headers: a database that cannot answer is still a 503.
        first = await pages.next();
      } catch (err) {
        return sendFailure(reply, err);
      }
      const format = (rows: ItemRow[]) => rows.map(csv ? csvLine : (r) => `${itemJson(r)}\n`).join('');
      async function* body(): AsyncGenerator<string> {
        if (csv) yield `${CSV_COLUMNS.join(',')}\r\n`;
        if (first.done) return;
        yield format(first.value);
        for await (const rows of pages) yield format(rows);
      }
      const stream = Readable.from(body(), { objectMode: false, highWaterMark: 1 });
      stream.on('error', () => undefined);
      return reply
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="events.${csv ? 'csv' : 'ndjson'}"`)
        .type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
        .send(stream);
    },
  );

  app.get<{ Querystring: HistoryQueryParams & { bucket?: string; group_by?: StatsGroup } }>(
    '/api/v1/events/stats',
    {
      schema: { querystring: statsQuerySchema, response: { 200: statsResponseSchema, ...apiErrorResponses } },
      onRequest: authenticate,
      preValidation: normalize,
    },
    async (request, reply) => {
      try {
        const q = request.query;
        const bucketText = q.bucket ?? '1h';
        const bucketMs = bucketMillis(bucketText);
        const group = q.group_by ?? 'reason';
        const selection = vocabularySelectionFor(archive, scopeOf(request), q, 'stats');
        const until = selection.filters.until ?? Date.now();
        const since = selection.filters.since ?? until - 100 * bucketMs;
        if (since > until) throw new BadHistoryRequest('"since" must not be after "until"');
        // Whole buckets: from the one holding `since` through the one holding `until`.
        const start = Math.floor(since / bucketMs) * bucketMs;
        const end = Math.floor(until / bucketMs) * bucketMs + bucketMs;
        if ((end - start) / bucketMs > MAX_BUCKETS) {
          throw new BadHistoryRequest(`the window holds more than ${MAX_BUCKETS} buckets: widen "bucket" or narrow since/until`);
        }
        selection.filters.since = start;
        selection.filters.until = end - 1;
        const rows = await archive.countStats(selection, bucketMs, group);
        return reply.header('cache-control', 'no-store').send(statsAnswer(rows, { bucketText, bucketMs, group, start, end }));
      } catch (err) {
        return sendFailure(reply, err);
      }
    },
  );
}

interface KeyCount {
  key: string | null;
  count: number;
}

const byCount = (a: KeyCount, b: KeyCount) => b.count - a.count || String(a.key).localeCompare(String(b.key));

/** The stats answer from (bucket, key, n) rows. Pure. */
export function statsAnswer(
  rows: readonly { bucket: number; key: string | null; n: number }[],
  w: { bucketText: string; bucketMs: number; group: string; start: number; end: number },
) {
  const buckets = new Map<number, KeyCount[]>();
  const totals = new Map<string | null, number>();
  let total = 0;
  for (const r of rows) {
    let list = buckets.get(r.bucket);
    if (!list) buckets.set(r.bucket, (list = []));
    list.push({ key: r.key, count: r.n });
    totals.set(r.key, (totals.get(r.key) ?? 0) + r.n);
    total += r.n;
  }
  return {
    bucket: w.bucketText,
    bucket_seconds: w.bucketMs / 1000,
    group_by: w.group,
    since: formatTimestamp(w.start),
    until: formatTimestamp(w.end),
    total,
    buckets: [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([start, counts]) => ({
        start: formatTimestamp(start),
        total: counts.reduce((n, c) => n + c.count, 0),
        counts: counts.sort(byCount),
      })),
    top: [...totals.entries()].map(([key, count]) => ({ key, count })).sort(byCount),
  };
}
