// What the Kubernetes REST client reports about its requests, process-wide (client-go keeps its
// rest_client metrics in one global registry too): counts by code, method and host, and the
// requests slower than a threshold, counted and logged (rate-limited: no line per request in an
// outage). /metrics reads the counts at scrape time (src/observability/runtime-metrics.ts).
import type { Logger } from 'winston';

export interface RestRequestCount {
  code: string;
  method: string;
  host: string;
  count: number;
}

/** The code of a request that got no HTTP answer (timeout, reset, abort), as in client-go. */
export const NO_RESPONSE_CODE = '<error>';

/** The default --slow-api-request-threshold. */
export const SLOW_API_REQUEST_MS = 1_000;
/** At most one slow-request log line per this period; the others are summed into the next one. */
const LOG_PERIOD_MS = 10_000;

class RestClientObserver {
  private readonly counts = new Map<string, RestRequestCount>();
  private readonly slowCounts = new Map<string, { method: string; host: string; count: number }>();
  private thresholdMs = SLOW_API_REQUEST_MS;
  private logger: Logger | undefined;
  private lastLogAt = -Infinity;
  private unlogged = 0;

  configure(options: { slowThresholdMs?: number; logger?: Logger }): void {
    if (options.slowThresholdMs !== undefined) this.thresholdMs = options.slowThresholdMs;
    if (options.logger) {
      // A new logger starts a new log period.
      this.logger = options.logger;
      this.lastLogAt = -Infinity;
      this.unlogged = 0;
    }
  }

  get slowThresholdMs(): number {
    return this.thresholdMs;
  }

  /** One finished request (`code` undefined: no HTTP answer). */
  observe(method: string, host: string, path: string, code: number | undefined, ms: number): void {
    const c = code === undefined ? NO_RESPONSE_CODE : String(code);
    const key = `${c} ${method} ${host}`;
    const entry = this.counts.get(key);
    if (entry) entry.count++;
    else this.counts.set(key, { code: c, method, host, count: 1 });
    if (this.thresholdMs > 0 && ms >= this.thresholdMs) this.slow(method, host, path, c, ms);
  }

  requests(): RestRequestCount[] {
    return [...this.counts.values()];
  }

  slowRequests(): { method: string; host: string; count: number }[] {
    return [...this.slowCounts.values()];
  }

  private slow(method: string, host: string, path: string, code: string, ms: number): void {
    const key = `${method} ${host}`;
    const entry = this.slowCounts.get(key);
    if (entry) entry.count++;
    else this.slowCounts.set(key, { method, host, count: 1 });
    const now = performance.now();
    if (now - this.lastLogAt < LOG_PERIOD_MS) {
      this.unlogged++;
      return;
    }
    this.lastLogAt = now;
    const more = this.unlogged;
    this.unlogged = 0;
    // The path names the resource (never a token: credentials travel in headers).
    this.logger?.warn(`slow Kubernetes API request: ${method} ${path.split('?')[0]} took ${Math.round(ms)} ms`, {
      method,
      host,
      code,
      ms: Math.round(ms),
      thresholdMs: this.thresholdMs,
      ...(more > 0 ? { slowRequestsNotLogged: more } : {}),
    });
  }
}

export const restClientObserver = new RestClientObserver();
