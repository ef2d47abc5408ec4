// One POST to a webhook over keep-alive agents, to the address the SSRF guard checked.
import http from 'node:http';
import https from 'node:https';
import { pinnedLookup, resolveChecked, type AddressGuard, type Resolver } from './ssrf.js';

export interface PostResult {
  status: number;
  /** Retry-After in ms, when the receiver sent one. */
  retryAfterMs?: number;
}

export interface WebhookClientOptions {
  guard: AddressGuard;
  resolve: Resolver;
  /** Extra CA certificates for https (tests' self-signed receivers); system CAs otherwise. */
  ca?: string | Buffer;
  maxSockets?: number;
}

function retryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text || !/^[0-9]{1,5}$/.test(text)) return undefined;
  return Number(text) * 1000;
}

export class WebhookClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: WebhookClientOptions) {
    const maxSockets = options.maxSockets ?? 64;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets, ...(options.ca ? { ca: options.ca } : {}) });
  }

  /** POSTs `body`; resolves with the status (any), rejects on refusal, network error or timeout. */
  async post(url: URL, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PostResult> {
    const { address, family } = await resolveChecked(url.hostname, this.options.guard, this.options.resolve);
    const secure = url.protocol === 'https:';
    const request = secure ? https.request : http.request;
    return new Promise<PostResult>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          lookup: pinnedLookup(address, family),
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
          timeout: timeoutMs,
        },
        (res) => {
          // The answer is not needed: drain it so that the socket goes back to the pool.
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfterMs: retryAfter(res.headers['retry-after']) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
