// Shared fixtures of the HTTP tests: Event objects as the informer delivers them, a server on
// loopback with a known secret, and tokens.
import { connect } from 'node:net';
import { EventStore, type EventObject } from '../../../src/events/store.js';
import { signToken } from '../../../src/http/auth.js';
import type { HealthSources } from '../../../src/http/health.js';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../../../src/http/server.js';
import { createMetrics, type Metrics } from '../../../src/metrics.js';

export const SECRET = 'test-secret-of-the-http-suite-0123456789';

export interface EventSpec {
  name: string;
  namespace: string;
  uid?: string;
  type?: string;
  reason?: string;
  message?: string;
  component?: string;
  kind?: string;
  objectName?: string;
  /** ISO timestamps; default derived from `at`. */
  first?: string;
  last?: string;
  /** Seconds after 2025-01-01T00:00:00Z for the last timestamp. */
  at?: number;
  count?: number;
  annotations?: Record<string, string>;
}

const BASE = Date.parse('2025-01-01T00:00:00Z');
let uidCounter = 0;

/** A raw Event object (timestamps as strings), like one from a watch. */
export function rawEvent(spec: EventSpec): EventObject {
  const last = spec.last ?? new Date(BASE + (spec.at ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      uid: spec.uid ?? `uid-${++uidCounter}-${spec.name}`,
      resourceVersion: String(uidCounter),
      annotations: spec.annotations,
      managedFields: [{ manager: 'test', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1' }],
    },
    involvedObject: {
      apiVersion: 'v1',
      kind: spec.kind ?? 'Pod',
      name: spec.objectName ?? spec.name.split('.')[0],
      namespace: spec.namespace,
    },
    type: spec.type ?? 'Normal',
    reason: spec.reason ?? 'Started',
    message: spec.message ?? `message of ${spec.name}`,
    source: { component: spec.component ?? 'ovim-controller' },
    firstTimestamp: spec.first ?? last,
    lastTimestamp: last,
    count: spec.count ?? 1,
  };
}

export interface TestServer {
  url: string;
  store: EventStore;
  metrics: Metrics;
  server: ApiServer;
  health: { reachable: boolean; synced: boolean; leadership: 'leader' | 'follower' | 'disabled' };
  close(): Promise<void>;
  get(path: string, token?: string, headers?: Record<string, string>): Promise<{ status: number; body: unknown; headers: Headers; text: string }>;
}

export async function startServer(
  options: Partial<Pick<ApiServerOptions, 'store' | 'auth' | 'logger' | 'recorderStats' | 'limits' | 'trustedProxies' | 'security' | 'history' | 'stream' | 'appEvents'>> = {},
): Promise<TestServer> {
  const store = options.store ?? new EventStore();
  const metrics = createMetrics();
  const health = { reachable: true, synced: true, leadership: 'leader' as 'leader' | 'follower' | 'disabled' };
  const sources: HealthSources = {
    kubernetesReachable: () => health.reachable,
    informersSynced: () => health.synced,
    leadership: () => health.leadership,
  };
  const history = options.history;
  if (history) sources.history = () => history.health();
  const server = createApiServer({
    store,
    metrics,
    health: sources,
    auth: options.auth ?? { secret: new TextEncoder().encode(SECRET) },
    logger: options.logger,
    recorderStats: options.recorderStats,
    limits: options.limits,
    trustedProxies: options.trustedProxies,
    security: options.security,
    history,
    stream: options.stream,
    appEvents: options.appEvents,
  });
  const url = await server.listen('127.0.0.1:0');
  return {
    url,
    store,
    metrics,
    server,
    health,
    close: () => server.close(),
    async get(path, token, headers = {}) {
      const res = await fetch(`${url}${path}`, {
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON (the panel, metrics)
      }
      return { status: res.status, body, headers: res.headers, text };
    },
  };
}

export function token(role: string, orgId = '', username = `${role}-user`, secret: string = SECRET): Promise<string> {
  return signToken({ userId: `id-${username}`, username, role, orgId }, secret);
}

export interface EventsBody {
  events: { id: string; name: string; namespace: string; type: string; reason: string; last_timestamp: string; [k: string]: unknown }[];
  total_count: number;
  page: number;
  page_size: number;
}

interface Schema {
  type?: string;
  required?: readonly string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: readonly unknown[];
}

/** Problems of `value` against a (simple) JSON Schema: types, required and unknown properties, enums. */
export function schemaProblems(value: unknown, schema: Schema, at = '$'): string[] {
  const problems: string[] = [];
  const t = schema.type;
  if (t === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: not an object`];
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) problems.push(`${at}.${key}: missing`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (!sub) problems.push(`${at}.${key}: not in the schema`);
      else problems.push(...schemaProblems(v, sub, `${at}.${key}`));
    }
  } else if (t === 'array') {
    if (!Array.isArray(value)) return [`${at}: not an array`];
    value.forEach((v, i) => problems.push(...schemaProblems(v, schema.items ?? {}, `${at}[${i}]`)));
  } else if (t === 'string') {
    if (typeof value !== 'string') problems.push(`${at}: not a string`);
  } else if (t === 'integer') {
    if (!Number.isInteger(value)) problems.push(`${at}: not an integer`);
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: not one of ${schema.enum.join(', ')}`);
  return problems;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `requestLine` byte for byte over a fresh socket (`fetch` and `URL` normalise `..` and
 * `%2e%2e` away before a request leaves) and reads the answer until the server closes.
 */
export function rawRequest(baseUrl: string, requestLine: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      const [status, ...lines] = head.split('\r\n');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(status ?? '');
      if (!match) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const parsed: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(match[1]), headers: parsed, body: text.slice(head.length + 4) });
    });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`${requestLine}\r\nHost: ${hostname}\r\nConnection: close\r\n${extra}\r\n`);
  });
}
