// The unauthenticated routes — health, liveness, readiness, metrics, the panel's files — and
// the OpenAPI document, plus the listen-address and environment configuration.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import { createVerifier } from '../../../src/http/auth.js';
import { ConfigError, loadApiConfig, parseListenAddress } from '../../../src/http/config.js';
import { rawEvent, rawRequest, startServer, token, type TestServer } from './support.js';

describe('HTTP server', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startServer();
    srv.store.upsert(rawEvent({ name: 'e1', namespace: 'default' }));
  });

  after(async () => {
    await srv.close();
  });

  describe('/health', () => {
    it('503 with the checks before the informers sync, 200 after', async () => {
      srv.health.synced = false;
      let res = await srv.get('/health');
      expect(res.status).to.equal(503);
      expect(res.body).to.deep.equal({
        status: 'degraded',
        checks: {
          kubernetes: { status: 'reachable' },
          informers: { status: 'syncing' },
          event_store: { status: 'ok', size: 1, max_size: 100000, evictions: 0 },
          leader_election: { status: 'leader' },
        },
      });
      srv.health.synced = true;
      res = await srv.get('/health');
      expect(res.status).to.equal(200);
      expect((res.body as { status: string }).status).to.equal('ok');
    });

    it('503 when Kubernetes is unreachable; followers are healthy', async () => {
      srv.health.reachable = false;
      srv.health.leadership = 'follower';
      try {
        const res = await srv.get('/health');
        expect(res.status).to.equal(503);
        const body = res.body as { checks: { kubernetes: { status: string }; leader_election: { status: string } } };
        expect(body.checks.kubernetes.status).to.equal('unreachable');
        expect(body.checks.leader_election.status).to.equal('follower');
        srv.health.reachable = true;
        expect((await srv.get('/health')).status).to.equal(200);
      } finally {
        srv.health.reachable = true;
        srv.health.leadership = 'leader';
      }
    });

    it('/healthz is liveness: 200 even while degraded', async () => {
      srv.health.synced = false;
      try {
        const res = await srv.get('/healthz');
        expect(res.status).to.equal(200);
        expect(res.body).to.deep.equal({ status: 'ok' });
      } finally {
        srv.health.synced = true;
      }
    });

    it('/readyz follows the informers', async () => {
      srv.health.synced = false;
      try {
        const res = await srv.get('/readyz');
        expect(res.status).to.equal(503);
        expect((res.body as { error: string }).error).to.match(/not ready/);
      } finally {
        srv.health.synced = true;
      }
      const res = await srv.get('/readyz');
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'ready' });
    });
  });

  describe('/metrics', () => {
    it('exports API requests by route and code, latency, and the event store', async () => {
      const admin = await token('system_admin');
      await srv.get('/api/v1/events?limit=1', admin);
      await srv.get('/api/v1/events?limit=x', admin);
      await srv.get('/api/v1/events');
      await srv.get('/nowhere');
      const res = await srv.get('/metrics');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain/);
      const text = res.text;
      expect(text).to.match(/ovim_api_requests_total\{route="\/api\/v1\/events",method="GET",code="200"\} 1/);
      expect(text).to.match(/ovim_api_requests_total\{route="\/api\/v1\/events",method="GET",code="400"\} 1/);
      expect(text).to.match(/ovim_api_requests_total\{route="\/api\/v1\/events",method="GET",code="401"\} 1/);
      expect(text).to.match(/ovim_api_requests_total\{route="unmatched",method="GET",code="404"\} 1/);
      expect(text).to.match(/ovim_api_request_duration_seconds_count\{route="\/api\/v1\/events",method="GET"\} 3/);
      expect(text).to.match(/^ovim_event_store_events 1$/m);
      expect(text).to.match(/^ovim_event_store_evictions_total 0$/m);
      expect(text).to.match(/^ovim_event_store_max_events 100000$/m);
      expect(text).to.contain('controller_runtime_reconcile_total');
      expect(text).to.contain('workqueue_depth');
    });
  });

  describe('the panel', () => {
    it('serves one HTML page and its script and stylesheet, with a strict CSP', async () => {
      const page = await srv.get('/');
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      // Strict: nothing by default, same-origin scripts, styles and API calls, no framing, no
      // base or form targets, and no 'unsafe-*' source anywhere.
      const csp = new Map(
        (page.headers.get('content-security-policy') ?? '').split(';').map((d) => {
          const [name = '', ...sources] = d.trim().split(/\s+/);
          return [name, sources.join(' ')] as const;
        }),
      );
      expect(Object.fromEntries(csp)).to.deep.include({
        'default-src': "'none'",
        'script-src': "'self'",
        'style-src': "'self'",
        'connect-src': "'self'",
        'base-uri': "'none'",
        'form-action': "'none'",
        'frame-ancestors': "'none'",
      });
      for (const [name, sources] of csp) expect(sources, name).to.not.match(/unsafe|\*|http:|https:/);
      expect(page.text).to.contain('<script src="/panel/panel.js"');
      expect(page.text).to.contain('id="token"');
      const js = await srv.get('/panel/panel.js');
      expect(js.status).to.equal(200);
      expect(js.headers.get('content-type')).to.match(/^text\/javascript/);
      expect(js.text).to.contain('/api/v1/events');
      expect((await srv.get('/panel/panel.css')).headers.get('content-type')).to.match(/^text\/css/);
    });

    it('refuses path traversal sent as raw request lines (no client-side normalisation)', async () => {
      const probes = [
        '/panel/../package.json',
        '/panel/%2e%2e/package.json',
        '/panel/%2E%2E/%2E%2E/package.json',
        '/panel/..%2fpackage.json',
        '/panel/..%5c..%5cpackage.json',
        '/../package.json',
        '/panel/../../src/config.ts',
        '/panel/./panel.js/../../package.json',
      ];
      for (const path of probes) {
        const res = await rawRequest(srv.url, `GET ${path} HTTP/1.1`);
        expect(res.status, path).to.be.oneOf([400, 404]);
        expect(res.body, path).to.not.contain('ovim-operator');
        expect(res.body, path).to.not.contain('loadConfig');
        expect(JSON.parse(res.body), path).to.have.property('error');
      }
      // The probe itself reaches the server unchanged: the same socket path serves a real file.
      const ok = await rawRequest(srv.url, 'GET /panel/panel.js HTTP/1.1');
      expect(ok.status).to.equal(200);
      expect(ok.body).to.contain('/api/v1/events');
    });
  });

  describe('OpenAPI', () => {
    it('documents every served route and the query parameters of DESIGN.md section 5', async () => {
      const res = await srv.get('/api/v1/openapi.json', await token('system_admin'));
      expect(res.status).to.equal(200);
      const doc = res.body as {
        openapi: string;
        paths: Record<string, { get: { parameters?: { name: string; in: string; schema: { type: string } }[]; responses: Record<string, unknown> } }>;
        components: { schemas: Record<string, { required: string[] }>; securitySchemes: Record<string, unknown> };
      };
      expect(doc.openapi).to.match(/^3\./);
      for (const path of ['/api/v1/events', '/api/v1/events/', '/api/v1/events/recent', '/api/v1/openapi.json', '/health', '/healthz', '/readyz', '/metrics']) {
        expect(doc.paths, path).to.have.property(path);
      }
      const events = doc.paths['/api/v1/events']?.get;
      // The parameters of DESIGN.md section 5, as literals (the document is built from the very
      // schemas the server validates with, so comparing with those would prove nothing).
      expect(events?.parameters?.map((p) => p.name).sort()).to.deep.equal(
        [
          'actor', 'category', 'component', 'cursor', 'include_deleted', 'kind', 'limit', 'name', 'namespace', 'org_id', 'organization', 'page', 'page_size',
          'reason', 'search', 'since', 'sort_by', 'sort_order', 'type', 'until', 'user_id', 'username', 'vdc', 'vdc_id', 'vm_id',
        ],
      );
      expect(events?.parameters?.find((p) => p.name === 'page')?.schema.type).to.equal('integer');
      expect(events?.parameters?.find((p) => p.name === 'since')?.schema).to.include({ type: 'string', format: 'date-time' });
      const typeSchema = events?.parameters?.find((p) => p.name === 'type')?.schema as unknown as { anyOf: { enum?: string[] }[] };
      expect(typeSchema.anyOf[0]).to.deep.include({ enum: ['Normal', 'Warning', 'Error'] });
      expect(events?.parameters?.every((p) => p.in === 'query')).to.equal(true);
      expect(events?.parameters?.find((p) => p.name === 'limit')?.schema.type).to.equal('integer');
      expect(events?.responses).to.include.keys('200', '400', '401', '403');
      const recent = doc.paths['/api/v1/events/recent']?.get;
      expect(recent?.parameters?.map((p) => p.name)).to.deep.equal(['limit']);
      expect(doc.components.schemas.Event?.required).to.include.members(['id', 'last_timestamp', 'count']);
      expect(doc.components.securitySchemes).to.have.property('bearerAuth');
      // Every route the server has is documented (besides the panel's files).
      const served = srv.server.routes.filter((p) => !p.startsWith('/panel/') && p !== '/');
      expect(served.length).to.be.greaterThan(5);
      for (const path of served) expect(doc.paths, path).to.have.property(path);
    });
  });

  describe('configuration', () => {
    it('parses listen addresses', () => {
      expect(parseListenAddress(':8080')).to.deep.equal({ host: '0.0.0.0', port: 8080 });
      expect(parseListenAddress('127.0.0.1:0')).to.deep.equal({ host: '127.0.0.1', port: 0 });
      expect(parseListenAddress('[::1]:9000')).to.deep.equal({ host: '::1', port: 9000 });
      expect(parseListenAddress('localhost:80')).to.deep.equal({ host: 'localhost', port: 80 });
      for (const bad of ['8080', ':http', 'host:99999', '::1:80', '']) {
        expect(() => parseListenAddress(bad), bad).to.throw(ConfigError);
      }
    });

    it('listeners: :8080, :8081, :8082 by default; the API off (0) needs no JWT key; the probes cannot be off', () => {
      const LONG = 's3cret-s3cret-s3cret-s3cret-s3cret';
      expect(loadApiConfig({ OVIM_JWT_SECRET: LONG })).to.include({ address: ':8080', healthProbeAddress: ':8081', metricsAddress: ':8082' });
      const off = loadApiConfig({}, { address: '0', metricsAddress: '0' });
      expect(off).to.include({ address: '0', metricsAddress: '0', healthProbeAddress: ':8081' });
      expect(off.auth).to.deep.equal({});
      expect(loadApiConfig({ OVIM_API_ADDRESS: '0', OVIM_METRICS_ADDRESS: '127.0.0.1:9', OVIM_HEALTH_PROBE_ADDRESS: '[::1]:7' })).to.include({
        address: '0',
        metricsAddress: '127.0.0.1:9',
        healthProbeAddress: '[::1]:7',
      });
      // A flag wins over the variable: the API on again needs its key.
      expect(() => loadApiConfig({ OVIM_API_ADDRESS: '0' }, { address: ':8080' })).to.throw(ConfigError, /needs a JWT key.*--api-bind-address=0/);
      expect(() => loadApiConfig({ OVIM_JWT_SECRET: LONG, OVIM_HEALTH_PROBE_ADDRESS: '0' })).to.throw(ConfigError, /cannot be turned off/);
      expect(() => loadApiConfig({ OVIM_JWT_SECRET: LONG, OVIM_METRICS_ADDRESS: 'x' })).to.throw(ConfigError, /OVIM_METRICS_ADDRESS: invalid listen address/);
    });

    it('loads the secret from the environment or a file, and refuses to run without a key', () => {
      const dir = mkdtempSync(join(tmpdir(), 'ovim-api-config-'));
      try {
        const LONG = 's3cret-s3cret-s3cret-s3cret-s3cret';
        const fromEnv = loadApiConfig({ OVIM_JWT_SECRET: LONG });
        expect(fromEnv.address).to.equal(':8080');
        expect(fromEnv.maxEvents).to.equal(100_000);
        expect(new TextDecoder().decode(fromEnv.auth.secret)).to.equal(LONG);
        writeFileSync(join(dir, 'secret'), 'from-file-from-file-from-file-from-file\n');
        const fromFile = loadApiConfig({ OVIM_JWT_SECRET_FILE: join(dir, 'secret'), OVIM_API_ADDRESS: '127.0.0.1:9999', OVIM_EVENT_STORE_MAX: '500' });
        expect(new TextDecoder().decode(fromFile.auth.secret)).to.equal('from-file-from-file-from-file-from-file');
        expect(fromFile.address).to.equal('127.0.0.1:9999');
        expect(fromFile.maxEvents).to.equal(500);
        const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
        writeFileSync(join(dir, 'key.pem'), pem);
        const withKey = loadApiConfig({ OVIM_JWT_PUBLIC_KEY_FILE: join(dir, 'key.pem') });
        expect(withKey.auth.secret).to.equal(undefined);
        expect(() => createVerifier(withKey.auth)).to.not.throw();
        expect(() => loadApiConfig({})).to.throw(ConfigError, /needs a JWT key/);
        expect(() => loadApiConfig({ OVIM_JWT_SECRET: 'a', OVIM_JWT_SECRET_FILE: join(dir, 'secret') })).to.throw(ConfigError, /not both/);
        expect(() => loadApiConfig({ OVIM_JWT_SECRET_FILE: join(dir, 'missing') })).to.throw(ConfigError, /cannot read/);
        expect(() => loadApiConfig({ OVIM_JWT_SECRET: LONG, OVIM_API_ADDRESS: 'nope' })).to.throw(ConfigError, /listen address/);
        expect(() => loadApiConfig({ OVIM_JWT_SECRET: LONG, OVIM_EVENT_STORE_MAX: '0' })).to.throw(ConfigError);
        const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
        expect(() => createVerifier({ publicKey: { pem: p384 } })).to.throw(/unsupported JWT public key/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
