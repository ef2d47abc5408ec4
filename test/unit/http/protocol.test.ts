// HTTP behaviour every route shares: the security headers, HEAD, and the 503 answered to a
// request that arrives while the server is closing.
import { connect } from 'node:net';
import { expect } from 'chai';
import { waitFor } from '../../support/wait.js';
import { rawEvent, startServer, token, type TestServer } from './support.js';

describe('HTTP protocol', () => {
  let srv: TestServer;
  let admin: string;

  before(async () => {
    srv = await startServer();
    srv.store.upsert(rawEvent({ name: 'e1', namespace: 'default' }));
    admin = await token('system_admin');
  });

  after(async () => {
    await srv.close();
  });

  describe('security headers', () => {
    const everyRoute = ['/', '/panel/panel.js', '/panel/panel.css', '/api/v1/events', '/api/v1/events/recent', '/api/v1/openapi.json', '/health', '/healthz', '/readyz', '/metrics', '/nowhere'];

    it('X-Content-Type-Options: nosniff on every answer, errors included', async () => {
      for (const path of everyRoute) {
        for (const auth of [admin, undefined]) {
          const res = await srv.get(path, auth);
          expect(res.headers.get('x-content-type-options'), `${path} ${res.status}`).to.equal('nosniff');
        }
      }
    });

    it('Cache-Control: no-store on the event answers (they carry tenant data)', async () => {
      for (const path of ['/api/v1/events', '/api/v1/events/', '/api/v1/events/recent', '/api/v1/events?namespace=default']) {
        const res = await srv.get(path, admin);
        expect(res.status, path).to.equal(200);
        expect(res.headers.get('cache-control'), path).to.equal('no-store');
      }
    });

    it('Referrer-Policy: no-referrer and the CSP on the panel page and its files', async () => {
      for (const path of ['/', '/panel/panel.js', '/panel/panel.css']) {
        const res = await srv.get(path);
        expect(res.status, path).to.equal(200);
        expect(res.headers.get('referrer-policy'), path).to.equal('no-referrer');
        expect(res.headers.get('content-security-policy'), path).to.contain("frame-ancestors 'none'");
      }
    });
  });

  describe('HEAD', () => {
    it('answers HEAD like GET without a body, authentication included', async () => {
      const cases: [string, string | undefined, number, RegExp][] = [
        ['/', undefined, 200, /^text\/html/],
        ['/panel/panel.js', undefined, 200, /^text\/javascript/],
        ['/healthz', undefined, 200, /^application\/json/],
        ['/readyz', undefined, 200, /^application\/json/],
        ['/metrics', undefined, 200, /^text\/plain/],
        ['/api/v1/events', admin, 200, /^application\/json/],
        ['/api/v1/events/recent', admin, 200, /^application\/json/],
        ['/api/v1/events', undefined, 401, /^application\/json/],
        ['/api/v1/events?limit=x', admin, 400, /^application\/json/],
      ];
      for (const [path, auth, status, type] of cases) {
        const get = await fetch(`${srv.url}${path}`, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
        await get.arrayBuffer();
        const head = await fetch(`${srv.url}${path}`, { method: 'HEAD', headers: auth ? { authorization: `Bearer ${auth}` } : {} });
        const body = await head.text();
        expect(head.status, path).to.equal(status);
        expect(get.status, path).to.equal(status);
        expect(head.headers.get('content-type'), path).to.match(type);
        expect(head.headers.get('x-content-type-options'), path).to.equal('nosniff');
        expect(body, path).to.equal('');
      }
    });
  });

  describe('closing', () => {
    it('a request that arrives on an open connection while the server closes gets 503 and Connection: close', async () => {
      const closing = await startServer();
      const { hostname, port } = new URL(closing.url);
      const socket = connect(Number(port), hostname);
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // Half a request: the connection is busy, so close() cannot drop it as idle.
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      const closed = closing.close();
      // close() has stopped the listener: the server is closing, the connection still open.
      await waitFor('the listener to stop', async () => !closing.server.app.server.listening, { intervalMs: 5 });
      socket.write('\r\n');
      await ended;
      await closed;
      const text = Buffer.concat(chunks).toString('utf8');
      expect(text).to.match(/^HTTP\/1\.1 503 /);
      expect(text.toLowerCase()).to.contain('connection: close');
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error?: string };
      expect(body.error).to.be.a('string');
      // And a new connection is refused once closed.
      const refused = await fetch(`${closing.url}/healthz`).then(
        () => false,
        () => true,
      );
      expect(refused).to.equal(true);
    });
  });
});
