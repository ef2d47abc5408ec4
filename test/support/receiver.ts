// Loopback webhook receivers for the route tests: http or https (a certificate from a test CA),
// recording every request; the answer is chosen per request; they can go down and come back.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class Receiver {
  readonly requests: Received[] = [];
  /** The status code of the next answer (default 200). */
  answer: (r: Received) => number = () => 200;
  private server: http.Server | https.Server | undefined;
  port = 0;

  constructor(private readonly tls?: { cert: string; key: string }) {}

  private make(): http.Server | https.Server {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.requests.push(r);
        res.statusCode = this.answer(r);
        res.end('{}');
      });
    };
    return this.tls ? https.createServer({ cert: this.tls.cert, key: this.tls.key }, handler) : http.createServer(handler);
  }

  /** Listens on 127.0.0.1 (`port` 0: any free port; else that one). */
  async listen(port = this.port): Promise<this> {
    const server = this.make();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  url(path = '/hook', host = '127.0.0.1'): string {
    return `${this.tls ? 'https' : 'http'}://${host}:${this.port}${path}`;
  }

  /** Requests whose path is `path`. */
  at(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
