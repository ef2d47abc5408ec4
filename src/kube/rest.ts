// A thin raw-JSON REST client for the Kubernetes API on one keep-alive connection pool.
//
// Why not client-node's typed APIs: they build a new https.Agent (a new TLS handshake) for
// every call, and their ObjectSerializer renames or drops keys (`default` → `_default`,
// timestamps → Date) so that what a list returns differs from what a watch delivers. This client
// sends and returns plain JSON, exactly what the API server speaks, and counts every request by
// verb so that tests and benchmarks can prove "a resync writes nothing".
import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';

/**
 * The abort signal of the work running now (a reconcile: the controller runs it inside
 * `requestScope.run(signal, …)`): every request made in it without its own signal carries this
 * one, so that a lost lease or a shutdown cancels the requests in flight.
 */
export const requestScope = new AsyncLocalStorage<AbortSignal>();
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from './meta.js';
import { restClientObserver } from './rest-observer.js';

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** A failed API call; `code` is the HTTP status (read by src/kube/errors.ts). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly body: unknown,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export type Verb = 'get' | 'list' | 'create' | 'patch' | 'apply' | 'update' | 'delete';
export const WRITE_VERBS: readonly Verb[] = ['create', 'patch', 'apply', 'update', 'delete'];

export interface RequestStats {
  /** Requests by verb. */
  byVerb: Record<Verb, number>;
  /** Writes (create, patch, apply, update, delete) by `<verb> <resource>`, e.g. `create namespaces`. */
  writesByResource: Record<string, number>;
}

export interface ListResult<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeClientOptions {
  /** Sockets per host of the shared pool (default 32). */
  maxSockets?: number;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
}

/** The REST path of a resource: `/api/v1/namespaces/x/pods/y` or `/apis/g/v/...`. */
export function resourcePath(parts: {
  apiVersion: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}): string {
  const base = parts.apiVersion.includes('/') ? `/apis/${parts.apiVersion}` : `/api/${parts.apiVersion}`;
  const ns = parts.namespace ? `/namespaces/${encodeURIComponent(parts.namespace)}` : '';
  const name = parts.name ? `/${encodeURIComponent(parts.name)}` : '';
  const sub = parts.subresource ? `/${parts.subresource}` : '';
  return `${base}${ns}/${parts.plural}${name}${sub}`;
}

function resourceOfPath(path: string): string {
  // /api/v1/namespaces/ns/rolebindings/x → rolebindings; /api/v1/namespaces/x → namespaces
  const segments = (path.split('?')[0] ?? '').split('/').filter(Boolean);
  const start = segments[0] === 'api' ? 2 : 3;
  const rest = segments.slice(start);
  if (rest[0] === 'namespaces' && rest.length > 2) rest.splice(0, 2);
  const sub = rest.length > 2 ? `/${rest[2]}` : '';
  return `${rest[0] ?? ''}${sub}`;
}

/** One event of a watch stream (`type` ADDED, MODIFIED, DELETED, BOOKMARK or ERROR). */
export interface WatchEvent<T> {
  type: string;
  object: T;
}

export interface WatchCallbacks<T> {
  onEvent: (event: WatchEvent<T>) => void;
  /** The server answered the watch request with 200 (the stream is open). */
  onOpen?: () => void;
}

export class KubeClient {
  readonly server: string;
  private readonly agent: HttpsAgent | HttpAgent;
  /** Watches hold a connection each for minutes: their own pool, so they never take the requests' sockets. */
  private readonly watchAgent: HttpsAgent | HttpAgent;
  private readonly isHttps: boolean;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private stopped = false;
  readonly stats: RequestStats = {
    byVerb: { get: 0, list: 0, create: 0, patch: 0, apply: 0, update: 0, delete: 0 },
    writesByResource: {},
  };

