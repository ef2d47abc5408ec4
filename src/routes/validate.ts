// A route's spec checked beyond the CRD's schema (pure): the URL scheme the operator allows,
// the scope of its namespace, the threshold window. The Ready condition says what is wrong.
import type { Scope } from '../events/query.js';
import { routeScope } from './match.js';
import { parseWindow } from './threshold.js';
import type { EventRoute, RouteFormat } from './types.js';

export const RouteReasons = {
  Ready: 'Ready',
  InvalidURL: 'InvalidURL',
  InsecureURL: 'InsecureURL',
  UnsupportedNamespace: 'UnsupportedNamespace',
  InvalidThreshold: 'InvalidThreshold',
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
  SecretUnreadable: 'SecretUnreadable',
} as const;

export interface ValidRoute {
  ok: true;
  scope: Scope;
  url: URL;
  format: RouteFormat;
  timeoutMs: number;
  threshold?: { count: number; windowMs: number; window: string };
}

export type RouteVerdict = ValidRoute | { ok: false; reason: string; message: string };

export interface ValidateOptions {
  operatorNamespace: string;
  allowHttp: boolean;
}

export function validateRoute(route: EventRoute, options: ValidateOptions): RouteVerdict {
  const ns = route.metadata.namespace ?? '';
  const scope = routeScope(ns, options.operatorNamespace);
  if (!scope) {
    return {
      ok: false,
      reason: RouteReasons.UnsupportedNamespace,
      message: `EventRoutes work in organization namespaces (org-<organization>) and in ${options.operatorNamespace}, not in ${ns}`,
    };
  }
  const hook = route.spec?.sink?.webhook;
  let url: URL;
  try {
    url = new URL(hook?.url ?? '');
  } catch {
    return { ok: false, reason: RouteReasons.InvalidURL, message: 'sink.webhook.url is not a valid absolute URL' };
  }
  if (url.username || url.password) {
    return { ok: false, reason: RouteReasons.InvalidURL, message: 'sink.webhook.url must not carry credentials' };
  }
  if (url.protocol === 'http:' && !options.allowHttp) {
    return {
      ok: false,
      reason: RouteReasons.InsecureURL,
      message: 'sink.webhook.url must use https: this operator does not allow plain http (--routes-allow-http)',
    };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, reason: RouteReasons.InvalidURL, message: `sink.webhook.url scheme ${url.protocol} is not http(s)` };
  }
  let threshold: ValidRoute['threshold'];
  const t = route.spec?.threshold;
  if (t) {
    const windowMs = parseWindow(t.window);
    if (windowMs === undefined || !(t.count >= 2)) {
      return { ok: false, reason: RouteReasons.InvalidThreshold, message: 'threshold needs a count >= 2 and a window such as 10m' };
    }
    threshold = { count: t.count, windowMs, window: t.window };
  }
  return {
    ok: true,
    scope,
    url,
    format: hook?.format ?? 'json',
    timeoutMs: (hook?.timeoutSeconds ?? 10) * 1000,
    ...(threshold ? { threshold } : {}),
  };
}
