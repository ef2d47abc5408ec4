// The embedded HTTP server (DESIGN.md section 5): the events API, health, metrics, the OpenAPI
// document and the events panel. It reads the EventStore only — never the API server per
// request. Errors are {"error": "..."}; bad input is a 400, never a 500.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'winston';
import type { RecorderStats } from '../events/types.js';
import type { EventStore } from '../events/store.js';
import type { HistoryArchive } from '../history/archive.js';
import { registerHistoryMetrics } from '../history/metrics.js';
import { registerEventStoreMetrics, registerRecorderMetrics, type Metrics } from '../metrics.js';
import { createVerifier, type AuthConfig } from './auth.js';
import type { HealthSources } from './health.js';
import { listenOn, registerMetricsRoute, registerProbeRoutes } from './ops.js';
import { PANEL_CSP, loadPanelAssets } from './panel.js';
import { registerEventRoutes } from './routes.js';
import type { AppEventRouteOptions } from './app-event-routes.js';
import { SecurityMonitor, type SecurityOptions } from './security.js';
import { registerRouteApi } from '../routes/api.js';
import type { EventRoute } from '../routes/types.js';
import type { StreamHub, StreamHubOptions } from './stream-hub.js';
import { registerStreamMetrics } from './stream-metrics.js';
import { wasHijacked } from './hijacked.js';

export interface ApiServerOptions {
  store: EventStore;
  auth: AuthConfig;
  metrics: Metrics;
  health: HealthSources;
  logger?: Logger;
  /** The event archive (section 7): the list answers from it; export and stats are served. */
  history?: HistoryArchive;
  /** The live stream's limits (default: STREAM_DEFAULTS). */
  stream?: StreamHubOptions;
  /** When given, the recorder's counters are exported on /metrics too. */
  recorderStats?: () => RecorderStats;
  /** Socket and request bounds (DEFAULT_SERVER_LIMITS otherwise). */
  limits?: Partial<ServerLimits>;
  /**
   * Proxies (addresses or CIDRs) whose `X-Forwarded-For` names the client. Without any, the
   * header is ignored and the client is the socket's peer.
   */
  trustedProxies?: readonly string[];
  /** Security events, sampled warnings and the 429 rule for rejected tokens. */
  security?: Omit<SecurityOptions, 'logger'>;
  /** Application-level events (with the archive): mirroring onto Kubernetes, security namespace. */
  appEvents?: AppEventRouteOptions;
  /** The EventRoutes for GET /api/v1/routes (none until the route engine runs). */
  eventRoutes?: () => readonly EventRoute[];
  /** false: /metrics is served by a listener of its own (src/http/ops.ts), not here. */
  serveMetrics?: boolean;
}