  private constructor(
    private readonly kc: KubeConfig,
    tls: RequestOptions,
    options: KubeClientOptions,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.isHttps = this.server.startsWith('https:');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'ovim-operator';
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 32,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      pfx: tls.pfx,
      passphrase: tls.passphrase,
      servername: tls.servername,
      rejectUnauthorized: cluster.skipTLSVerify ? false : tls.rejectUnauthorized,
    };
    this.agent = this.isHttps ? new HttpsAgent(agentOptions) : new HttpAgent({ keepAlive: true, maxSockets: agentOptions.maxSockets });
    const watchOptions = { ...agentOptions, maxSockets: Infinity };
    this.watchAgent = this.isHttps ? new HttpsAgent(watchOptions) : new HttpAgent({ keepAlive: true });
  }

  static async create(kc: KubeConfig, options: KubeClientOptions = {}): Promise<KubeClient> {
    const tls: RequestOptions = {};
    await kc.applyToHTTPSOptions(tls);
    return new KubeClient(kc, tls, options);
  }

  /** Writes issued so far (create + patch + apply + update + delete). */
  get writes(): number {
    return WRITE_VERBS.reduce((n, v) => n + this.stats.byVerb[v], 0);
  }

  /** Closes the idle sockets of the pool; later calls fail. */
  close(): void {
    this.stopped = true;
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  async get<T = KubeObject>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { query, verb: 'get', signal });
  }

  async list<T = KubeObject>(path: string, query?: Query): Promise<ListResult<T>> {
    return this.request<ListResult<T>>('GET', path, { query, verb: 'list' });
  }

  async create<T = KubeObject>(path: string, body: unknown, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, { body, query, verb: 'create', signal });
  }

  async patch<T = KubeObject>(path: string, body: unknown, type: PatchType, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>('PATCH', path, {
      body,
      query,
      contentType: PATCH_CONTENT_TYPES[type],
      verb: type === 'apply' ? 'apply' : 'patch',
      signal,
    });
  }

  async delete<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, { body, query, verb: 'delete' });
  }

  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query; contentType?: string; verb: Verb; signal?: AbortSignal },
  ): Promise<T> {
    if (this.stopped) throw new Error('the Kubernetes client is closed');
    const url = this.url(path, options.query);
    const headers = await this.headers();
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }

    this.stats.byVerb[options.verb]++;
    if (WRITE_VERBS.includes(options.verb)) {
      const key = `${options.verb} ${resourceOfPath(path)}`;
      this.stats.writesByResource[key] = (this.stats.writesByResource[key] ?? 0) + 1;
    }

    const send = this.isHttps ? httpsRequest : httpRequest;
    const started = performance.now();
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent, timeout: this.timeoutMs }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      const signal = options.signal ?? requestScope.getStore();
      if (signal) {
        const abort = () => req.destroy(Object.assign(new Error(`${method} ${url.pathname} aborted`), { name: 'AbortError' }));
        if (signal.aborted) abort();
        else {
          signal.addEventListener('abort', abort, { once: true });
          req.on('close', () => signal.removeEventListener('abort', abort));
        }
      }
      req.end(payload);
    }).catch((err: unknown) => {
      restClientObserver.observe(method, url.host, path, undefined, performance.now() - started);
      throw err;
    });
    restClientObserver.observe(method, url.host, path, status, performance.now() - started);

    if (status < 200 || status >= 300) throw statusError(method, url, status, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  /**
   * Watches `path` (`watch=true` is added to `query`) and hands every event to `onEvent`.
   * Resolves when the server ends the stream (its timeoutSeconds) or `signal` aborts it; rejects
   * on a connection failure or a non-2xx answer (a KubeApiError with the status, e.g. 410).
   */
  async watch<T = KubeObject>(path: string, query: Query, callbacks: WatchCallbacks<T>, signal: AbortSignal): Promise<void> {
    if (this.stopped) throw new Error('the Kubernetes client is closed');
    if (signal.aborted) return;
    const url = this.url(path, { ...query, watch: true });
    const headers = await this.headers();
    const send = this.isHttps ? httpsRequest : httpRequest;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const req = send(url, { method: 'GET', headers, agent: this.watchAgent }, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => finish(statusError('GET', url, status, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', finish);
          return;
        }
        callbacks.onOpen?.();
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let newline: number;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (!line) continue;
            try {
              callbacks.onEvent(JSON.parse(line) as WatchEvent<T>);
            } catch (err) {
              req.destroy(err as Error);
              return;
            }
          }
        });
        res.on('end', () => finish());
        res.on('error', (err) => finish(signal.aborted ? undefined : err));
      });
      req.on('error', (err) => finish(signal.aborted ? undefined : err));
      const onAbort = () => {
        req.destroy();
        finish();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.end();
    });
  }

  private url(path: string, query: Query | undefined): URL {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    return url;
  }

  private async headers(): Promise<Record<string, string>> {
    // Credentials (bearer tokens of exec/OIDC users may rotate) come from the kubeconfig on
    // every call; the TLS material is fixed in the shared agents.
    const auth: RequestOptions = {};
    await this.kc.applyToHTTPSOptions(auth);
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.userAgent,
    };
    for (const [k, v] of Object.entries(auth.headers ?? {})) {
      if (typeof v === 'string' || typeof v === 'number') headers[k] = String(v);
    }
    if (auth.auth) headers.Authorization = `Basic ${Buffer.from(auth.auth).toString('base64')}`;
    return headers;
  }
}

/** A KubeApiError from a non-2xx answer and its body (a metav1.Status when the server sent one). */
function statusError(method: string, url: URL, status: number, text: string): KubeApiError {
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  const statusBody = parsed as { message?: string; reason?: string } | undefined;
  const message = typeof statusBody === 'object' && statusBody?.message ? statusBody.message : `${method} ${url.pathname}: HTTP ${status}`;
  return new KubeApiError(status, message, parsed, typeof statusBody === 'object' ? statusBody?.reason : undefined);
}
