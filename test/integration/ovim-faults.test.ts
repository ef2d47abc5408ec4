// The whole program in-process (startOvim: operator, event store, API) through a kube-apiserver
// outage: one informer per resource and selector (the managed namespaces watched once),
// /health degraded while the API server is away and ok again after it is back, /readyz 200
// throughout (the caches serve), and the dropped-events series exported from zero.
import { expect } from 'chai';
import { DEFAULT_CONFIG } from '../../src/config.js';
import { installCrds } from '../../src/kube/crds.js';
import { createLogger } from '../../src/log.js';
import { startOvim, type Ovim } from '../../src/main.js';
import type { ControlPlane } from '../support/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';

describe('the program through a kube-apiserver outage', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let ovim: Ovim | undefined;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    ovim = await startOvim(
      cp.kubeConfig,
      { ...DEFAULT_CONFIG, resyncPeriodMs: 0 },
      { address: '127.0.0.1:0', maxEvents: 1000, auth: { secret: new TextEncoder().encode('a-test-secret-of-enough-length-0123456789'), issuer: 'ovim-backend' } },
      createLogger('error', true),
    );
  });
  after(async function () {
    this.timeout(60_000);
    if (!cp.apiServerRunning) await cp.startApiServer();
    await ovim?.stop();
  });

  const get = async (path: string) => {
    const res = await fetch(`${ovim?.apiUrl}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const health = async () => JSON.parse((await get('/health')).body) as { status: string; checks: { informers: { status: string } } };

  it('shares one informer per resource and selector: the managed namespaces are watched once', () => {
    const names = (ovim as Ovim).informers.all().map((i) => i.name);
    expect(names.filter((n) => n.startsWith('namespaces')), names.join(', ')).to.have.length(1);
    expect(new Set(names).size).to.equal(names.length);
    expect(names).to.include('events');
  });

  it('exports ovim_events_dropped_total for every cause from zero', async () => {
    const { body } = await get('/metrics');
    for (const cause of ['queue_full', 'no_object', 'rejected', 'namespace_terminating', 'retries_exhausted', 'shutdown']) {
      expect(body).to.match(new RegExp(`^ovim_events_dropped_total\\{cause="${cause}"\\} \\d+$`, 'm'));
    }
  });

  it('/health is degraded during the outage and ok after it; /readyz stays 200', async () => {
    await waitFor('/health ok', async () => (await health()).status === 'ok', { timeoutMs: 60_000 });
    await cp.stopApiServer();
    await waitFor('/health degraded with disconnected informers', async () => {
      const h = await health();
      return h.status === 'degraded' && h.checks.informers.status === 'disconnected';
    }, { timeoutMs: 60_000 });
    expect((await get('/readyz')).status, '/readyz during the outage').to.equal(200);
    await cp.startApiServer();
    await waitFor('/health ok after the outage', async () => (await health()).status === 'ok', { timeoutMs: 60_000 });
    expect((await get('/readyz')).status).to.equal(200);
    expect((ovim as Ovim).informers.isWatching()).to.equal(true);
  });
});
