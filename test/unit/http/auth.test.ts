// Authentication: a table of JWT attacks that must all be 401 with a JSON error, the accepted
// token forms (HS256 like the OVIM backend, RS256 and ES256 with a public key), role checks,
// and tokens never reaching the logs.
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { SignJWT, decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import winston from 'winston';
import { createVerifier, signToken } from '../../../src/http/auth.js';
import { SECRET, rawEvent, startServer, token, type TestServer } from './support.js';

const secretKey = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

const goodClaims = (): JWTPayload => ({
  user_id: 'u1',
  username: 'admin',
  role: 'system_admin',
  iss: 'ovim-backend',
  iat: now(),
  nbf: now(),
  exp: now() + 3600,
});

/** A token signed with HS256 over arbitrary header and payload (for tampering). */
function hs256(header: Record<string, unknown>, payload: JWTPayload, key: string | Buffer = SECRET): string {
  const signingInput = `${b64(header)}.${b64(payload)}`;
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}

function sign(payload: JWTPayload, alg = 'HS256', key: Uint8Array | Parameters<SignJWT['sign']>[0] = secretKey): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('HTTP authentication', () => {
  let srv: TestServer;
  const logLines: string[] = [];

  before(async () => {
    const logger = winston.createLogger({
      level: 'debug',
      format: winston.format.json(),
      transports: [
        new winston.transports.Stream({
          stream: new Writable({
            write(chunk: Buffer, _enc, done) {
              logLines.push(chunk.toString());
              done();
            },
          }),
        }),
      ],
    });
    // The attack table sends more than 20 bad tokens from one address: the 429 rule (tested in
    // security.test.ts) is raised here so that each attack's own 401 is what is checked.
    srv = await startServer({ logger, security: { limits: { perMinute: 10_000 } } });
    srv.store.upsert(rawEvent({ name: 'e1', namespace: 'default' }));
  });

  after(async () => {
    await srv.close();
  });

  it('accepts an HS256 token of the OVIM backend', async () => {
    const res = await srv.get('/api/v1/events', await sign(goodClaims()));
    expect(res.status, res.text).to.equal(200);
    expect((res.body as { total_count: number }).total_count).to.equal(1);
  });

  it('accepts the scheme case-insensitively', async () => {
    const t = await sign(goodClaims());
    const res = await srv.get('/api/v1/events', undefined, { authorization: `bearer ${t}` });
    expect(res.status).to.equal(200);
  });

  it('signToken makes tokens like the OVIM backend (HS256, iss, sub, 24 h)', async () => {
    const t = await signToken({ userId: 'u9', username: 'ops', role: 'system_admin' }, SECRET);
    expect(decodeProtectedHeader(t)).to.deep.equal({ alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwt(t);
    expect(claims).to.include({ user_id: 'u9', username: 'ops', role: 'system_admin', iss: 'ovim-backend', sub: 'u9' });
    expect(claims).to.not.have.property('org_id');
    expect((claims.exp as number) - (claims.iat as number)).to.equal(24 * 3600);
    expect((await srv.get('/api/v1/events', t)).status).to.equal(200);
  });

  describe('attacks → 401 with a JSON error', () => {
    const { user_id: _u, ...noUserId } = goodClaims();
    const { username: _n, ...noUsername } = goodClaims();
    const { role: _r, ...noRole } = goodClaims();
    const { exp: _e, ...noExp } = goodClaims();
    const { iss: _i, ...noIssuer } = goodClaims();
    const attacks: [string, () => Promise<Record<string, string>> | Record<string, string>, RegExp][] = [
      ['no Authorization header', () => ({}), /missing Authorization/],
      ['Basic credentials', () => ({ authorization: 'Basic YWRtaW46YWRtaW4=' }), /Bearer/],
      ['Bearer without a token', () => ({ authorization: 'Bearer ' }), /Bearer/],
      ['a token without a scheme', async () => ({ authorization: await sign(goodClaims()) }), /Bearer/],
      ['garbage', () => ({ authorization: 'Bearer not-a-jwt' }), /malformed/],
      ['two parts only', () => ({ authorization: `Bearer ${b64({ alg: 'HS256' })}.${b64(goodClaims())}` }), /malformed/],
      ['alg none, no signature', () => ({ authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(goodClaims())}.` }), /algorithm/],
      ['alg None (capitalised)', () => ({ authorization: `Bearer ${b64({ alg: 'None' })}.${b64(goodClaims())}.` }), /algorithm/],
      [
        'alg none with an HS256 signature',
        () => {
          const valid = hs256({ alg: 'HS256' }, goodClaims()).split('.');
          return { authorization: `Bearer ${b64({ alg: 'none' })}.${valid[1]}.${valid[2]}` };
        },
        /algorithm/,
      ],
      ['HS512 with the right secret (wrong algorithm)', async () => ({ authorization: `Bearer ${await sign(goodClaims(), 'HS512')}` }), /algorithm/],
      ['HS384 with the right secret (wrong algorithm)', async () => ({ authorization: `Bearer ${await sign(goodClaims(), 'HS384')}` }), /algorithm/],
      ['a wrong secret', () => ({ authorization: `Bearer ${hs256({ alg: 'HS256' }, goodClaims(), 'another-secret')}` }), /signature/],
      [
        'a tampered payload (org_user → system_admin)',
        () => {
          const parts = hs256({ alg: 'HS256' }, { ...goodClaims(), role: 'org_user', org_id: 'acme' }).split('.');
          return { authorization: `Bearer ${parts[0]}.${b64(goodClaims())}.${parts[2]}` };
        },
        /signature/,
      ],
      ['a stripped signature', () => ({ authorization: `Bearer ${hs256({ alg: 'HS256' }, goodClaims()).split('.').slice(0, 2).join('.')}.` }), /signature|malformed/],
      ['expired', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 })}` }), /expired/],
      ['expired beyond the clock tolerance', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), exp: now() - 60 })}` }), /expired/],
      ['not yet valid (nbf)', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), nbf: now() + 3600 })}` }), /not yet valid/],
      ['issued in the future (iat)', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), iat: now() + 3600 })}` }), /not yet valid/],
      ['a wrong issuer', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), iss: 'someone-else' })}` }), /issuer/],
      ['no issuer', async () => ({ authorization: `Bearer ${await sign(noIssuer)}` }), /iss/],
      ['no expiry', async () => ({ authorization: `Bearer ${await sign(noExp)}` }), /no exp claim/],
      ['no user_id', async () => ({ authorization: `Bearer ${await sign(noUserId)}` }), /no user_id claim/],
      ['no username', async () => ({ authorization: `Bearer ${await sign(noUsername)}` }), /no username claim/],
      ['no role', async () => ({ authorization: `Bearer ${await sign(noRole)}` }), /no role claim/],
      ['an empty role', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), role: '' })}` }), /no role claim/],
      ['a non-string role', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), role: ['system_admin'] })}` }), /role must be a string/],
      ['an org_admin without org_id', async () => ({ authorization: `Bearer ${await sign({ ...goodClaims(), role: 'org_admin' })}` }), /org_id/],
      ['RS256 when only a secret is configured', async () => ({ authorization: `Bearer ${await sign(goodClaims(), 'RS256', rsa.privateKey)}` }), /algorithm/],
      ['an unknown critical header', () => ({
        authorization: `Bearer ${hs256({ alg: 'HS256', crit: ['x-must'], 'x-must': 1 }, goodClaims())}`,
      }), /not supported/],
    ];

    for (const [what, headers, message] of attacks) {
      it(what, async () => {
        const res = await srv.get('/api/v1/events', undefined, await headers());
        expect(res.status, res.text).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.match(/^Bearer/);
        expect(res.body).to.have.all.keys('error');
        expect((res.body as { error: string }).error).to.match(message);
      });
    }

    it('a token in the query string is not a credential', async () => {
      const res = await srv.get(`/api/v1/events?access_token=${await sign(goodClaims())}`);
      expect(res.status).to.equal(401);
    });

    it('guards every /api/v1 route', async () => {
      for (const path of ['/api/v1/events', '/api/v1/events/', '/api/v1/events/recent', '/api/v1/openapi.json']) {
        expect((await srv.get(path)).status, path).to.equal(401);
      }
    });

    it('authenticates before validating parameters (no information without a token)', async () => {
      expect((await srv.get('/api/v1/events?limit=abc')).status).to.equal(401);
    });
  });

  it('a valid token with a role that has no access → 403', async () => {
    for (const role of ['viewer', 'SYSTEM_ADMIN', 'admin']) {
      const res = await srv.get('/api/v1/events', await token(role, 'acme'));
      expect(res.status, role).to.equal(403);
      expect((res.body as { error: string }).error).to.match(/role/);
    }
  });

  it('an org_id that is not an organization name → 403', async () => {
    const res = await srv.get('/api/v1/events', await token('org_admin', 'Acme Corp/../*'));
    expect(res.status).to.equal(403);
  });

  it('never logs tokens', async () => {
    const valid = await sign(goodClaims());
    const forged = hs256({ alg: 'HS256' }, goodClaims(), 'another-secret');
    await srv.get('/api/v1/events', valid);
    await srv.get('/api/v1/events?limit=abc', valid);
    const rejected = await srv.get('/api/v1/events', forged);
    expect(rejected.text).to.not.contain(forged.split('.')[2]);
    expect(logLines.length, 'the server logged the requests').to.be.greaterThan(0);
    const logs = logLines.join('\n');
    for (const t of [valid, forged]) {
      for (const part of t.split('.')) expect(logs).to.not.contain(part);
    }
    expect(logs).to.not.contain(SECRET);
  });

  it('a remembered token stops working when it expires, after the clock tolerance', async () => {
    // A fixed clock instead of a token that expires in one real second: on a loaded machine the
    // first check could already come too late. Both the cache and jose read the clock via Date.
    const RealDate = Date;
    const start = RealDate.now();
    let offsetMs = 0;
    class FixedDate extends RealDate {
      constructor(...args: ConstructorParameters<DateConstructor> | []) {
        if (args.length === 0) super(start + offsetMs);
        else super(...(args as ConstructorParameters<DateConstructor>));
      }
      static override now(): number {
        return start + offsetMs;
      }
    }
    globalThis.Date = FixedDate as DateConstructor;
    try {
      const verify = createVerifier({ secret: secretKey, clockToleranceSeconds: 30 });
      const exp = Math.floor(start / 1000) + 60;
      const remembered = await sign({ ...goodClaims(), exp });
      expect((await verify(remembered)).username).to.equal('admin');
      offsetMs = 60_000 + 29_000; // 29 s past exp: inside the tolerance, answered from the cache
      expect((await verify(remembered)).username).to.equal('admin', 'from the cache, inside the tolerance');
      offsetMs = 60_000 + 31_000; // 31 s past exp
      const error = await verify(remembered).then(() => undefined, (err: Error) => err);
      expect(error?.message).to.equal('token expired');
    } finally {
      globalThis.Date = RealDate;
    }
  });

  describe('public keys', () => {
    for (const [alg, pem, privateKey] of [
      ['RS256', rsaPem, rsa.privateKey],
      ['ES256', ecPem, ec.privateKey],
    ] as const) {
      it(`accepts ${alg} tokens signed by the configured key, and rejects key confusion`, async () => {
        const pk = await startServer({ auth: { secret: secretKey, publicKey: { pem } } });
        try {
          expect((await pk.get('/api/v1/events', await sign(goodClaims(), alg, privateKey))).status).to.equal(200);
          expect((await pk.get('/api/v1/events', await sign(goodClaims()))).status, 'HS256 still works').to.equal(200);
          // The classic confusion: an HS256 token whose HMAC key is the public key's PEM.
          const confused = hs256({ alg: 'HS256' }, goodClaims(), pem);
          expect((await pk.get('/api/v1/events', confused)).status).to.equal(401);
          const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
          if (alg === 'RS256') expect((await pk.get('/api/v1/events', await sign(goodClaims(), 'RS256', other.privateKey))).status).to.equal(401);
          const otherAlg = alg === 'RS256' ? await sign(goodClaims(), 'ES256', ec.privateKey) : await sign(goodClaims(), 'RS256', rsa.privateKey);
          expect((await pk.get('/api/v1/events', otherAlg)).status).to.equal(401);
        } finally {
          await pk.close();
        }
      });
    }

    it('works with a public key alone (no secret): HS256 tokens are then rejected', async () => {
      const pk = await startServer({ auth: { publicKey: { pem: rsaPem } } });
      try {
        expect((await pk.get('/api/v1/events', await sign(goodClaims(), 'RS256', rsa.privateKey))).status).to.equal(200);
        expect((await pk.get('/api/v1/events', await sign(goodClaims()))).status).to.equal(401);
      } finally {
        await pk.close();
      }
    });
  });
});
