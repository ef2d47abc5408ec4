// JSON Schemas of the archive-backed parameters and routes (DESIGN.md sections 5 and 7): `until`,
// `actor`, `cursor` on the list; /api/v1/events/export and /api/v1/events/stats.
import { STATS_GROUPS } from '../history/sql.js';
import { vocabularyQueryProperties } from './app-event-schemas.js';
import { eventsQuerySchema, historyQueryProperties } from './schemas.js';


/** The list's filters (every parameter but paging). */
const { limit: _limit, page: _page, ...filterProperties } = eventsQuerySchema.properties;
const { sort_by: _sortBy, sort_order: _sortOrder, page_size: _pageSize, ...vocabularyFilters } = vocabularyQueryProperties;
const selectionProperties = {
  ...filterProperties,
  until: historyQueryProperties.until,
  actor: historyQueryProperties.actor,
  // The backend's vocabulary selects here too (repeated filters, ids, search, include_deleted).
  ...vocabularyFilters,
} as const;

export const exportQuerySchema = {
  type: 'object',
  properties: {
    format: { type: 'string', enum: ['ndjson', 'csv'], default: 'ndjson', description: 'ndjson (one event item per line) or csv.' },
    ...selectionProperties,
  },
} as const;

export const statsQuerySchema = {
  type: 'object',
  properties: {
    bucket: {
      type: 'string',
      pattern: '^[1-9][0-9]{0,3}[mhd]$',
      default: '1h',
      description: 'Bucket width: minutes (m), hours (h) or days (d), from 1m to 31d. Default 1h.',
    },
    group_by: { type: 'string', enum: Object.keys(STATS_GROUPS), default: 'reason', description: 'What each bucket counts by.' },
    ...selectionProperties,
  },
} as const;

const keyCount = {
  type: 'object',
  required: ['key', 'count'],
  properties: { key: { type: ['string', 'null'] }, count: { type: 'integer' } },
} as const;

export const statsResponseSchema = {
  type: 'object',
  required: ['bucket', 'bucket_seconds', 'group_by', 'since', 'until', 'total', 'buckets', 'top'],
  properties: {
    bucket: { type: 'string' },
    bucket_seconds: { type: 'integer' },
    group_by: { type: 'string' },
    since: { type: 'string', format: 'date-time', description: 'Start of the first bucket.' },
    until: { type: 'string', format: 'date-time', description: 'End of the last bucket (exclusive).' },
    total: { type: 'integer', description: 'Matching events in the window.' },
    buckets: {
      type: 'array',
      description: 'Buckets that hold at least one match, oldest first.',
      items: {
        type: 'object',
        required: ['start', 'total', 'counts'],
        properties: {
          start: { type: 'string', format: 'date-time' },
          total: { type: 'integer' },
          counts: { type: 'array', items: keyCount, description: 'Per group value, most frequent first.' },
        },
      },
    },
    top: { type: 'array', items: keyCount, description: 'Per group value over the whole window, most frequent first.' },
  },
} as const;

type JsonObject = Record<string, unknown>;

interface DocHelpers {
  json: (schema: unknown, description: string) => unknown;
  errors: Record<number, unknown>;
  queryParameters: (schema: { properties: Record<string, JsonObject> }) => JsonObject[];
}

/** The OpenAPI paths of the archive-backed routes. */
export function historyPaths({ json, errors, queryParameters }: DocHelpers): JsonObject {
  const unavailable = json({ type: 'object', properties: { error: { type: 'string' } } }, 'The archive is off or unavailable now.');
  return {
    '/api/v1/events/export': {
      get: {
        operationId: 'exportEvents',
        summary: 'Export every matching event (archive)',
        description:
          'Streams every event the caller may see that matches the filters, newest first, with no page limit: ' +
          'ndjson (one event item per line) or csv (a header row, then the same fields).',
        tags: ['events'],
        security: [{ bearerAuth: [] }],
        parameters: queryParameters(exportQuerySchema),
        responses: {
          200: {
            description: 'The events.',
            content: {
              'application/x-ndjson': { schema: { type: 'string' } },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...errors,
          503: unavailable,
        },
      },
    },
    '/api/v1/events/stats': {
      get: {
        operationId: 'eventStats',
        summary: 'Event counts per time bucket (archive)',
        description:
          'Counts the events the caller may see that match the filters, per bucket of their last timestamp and per ' +
          'reason, type, namespace, organization or category; `top` lists the most frequent values. The window is ' +
          'made of whole buckets, from the one holding `since` through the one holding `until` (defaults: until = now, ' +
          'since = 100 buckets earlier), at most 1000 buckets.',
        tags: ['events'],
        security: [{ bearerAuth: [] }],
        parameters: queryParameters(statsQuerySchema),
        responses: { 200: json(statsResponseSchema, 'Counts per bucket.'), ...errors, 503: unavailable },
      },
    },
  };
}
