// GET /api/v1/routes: the EventRoutes a caller may see, with their status (DESIGN.md section 9).
// System admins see every route; an organization's admins the routes in org-<org>. Never a
// secret: no Secret reference, and of the webhook URL only scheme and host (Slack's incoming
// webhook URLs carry their token in the path).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { orgNamespace, type Scope } from '../events/query.js';
import { AuthError, bearerToken, type TokenVerifier } from '../http/auth.js';
import { ForbiddenError, scopeForClaims } from '../http/scope.js';
import { findCondition } from '../resources/conditions.js';
import type { EventRoute } from './types.js';

export interface ApiRoute {
  namespace: string;
  name: string;
  format: string;
  /** scheme://host[:port] of the webhook. */
  destination: string;
  signed: boolean;
  match: NonNullable<EventRoute['spec']>['match'] | Record<string, never>;
  threshold?: { count: number; window: string };
  ready: string;
  reason?: string;
  message?: string;
  delivered_count: number;
  failed_count: number;
  dropped_count: number;
  last_delivery_time?: string;
  last_error?: string;
}

function destination(url: string | undefined): string {
  try {
    const u = new URL(url ?? '');
    return `${u.protocol}//${u.host}`;
  } catch {
    return '';
  }
}

export function toApiRoute(r: EventRoute): ApiRoute {
  const ready = findCondition(r.status?.conditions, 'Ready');
  const hook = r.spec?.sink?.webhook;
  const out: ApiRoute = {
    namespace: r.metadata.namespace ?? '',
    name: r.metadata.name ?? '',
    format: hook?.format ?? 'json',
    destination: destination(hook?.url),
    signed: Boolean(hook?.secretRef),
    match: r.spec?.match ?? {},
    ready: ready?.status ?? 'Unknown',
    delivered_count: r.status?.deliveredCount ?? 0,
    failed_count: r.status?.failedCount ?? 0,
    dropped_count: r.status?.droppedCount ?? 0,
  };
  if (r.spec?.threshold) out.threshold = { count: r.spec.threshold.count, window: r.spec.threshold.window };
  if (ready) {
    out.reason = ready.reason;
    out.message = ready.message;
  }
  if (r.status?.lastDeliveryTime) out.last_delivery_time = r.status.lastDeliveryTime;
  if (r.status?.lastError) out.last_error = r.status.lastError;
  return out;
}

/** The routes a scope may see (pure): all, or those in the organization's namespace. */
export function routesInScope(routes: readonly EventRoute[], scope: Scope): EventRoute[] {
  if (scope.kind === 'all') return [...routes];
  if (scope.kind !== 'organization') return [];
  const ns = orgNamespace(scope.organization);
  return routes.filter((r) => r.metadata.namespace === ns);
}

export function registerRouteApi(app: FastifyInstance, options: { verify: TokenVerifier; routes: () => readonly EventRoute[] }): void {
  app.get('/api/v1/routes', async (request: FastifyRequest, reply: FastifyReply) => {
    let scope: Scope;
    try {
      scope = scopeForClaims(await options.verify(bearerToken(request.headers.authorization)));
    } catch (err) {
      if (err instanceof AuthError) return reply.code(401).header('www-authenticate', 'Bearer realm="ovim"').send({ error: err.message });
      if (err instanceof ForbiddenError) return reply.code(403).send({ error: err.message });
      throw err;
    }
    if (scope.kind === 'own') return reply.code(403).send({ error: "routes are visible to the organization's admins" });
    const items = routesInScope(options.routes(), scope)
      .map(toApiRoute)
      .sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));
    return reply.header('cache-control', 'no-store').send({ routes: items, count: items.length });
  });
}
