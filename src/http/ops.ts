// The probe and metrics routes, and the small listeners that serve them apart from the API
// (kubebuilder's --health-probe-bind-address and --metrics-bind-address): the kubelet's probes
// never queue behind API traffic, and a Service or NetworkPolicy can expose the API without
// the metrics.
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import type { EventStore } from '../events/store.js';
import type { Metrics } from '../metrics.js';
import { parseListenAddress } from './config.js';
import { healthReport, isReady, type HealthSources } from './health.js';
import { errorSchema, healthResponseSchema, statusResponseSchema } from './schemas.js';

/** GET /health (the report), /healthz (liveness), /readyz (informers synced). */
export function registerProbeRoutes(app: FastifyInstance, health: HealthSources, store: Pick<EventStore, 'stats'>): void {
  app.get('/health', { schema: { response: { 200: healthResponseSchema, 503: healthResponseSchema } } }, async (_req, reply) => {
    const report = healthReport(health, store.stats());
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });
  app.get('/healthz', { schema: { response: { 200: statusResponseSchema } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { response: { 200: statusResponseSchema, 503: errorSchema } } }, async (_req, reply) =>
    isReady(health)
      ? reply.send({ status: 'ready' })
      : reply.code(503).send({ error: 'not ready: informers have not synced yet' }),
  );
}

/** GET /metrics: the registry in Prometheus text. */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}

/** Listens on `:8080`, `127.0.0.1:0`, `[::1]:8080`; resolves to the base URL. */
export async function listenOn(app: FastifyInstance, address: string): Promise<string> {
  const { host, port } = parseListenAddress(address);
  await app.listen({ host, port });
  const bound = app.server.address() as AddressInfo;
  const wildcard = host === '0.0.0.0' || host === '::';
  const shown = wildcard ? 'localhost' : bound.family === 'IPv6' ? `[${bound.address}]` : host;
  return `http://${shown}:${bound.port}`;
}

export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** A listener for the probes or for /metrics only; anything else is a 404. */
export async function startOpsServer(
  what: 'probes' | 'metrics',
  address: string,
  sources: { health: HealthSources; store: Pick<EventStore, 'stats'>; metrics: Metrics; logger?: Logger },
): Promise<OpsServer> {
  const app = Fastify({ logger: false, return503OnClosing: true, connectionTimeout: 10_000, requestTimeout: 10_000 });
  app.server.maxConnections = 64;
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not found' }));
  if (what === 'probes') registerProbeRoutes(app, sources.health, sources.store);
  else registerMetricsRoute(app, sources.metrics);
  const url = await listenOn(app, address);
  sources.logger?.info(`${what === 'probes' ? 'health probes (/healthz, /readyz, /health)' : 'metrics (/metrics)'} listening on ${url}`);
  return { url, close: () => app.close() };
}
