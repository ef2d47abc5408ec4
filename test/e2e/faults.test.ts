// Fault injection against the operator as a separate process and the run's real control plane.
// Each test makes a storm of Organizations and VDCs, injects one fault, lets the system recover
// and then judges by counts and states: every object Active, its owed events written (no
// status.pendingEvents left, or its ticket in the delivery ledger), exactly one Created event per
// object uid.
import { expect } from 'chai';
import type { CoreV1Event } from '@kubernetes/client-node';
import { installCrds } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import type { ControlPlane } from '../../src/sandbox/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import { OperatorProcess, STORM, createStorm, expectOneCreatedEach, expectStoreMatches, uniquePrefix, waitConverged } from './support.js';

describe('fault injection (operator process, real control plane)', function () {
  this.timeout(600_000);
  let cp: ControlPlane;
  let api: KubeClient;
  const operators: OperatorProcess[] = [];
  const operator = (options?: ConstructorParameters<typeof OperatorProcess>[1]) => {
    const op = new OperatorProcess(cp, options);
    operators.push(op);
    return op;
  };
  const total = STORM.organizations * (1 + STORM.vdcsPerOrganization);

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
  });
  afterEach(async function () {
    this.timeout(120_000);
    for (const op of operators.splice(0)) await op.ensureStopped();
    if (!cp.apiServerRunning) await cp.startApiServer();
  });
  after(() => api?.close());

  it('kill -9 in the middle of a storm: after a restart every object is Active with exactly one Created event', async () => {
    const first = operator();
    await first.start();
    const second = operator();
    const storm = await createStorm(api, uniquePrefix('kill'), async (n) => {
      if (n !== Math.floor(total / 2)) return;
      first.kill('SIGKILL');
      expect((await first.waitExit()).signal).to.equal('SIGKILL');
      // The restart (a pod's): the storm goes on meanwhile.
      await second.start();
    });
    await waitConverged(api, storm);
    await expectOneCreatedEach(api, storm);
  });

  it('SIGTERM 0.1 s after kube-apiserver stopped, events queued: after both restart every Active object has its Created event', async () => {
    const first = operator();
    await first.start();
    const storm = await createStorm(api, uniquePrefix('term'));
    // Some objects are provisioned (their events queued or in flight), others not yet.
    await waitFor('a first VDC Active', async () => {
      const list = await api.list<{ status?: { phase?: string }; spec?: { organizationRef?: string } }>('/apis/ovim.io/v1/virtualdatacenters');
      return list.items.some((v) => v.spec?.organizationRef?.startsWith(storm.prefix) && v.status?.phase === 'Active');
    }, { timeoutMs: 120_000, intervalMs: 50 });
    await cp.stopApiServer();
    await new Promise((r) => setTimeout(r, 100));
    first.kill('SIGTERM');
    const exit = await first.waitExit();
    expect(exit, first.output.slice(-2000)).to.deep.equal({ code: 0, signal: null });
    await cp.startApiServer();
    const second = operator();
    await second.start();
    await waitConverged(api, storm);
    await expectOneCreatedEach(api, storm);
  });

  it('kube-apiserver stopped 30 s during a storm: convergence, no lost or repeated Created event, /health degraded then ok, the store sees later events and matches the API server', async () => {
    const op = operator();
    await op.start();
    const health = async () => ((await op.get('/health')).json as { status: string }).status;
    const storm = await createStorm(api, uniquePrefix('outage'), async (n) => {
      if (n !== Math.floor(total / 3)) return;
      await cp.stopApiServer();
      await waitFor('/health degraded during the outage', async () => (await health()) === 'degraded', { timeoutMs: 60_000 });
      expect((await op.get('/readyz')).status, '/readyz during the outage').to.equal(200);
      await new Promise((r) => setTimeout(r, 30_000)); // the fault: 30 s without an API server
      await cp.startApiServer();
    });
    await waitConverged(api, storm);
    await waitFor('/health ok after the outage', async () => (await health()) === 'ok', { timeoutMs: 60_000 });
    await expectOneCreatedEach(api, storm);
    // The event store followed the watch through the outage: the storm's last VDC's event is there.
    const [ns, name] = storm.vdcs[storm.vdcs.length - 1] as [string, string];
    await waitFor('the API store to show an event recorded after the outage', async () => {
      const res = await op.get(`/api/v1/events?namespace=${ns}&name=${name}&reason=VDCCreated`);
      return (res.json as { total_count: number }).total_count === 1;
    }, { timeoutMs: 60_000 });
    // Store consistency after the outage: the API's total_count equals the API server's Event
    // count, for a storm namespace and cluster-wide.
    await expectStoreMatches(op, api, `org-${storm.organizations[0] ?? ''}`);
    await expectStoreMatches(op, api);
  });

  it("etcd compacted past the informers' resourceVersion (410 Gone on the watches): every informer relists, nothing is missed, no Created event repeated", async () => {
    // info: the informers log each 410 they relist on.
    const op = operator({ env: { LOG_LEVEL: 'info' } });
    await op.start();
    let compacted = 0;
    const storm = await createStorm(api, uniquePrefix('compact'), async (n) => {
      if (n !== Math.floor(total / 2)) return;
      // The operator is frozen with its watches at resourceVersions of now; kube-apiserver goes
      // away (the watches are cut), etcd forgets every revision before its latest, kube-apiserver
      // comes back and the storm goes on. Resumed, the operator watches again from the old
      // resourceVersions: the answer is 410 Gone, and what was created meanwhile is seen only by
      // relisting.
      op.kill('SIGSTOP');
      try {
        await cp.stopApiServer();
        compacted = await cp.compactEtcd();
        await cp.startApiServer();
      } finally {
        op.kill('SIGCONT');
      }
    });
    expect(compacted, 'the compacted revision').to.be.greaterThan(0);
    await waitConverged(api, storm);
    await expectOneCreatedEach(api, storm);
    const relisted = new Set(
      op.logLines().filter((l) => l.message === 'watch expired (410); relisting').map((l) => l.path),
    );
    expect([...relisted], 'informers that relisted on 410 Gone').to.include.members([
      '/apis/ovim.io/v1/organizations',
      '/apis/ovim.io/v1/virtualdatacenters',
      '/api/v1/namespaces',
      '/api/v1/events',
    ]);
    // The event store relisted too: it matches the API server.
    await expectStoreMatches(op, api, `org-${storm.organizations[0] ?? ''}`);
    await expectStoreMatches(op, api);
  });

  it('SIGTERM during a storm: every event the operator recorded before it stopped is in the API server after the restart', async () => {
    const first = operator();
    await first.start();
    const prefix = uniquePrefix('drain');
    let storm: Awaited<ReturnType<typeof createStorm>> | undefined;
    storm = await createStorm(api, prefix, async (n) => {
      if (n === Math.floor(total / 2)) first.kill('SIGTERM');
    });
    const exit = await first.waitExit();
    expect(exit, first.output.slice(-2000)).to.deep.equal({ code: 0, signal: null });
    const stats = first.exitStats();
    expect(stats, 'the counters dumped at exit').to.not.equal(undefined);
    const recordedCreated = (stats?.recorded ?? []).filter((r) => r.reason === 'VDCCreated' || r.reason === 'OrganizationCreated').reduce((n, r) => n + r.count, 0);
    const second = operator();
    await second.start();
    await waitConverged(api, storm);
    await expectOneCreatedEach(api, storm);
    // Every Created event the first process recorded is written (the operator's own counter
    // covers this storm only: it started with none of the storm's objects).
    const events = await api.list<CoreV1Event>('/api/v1/events', { fieldSelector: 'source=ovim-controller' });
    const written = events.items.filter(
      (e) => (e.reason === 'VDCCreated' || e.reason === 'OrganizationCreated') && (e.metadata?.annotations?.['ovim.io/organization'] ?? '').startsWith(prefix),
    ).length;
    expect(written, 'Created events in the API server').to.be.at.least(recordedCreated);
    storm = undefined;
  });
});