/** What one client may hold of the server. */
export interface ServerLimits {
  /** A socket with no activity for this long is closed (fastify connectionTimeout). */
  connectionTimeoutMs: number;
  /** An idle keep-alive socket is closed after this long. */
  keepAliveTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** Open connections at most, all clients together; more are refused at once. */
  maxConnections: number;
  /** Requests one keep-alive socket may carry before the server closes it. */
  maxRequestsPerSocket: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = {
  connectionTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  maxConnections: 1024,
  maxRequestsPerSocket: 1000,
};

export interface ApiServer {
  /** Starts listening (`:8080`, `127.0.0.1:0`, `[::1]:8080`); resolves to the base URL. */
  listen(address: string): Promise<string>;
  close(): Promise<void>;
  /** The fastify instance (for tests: `inject`). */
  readonly app: FastifyInstance;
  /** The live stream's fan-out (its counters: open, dropped, peak bytes queued). */
  readonly stream: StreamHub;
  /** Paths of the routes served (GET; HEAD is implied). */
  readonly routes: readonly string[];
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: { allowedValues?: unknown[]; format?: string; limit?: number };
}

/** "invalid query parameter "limit": must be integer" from ajv's first error. */
function validationMessage(err: FastifyError): string {
  const first = (err.validation?.[0] ?? {}) as AjvError;
  const param = (first.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  let why = first.message ?? 'is invalid';
  if (first.keyword === 'enum' && first.params?.allowedValues) why = `must be one of ${first.params.allowedValues.join(', ')}`;
  if (first.keyword === 'format' && first.params?.format === 'date-time') {
    why = 'must be an RFC 3339 timestamp (e.g. 2025-01-02T15:04:05Z)';
  }
  if (first.keyword === 'minimum') why = `must be an integer >= ${first.params?.limit ?? 1}`;
  if (first.keyword === 'maximum') why = `must be an integer <= ${first.params?.limit}`;
  if (first.keyword === 'type' && first.message === 'must be integer') why = 'must be a positive integer';
  const where = err.validationContext === 'querystring' || !err.validationContext ? 'query parameter' : err.validationContext;
  return param ? `invalid ${where} "${param}": ${why}` : `invalid ${where}: ${why}`;
}

/** The store's, recorder's and archive's gauges on the registry (also when no API is served). */
export function registerServerCollectors(options: Pick<ApiServerOptions, 'store' | 'metrics' | 'recorderStats' | 'history'>): void {
  const { store, metrics, history, recorderStats } = options;
  registerEventStoreMetrics(metrics, () => store.stats());
  if (recorderStats) registerRecorderMetrics(metrics, recorderStats);
  if (history) registerHistoryMetrics(metrics, () => history.stats());
}

export function createApiServer(options: ApiServerOptions): ApiServer {
  const { store, metrics, health, logger } = options;
  const verify = createVerifier(options.auth);
  const panel = loadPanelAssets();
  registerServerCollectors(options);

  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const security = new SecurityMonitor({ ...options.security, logger });
  const app = Fastify({
    logger: false,
    // Integers are converted by the routes' preValidation (decimal digits only), nothing else.
    ajv: { customOptions: { coerceTypes: false } },
    bodyLimit: 16 * 1024,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // request.ip: X-Forwarded-For only when the socket's peer is a configured proxy.
    trustProxy: options.trustedProxies && options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    return503OnClosing: true,
  });
  // Past the cap, node closes new sockets right away (nothing is queued for them).
  app.server.maxConnections = limits.maxConnections;

  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    if (route.method === 'GET' || (Array.isArray(route.method) && route.method.includes('GET'))) routes.push(route.url);
  });

  const count = (request: FastifyRequest, code: number, ms: number) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ route, method: request.method, code: String(code) });
    metrics.httpDuration.observe({ route, method: request.method }, ms / 1000);
  };

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    // A hijacked response (the live stream) is counted when it closes: onResponse skips it.
    reply.raw.once('close', () => {
      if (wasHijacked(request.raw)) count(request, reply.raw.statusCode, reply.elapsedTime);
    });
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    count(request, reply.statusCode, reply.elapsedTime);
    // Never the headers (the token) nor the query string.
    logger?.debug('http request', { method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 });
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation) return reply.code(400).send({ error: validationMessage(err) });
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: err.message });
    logger?.error('http handler failed', { method: request.method, route: request.routeOptions.url, error: err.message });
    return reply.code(500).send({ error: 'internal error' });
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not found' }));

  const stream = registerEventRoutes(app, { store, verify, security, history: options.history, stream: options.stream, appEvents: options.appEvents });
  registerStreamMetrics(metrics.registry, () => stream.stats());
  registerRouteApi(app, { verify, routes: options.eventRoutes ?? (() => []) });

  registerProbeRoutes(app, health, store);
  if (options.serveMetrics !== false) registerMetricsRoute(app, metrics);

  const sendAsset = (name: string) => async (_req: unknown, reply: FastifyReply) => {
    const asset = panel.get(name);
    if (!asset) return reply.code(404).send({ error: 'not found' });
    reply.header('content-security-policy', PANEL_CSP).header('cache-control', 'no-cache').header('referrer-policy', 'no-referrer');
    return reply.type(asset.contentType).send(asset.body);
  };
  app.get('/', sendAsset('index.html'));
  app.get('/panel/panel.js', sendAsset('panel.js'));
  app.get('/panel/panel.css', sendAsset('panel.css'));

  return {
    app,
    stream,
    routes,
    async listen(address: string): Promise<string> {
      const url = await listenOn(app, address);
      logger?.info(`events API and panel listening on ${url}`);
      return url;
    },
    async close(): Promise<void> {
      await app.close();
    },
  };
}
