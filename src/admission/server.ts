// The webhook's HTTPS server: reads an AdmissionReview, asks decide.ts, answers. POST /mutate
// (stamps, finalizer) and /validate (DELETE: records DeletionRequested and stamps the deleter on
// the object before the API server marks it deleted, so that the link outlives a restart);
// GET /healthz. Bodies are bounded; a malformed review gets a 400, never a crash.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { objectPath } from '../kube/apply.js';
import { apiErrorMessage } from '../kube/errors.js';
import type { KubeClient } from '../kube/rest.js';
import type { EventRecording } from '../events/types.js';
import { Reasons } from '../events/catalog.js';
import { deletion, mutate, type AdmissionRequest, type DecisionContext } from './decide.js';
import { SKEW_MS } from './stamps.js';

/** Objects and their old versions fit well within this (etcd keeps objects under 1.5 MiB). */
export const MAX_REVIEW_BYTES = 8 * 1024 * 1024;

export interface AdmissionServerDeps {
  tls: { certPem: string; keyPem: string };
  context: () => DecisionContext;
  client: KubeClient;
  events: EventRecording;
  logger?: Logger;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > MAX_REVIEW_BYTES) return; // already answered 413: drop the rest
      size += chunk.length;
      if (size > MAX_REVIEW_BYTES) {
        chunks.length = 0;
        reject(new HttpError(413, `admission review larger than ${MAX_REVIEW_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseReview(text: string): AdmissionRequest {
  let review: unknown;
  try {
    review = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  const request = (review as { request?: unknown } | null)?.request as AdmissionRequest | undefined;
  if (!request || typeof request !== 'object' || typeof request.uid !== 'string') {
    throw new HttpError(400, 'not an AdmissionReview with a request.uid');
  }
  return request;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function review(response: Record<string, unknown>): unknown {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

function describe(obj: KubernetesObject): string {
  const name = obj.metadata?.name ?? '';
  if (obj.kind === 'VirtualDataCenter') {
    const org = (obj as { spec?: { organizationRef?: string } }).spec?.organizationRef;
    return `VDC '${name}'${org ? ` in organization '${org}'` : ''}`;
  }
  return `${obj.kind ?? 'object'} '${name}'`;
}

export class AdmissionServer {
  readonly server: Server;
  /** DELETEs already handled: the API server validates one delete again when its update retries. */
  private readonly recentDeletes = new Map<string, number>();

  constructor(private readonly deps: AdmissionServerDeps) {
    this.server = createServer({ cert: deps.tls.certPem, key: deps.tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) deps.logger?.error(`admission request failed: ${apiErrorMessage(err)}`);
        if (status === 413) {
          // The rest of the body is not read: answer, then close the connection.
          res.setHeader('Connection', 'close');
          res.on('finish', () => req.destroy());
        }
        if (!res.headersSent) send(res, status, { error: err instanceof Error ? err.message : String(err) });
      });
    });
    // The API server keeps idle webhook connections 90 s; closing them sooner (Node's default is
    // 5 s) races its next request on the same connection: "connection reset by peer", a failed
    // create. Idle connections are left for the API server to close.
    this.server.keepAliveTimeout = 120_000;
  }

  /** Serves a new certificate to new connections (rotation). */
  setCertificate(tls: { certPem: string; keyPem: string }): void {
    this.server.setSecureContext({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path !== '/mutate' && path !== '/validate') throw new HttpError(404, `no webhook at ${path}`);
    if (req.method !== 'POST') throw new HttpError(405, 'POST an AdmissionReview');
    const request = parseReview(await readBody(req));
    const ctx = this.deps.context();
    if (path === '/mutate') {
      const decision = mutate(request, ctx);
      if (!decision.allowed) {
        return send(res, 200, review({ uid: request.uid, allowed: false, status: { code: decision.code, message: decision.message } }));
      }
      const response: Record<string, unknown> = { uid: request.uid, allowed: true };
      if (decision.patch.length) {
        response.patchType = 'JSONPatch';
        response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
      }
      return send(res, 200, review(response));
    }
    await this.onDelete(request, ctx);
    send(res, 200, review({ uid: request.uid, allowed: true }));
  }

  /** DELETE: the event, then the deleter's stamp (a failure is logged; the delete goes on). */
  private async onDelete(request: AdmissionRequest, ctx: DecisionContext): Promise<void> {
    const found = deletion(request, ctx);
    const old = request.oldObject;
    if (!found || !old) return;
    const key = `${old.metadata?.uid ?? ''}\u0000${found.actor}`;
    const now = ctx.now.getTime();
    if ((this.recentDeletes.get(key) ?? 0) > now) return;
    if (this.recentDeletes.size > 10_000) {
      for (const [k, until] of this.recentDeletes) if (until <= now) this.recentDeletes.delete(k);
    }
    this.recentDeletes.set(key, now + SKEW_MS);
    this.deps.events.record(old, 'Normal', Reasons.DeletionRequested, `Deletion of ${describe(old)} requested by ${found.actor}`, {
      actor: found.actor,
      actorVerified: true,
    });
    try {
      await this.deps.client.patch(objectPath(old), { metadata: { annotations: found.annotations } }, 'merge', {
        fieldManager: 'ovim-operator',
      });
    } catch (err) {
      this.deps.logger?.warn(`could not stamp the deleter of ${describe(old)}: ${apiErrorMessage(err)}`);
    }
  }
}
