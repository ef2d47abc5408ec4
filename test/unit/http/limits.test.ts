// Issue 10's API bounds, each a regression test: idle sockets closed, a total connection cap,
// requests per socket; tokens too old, for another audience or signed with a short secret; the
// 429 rule for rejected tokens (never for a valid one); X-Forwarded-For only from a configured
// proxy; security events (AuthenticationFailed, AccessDenied) and sampled warnings.
import { once } from 'node:events';
import { request as httpRequest, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { SignJWT, type JWTPayload } from 'jose';
import winston from 'winston';
import { createVerifier } from '../../../src/http/auth.js';
import { ConfigError, applyApiFlags, loadApiConfig } from '../../../src/http/config.js';
import { loadConfig } from '../../../src/config.js';
import { waitFor } from '../../support/wait.js';
import { SECRET, rawEvent, startServer, token, type TestServer } from './support.js';

const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: JWTPayload = {}): JWTPayload => ({
  user_id: 'u1', username: 'admin', role: 'system_admin', iss: 'ovim-backend', iat: now(), exp: now() + 3600, ...extra,
});
const sign = (payload: JWTPayload) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(key);
const BAD = 'eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoieCJ9.bm90LWEtc2lnbmF0dXJlLWF0LWFsbA';

function port(srv: TestServer): number {
  return Number(new URL(srv.url).port);
}

