// GET /api/v1/routes through the real HTTP server: scoped by the token, never a secret.
import { expect } from 'chai';
import { EventStore } from '../../../src/events/store.js';
import { createApiServer, type ApiServer } from '../../../src/http/server.js';
import { createMetrics } from '../../../src/metrics.js';
import { SECRET, token } from '../http/support.js';
import { route } from './support.js';

describe('GET /api/v1/routes', function () {
  let server: ApiServer;
  let url: string;
  const routes = [
    route('org-acme', 'slack', { sink: { webhook: { url: 'https://hooks.slack.example/services/T/B/TOKEN', format: 'slack', secretRef: { name: 'key', key: 'k' } } } }),
    route('org-acme-corp', 'corp', {}),
    route('ovim-system', 'all', {}),
  ];

  before(async function () {
    server = createApiServer({
      store: new EventStore(),
      metrics: createMetrics(),
      auth: { secret: new TextEncoder().encode(SECRET) },
      health: { kubernetesReachable: () => true, informersSynced: () => true, leadership: () => 'leader' },
      eventRoutes: () => routes,
    });
    url = await server.listen('127.0.0.1:0');
  });
  after(() => server.close());

  const get = async (t?: string) => {
    const res = await fetch(`${url}/api/v1/routes`, { headers: t ? { authorization: `Bearer ${t}` } : {} });
    return { status: res.status, text: await res.text() };
  };
  const names = (text: string) => (JSON.parse(text) as { routes: { namespace: string; name: string }[] }).routes.map((r) => `${r.namespace}/${r.name}`);

  it('a system admin sees every route', async function () {
    const res = await get(await token('system_admin'));
    expect(res.status).to.equal(200);
    expect(names(res.text)).to.deep.equal(['org-acme/slack', 'org-acme-corp/corp', 'ovim-system/all']);
  });

  it("an organization admin sees their organization's routes only (not acme-corp's)", async function () {
    const res = await get(await token('org_admin', 'acme'));
    expect(res.status).to.equal(200);
    expect(names(res.text)).to.deep.equal(['org-acme/slack']);
    expect(res.text).not.to.include('TOKEN');
    expect(res.text).not.to.include('"key"');
    expect(res.text).to.include('"destination":"https://hooks.slack.example"');
  });

  it('an organization user gets 403, no token 401', async function () {
    expect((await get(await token('org_user', 'acme'))).status).to.equal(403);
    expect((await get()).status).to.equal(401);
  });
});