async function openSocket(srv: TestServer): Promise<Socket> {
  const socket = connect(port(srv), '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** GET /healthz over a fresh socket: the response's text, or '' when the server closed it. */
async function rawGet(srv: TestServer): Promise<string> {
  const socket = connect(port(srv), '127.0.0.1');
  socket.on('error', () => undefined);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await once(socket, 'close');
  return text;
}

interface Recorded {
  object: KubernetesObject;
  type: string;
  reason: string;
  message: string;
  options: Record<string, unknown> | undefined;
}

function fakeRecorder(): { calls: Recorded[]; record: (...args: unknown[]) => void } {
  const calls: Recorded[] = [];
  return {
    calls,
    record: (object, type, reason, message, options) =>
      void calls.push({ object, type, reason, message, options } as Recorded),
  };
}

describe('API limits (issue 10)', function () {
  describe('sockets', function () {
    let srv: TestServer;
    afterEach(async () => srv?.close());

    // Regression: a silent socket stayed open for more than 320 s.
    it('closes a socket that sends nothing', async function () {
      this.timeout(20_000);
      srv = await startServer({ limits: { connectionTimeoutMs: 300 } });
      const socket = await openSocket(srv);
      await once(socket, 'close');
      expect(socket.destroyed).to.equal(true);
    });

    it('refuses connections past the total cap at once', async function () {
      this.timeout(20_000);
      srv = await startServer({ limits: { maxConnections: 2 } });
      const held = [await openSocket(srv), await openSocket(srv)];
      const third = connect(port(srv), '127.0.0.1');
      third.on('error', () => undefined);
      await once(third, 'close');
      expect(held.every((s) => !s.destroyed), 'the two held sockets stay open').to.equal(true);
      for (const s of held) s.destroy();
      // Once they are gone, new connections are served again.
      await waitFor('a free connection slot', async () => (await rawGet(srv)).startsWith('HTTP/1.1 200'));
    });

    it('closes a keep-alive socket after maxRequestsPerSocket requests', async function () {
      srv = await startServer({ limits: { maxRequestsPerSocket: 2 } });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const get = () =>
        new Promise<string | undefined>((resolve, reject) => {
          const req = httpRequest(`${srv.url}/healthz`, { agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.headers.connection));
          });
          req.on('error', reject);
          req.end();
        });
      expect(await get()).to.equal('keep-alive');
      expect(await get()).to.equal('close');
      agent.destroy();
    });

    it('defaults: 1024 connections, timeouts set', async function () {
      srv = await startServer();
      const server = srv.server.app.server;
      expect(server.maxConnections).to.equal(1024);
      expect(server.timeout, 'connectionTimeout').to.be.greaterThan(0);
      expect(server.requestTimeout).to.be.greaterThan(0);
      expect(server.maxRequestsPerSocket).to.be.greaterThan(0);
    });
  });

  describe('tokens', function () {
    let srv: TestServer;
    before(async () => {
      srv = await startServer({ auth: { secret: key, audience: 'ovim-events' }, security: { limits: { perMinute: 10_000 } } });
    });
    after(async () => srv.close());

    it('refuses a token issued more than 24 h ago, even with a later exp', async () => {
      const old = await sign(claims({ iat: now() - 25 * 3600, aud: 'ovim-events' }));
      const res = await srv.get('/api/v1/events', old);
      expect(res.status).to.equal(401);
      expect((res.body as { error: string }).error).to.match(/older than the maximum token age/);
      expect((await srv.get('/api/v1/events', await sign(claims({ iat: now() - 23 * 3600, aud: 'ovim-events' })))).status).to.equal(200);
    });

    it('refuses a token without iat', async () => {
      const { iat: _iat, ...noIat } = claims({ aud: 'ovim-events' });
      const res = await srv.get('/api/v1/events', await sign(noIat));
      expect(res.status).to.equal(401);
      expect((res.body as { error: string }).error).to.match(/iat/);
    });

    it('checks the audience when one is configured', async () => {
      expect((await srv.get('/api/v1/events', await sign(claims({ aud: 'ovim-events' })))).status).to.equal(200);
      const other = await srv.get('/api/v1/events', await sign(claims({ aud: 'something-else' })));
      expect(other.status).to.equal(401);
      expect((other.body as { error: string }).error).to.match(/audience/);
      expect((await srv.get('/api/v1/events', await sign(claims()))).status, 'no aud').to.equal(401);
    });

    it('a shorter max age is honoured, also for a token already verified once', async () => {
      const verify = createVerifier({ secret: key, maxTokenAgeSeconds: 60, clockToleranceSeconds: 0 });
      expect((await verify(await sign(claims({ iat: now() - 30 })))).username).to.equal('admin');
      let error: Error | undefined;
      await verify(await sign(claims({ iat: now() - 120 }))).catch((err: Error) => (error = err));
      expect(error?.message).to.match(/older than the maximum token age/);
    });

    it('refuses secrets shorter than 32 bytes at start, with a clear error', () => {
      expect(() => createVerifier({ secret: new TextEncoder().encode('short-secret') })).to.throw(/at least 32/);
      expect(() => loadApiConfig({ OVIM_JWT_SECRET: 'x'.repeat(31) })).to.throw(ConfigError, /31 bytes long.*at least 32/);
      expect(() => loadApiConfig({ OVIM_JWT_SECRET: 'x'.repeat(32) })).to.not.throw();
    });
  });

  describe('flags and environment', function () {
    it('--jwt-max-age, --jwt-audience, --trusted-proxies and --api-max-connections reach the API configuration', () => {
      const cfg = loadConfig(
        ['--jwt-max-age', '2h', '--jwt-audience=ovim-events', '--trusted-proxies', '10.0.0.1, 10.1.0.0/16,::1', '--api-max-connections', '50'],
        {},
      );
      const api = applyApiFlags(loadApiConfig({ OVIM_JWT_SECRET: SECRET, OVIM_JWT_MAX_AGE: '10m' }), cfg.api);
      expect(api.auth.maxTokenAgeSeconds).to.equal(7200);
      expect(api.auth.audience).to.equal('ovim-events');
      expect(api.trustedProxies).to.deep.equal(['10.0.0.1', '10.1.0.0/16', '::1']);
      expect(api.maxConnections).to.equal(50);
      expect(loadApiConfig({ OVIM_JWT_SECRET: SECRET, OVIM_JWT_MAX_AGE: '10m' }).auth.maxTokenAgeSeconds).to.equal(600);
    });

    it('refuses bad values with a readable error', () => {
      expect(() => loadConfig(['--trusted-proxies', 'proxy.local'], {})).to.throw(/not an IP address or CIDR/);
      expect(() => loadConfig(['--trusted-proxies', '10.0.0.0/33'], {})).to.throw(/not an IP address or CIDR/);
      expect(() => loadConfig(['--jwt-max-age', '0'], {})).to.throw(/duration/);
      expect(() => loadConfig(['--jwt-max-age', '1d'], {})).to.throw(/duration/);
      expect(() => loadConfig(['--api-max-connections', '-1'], {})).to.throw(/whole number/);
    });
  });

  describe('rejected tokens', function () {
    let srv: TestServer;
    let recorder: ReturnType<typeof fakeRecorder>;
    const lines: string[] = [];
    let admin: string;

    beforeEach(async () => {
      recorder = fakeRecorder();
      lines.length = 0;
      const logger = winston.createLogger({
        level: 'debug',
        format: winston.format.json(),
        transports: [new winston.transports.Stream({ stream: new Writable({ write: (c: Buffer, _e, done) => done(void lines.push(c.toString())) }) })],
      });
      srv = await startServer({
        logger,
        trustedProxies: ['127.0.0.1'],
        security: { recorder: recorder as never, namespace: 'ovim-system' },
      });
      srv.store.upsert(rawEvent({ name: 'e1', namespace: 'org-acme' }));
      admin = await token('system_admin');
    });
    afterEach(async () => srv.close());

    const bad = (from?: string) => srv.get('/api/v1/events', BAD, from ? { 'x-forwarded-for': from } : {});

    it('answers 429 with Retry-After after more than 20 rejected tokens a minute from one address', async () => {
      for (let i = 0; i < 20; i++) expect((await bad('203.0.113.7')).status, `rejection ${i + 1}`).to.equal(401);
      const blocked = await bad('203.0.113.7');
      expect(blocked.status).to.equal(429);
      expect(Number(blocked.headers.get('retry-after'))).to.be.within(59, 60);
      expect((blocked.body as { error: string }).error).to.match(/too many rejected tokens/);
      // Another client address is not affected.
      expect((await bad('203.0.113.8')).status).to.equal(401);
    });

    it('never throttles a request with a valid token, even from a blocked address', async () => {
      for (let i = 0; i < 25; i++) await bad('203.0.113.9');
      expect((await bad('203.0.113.9')).status).to.equal(429);
      const res = await srv.get('/api/v1/events', admin, { 'x-forwarded-for': '203.0.113.9' });
      expect(res.status).to.equal(200);
    });

    it('uses X-Forwarded-For only from a configured proxy', async () => {
      const direct = await startServer({ security: { recorder: fakeRecorder() as never } });
      try {
        // Without trusted proxies, rotating the header does not give a fresh address.
        for (let i = 0; i < 21; i++) await direct.get('/api/v1/events', BAD, { 'x-forwarded-for': `198.51.100.${i}` });
        expect((await direct.get('/api/v1/events', BAD, { 'x-forwarded-for': '198.51.100.200' })).status).to.equal(429);
      } finally {
        await direct.close();
      }
      // Behind the configured proxy (127.0.0.1), each forwarded client counts on its own.
      for (let i = 0; i < 30; i++) expect((await bad(`198.51.100.${i}`)).status).to.equal(401);
      const events = recorder.calls.filter((c) => c.reason === 'AuthenticationFailed');
      expect(events.some((e) => e.message.includes('198.51.100.29'))).to.equal(true);
    });

    it('records AuthenticationFailed on the operator\'s Namespace per client address, never the token', async () => {
      for (let i = 0; i < 5; i++) await bad('192.0.2.10');
      await srv.get('/api/v1/events'); // no credentials at all: no rejected token
      const events = recorder.calls.filter((c) => c.reason === 'AuthenticationFailed');
      expect(events).to.have.length(5);
      for (const e of events) {
        expect(e.type).to.equal('Warning');
        expect(e.object).to.deep.include({ apiVersion: 'v1', kind: 'Namespace' });
        expect(e.object.metadata?.name).to.equal('ovim-system');
        expect(e.message).to.include('192.0.2.10');
        for (const part of BAD.split('.')) expect(e.message).to.not.include(part);
      }
    });

    it('records AccessDenied on the caller\'s Organization for a 403', async () => {
      const acmeAdmin = await token('org_admin', 'acme', 'boss');
      const res = await srv.get('/api/v1/events?namespace=kube-system', acmeAdmin, { 'x-forwarded-for': '192.0.2.20' });
      expect(res.status).to.equal(403);
      const denied = recorder.calls.filter((c) => c.reason === 'AccessDenied');
      expect(denied).to.have.length(1);
      expect(denied[0]?.object).to.deep.include({ kind: 'Organization' });
      expect(denied[0]?.object.metadata?.name).to.equal('acme');
      expect(denied[0]?.message).to.include('boss').and.include('192.0.2.20').and.include('kube-system');
      expect(denied[0]?.type).to.equal('Warning');
    });

    it('logs rejections at warn, sampled: one line per address and minute', async () => {
      for (let i = 0; i < 15; i++) await bad('192.0.2.30');
      for (let i = 0; i < 3; i++) await bad('192.0.2.31');
      const warns = lines.map((l) => JSON.parse(l) as { level: string; message: string; client?: string }).filter((l) => l.level === 'warn' && l.message === 'rejected a bearer token');
      expect(warns.map((w) => w.client)).to.deep.equal(['192.0.2.30', '192.0.2.31']);
      for (const part of BAD.split('.')) expect(lines.join('\n')).to.not.include(part);
    });
  });
});
