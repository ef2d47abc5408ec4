// Churn: VDCs created, updated and deleted in a loop (at most 200 objects per round), for
// E2E_CHURN_SECONDS (60 inside `make test`, 1800 with `make soak`). Judged by what the operator
// process holds afterwards: its heap after GC within 10% of the heap after the first round, and
// its informer caches holding the live objects only. The event store is capped small
// (OVIM_EVENT_STORE_MAX) so that it is full, hence flat, after the first round.
import { expect } from 'chai';
import { installCrds } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import type { ControlPlane } from '../../src/sandbox/controlplane.js';
import type { Organization, VirtualDataCenter } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import { OperatorProcess, inParallel, uniquePrefix } from './support.js';

const CHURN_SECONDS = Number(process.env.E2E_CHURN_SECONDS ?? 60);
const PER_ROUND = Number(process.env.E2E_CHURN_OBJECTS ?? 20);

describe('churn (operator process, real control plane)', function () {
  this.timeout((CHURN_SECONDS + 600) * 1000);
  let cp: ControlPlane;
  let api: KubeClient;
  let op: OperatorProcess | undefined;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
  });
  after(async function () {
    this.timeout(60_000);
    await op?.ensureStopped();
    api?.close();
  });

  it(`create/update/delete VDCs for ${CHURN_SECONDS} s: heap flat within 10% after GC, informer caches hold only live objects`, async () => {
    op = new OperatorProcess(cp, { nodeArgs: ['--expose-gc'], env: { OVIM_EVENT_STORE_MAX: '500' } });
    await op.start();
    const org = uniquePrefix('churn');
    const ns = `org-${org}`;
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name: org },
      spec: { displayName: org, admins: [`${org}-admins`] },
    });
    await waitFor('the organization Active', async () => (await api.get<Organization>(`/apis/ovim.io/v1/organizations/${org}`)).status?.phase === 'Active', { timeoutMs: 120_000 });
    const path = `/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters`;
    const live = async () => (await api.list<VirtualDataCenter>(path)).items;

    let round = 0;
    const oneRound = async () => {
      const names = Array.from({ length: Math.min(PER_ROUND, 200) }, (_, i) => `r${round}-${i}`);
      round++;
      await inParallel(names, 8, async (name) => {
        await api.create(path, {
          apiVersion: 'ovim.io/v1',
          kind: 'VirtualDataCenter',
          metadata: { name, namespace: ns },
          spec: { organizationRef: org, displayName: name, quota: { cpu: '1', memory: '1Gi', storage: '1Gi' } },
        });
      });
      await waitFor(`round ${round} Active`, async () => (await live()).filter((v) => v.status?.phase === 'Active').length === names.length, { timeoutMs: 300_000, intervalMs: 500 });
      await inParallel(names, 8, async (name) => {
        await api.patch(`${path}/${name}`, { spec: { quota: { cpu: '2' } } }, 'merge');
      });
      await inParallel(names, 8, async (name) => {
        await api.delete(`${path}/${name}`);
      });
      await waitFor(`round ${round} deleted`, async () => (await live()).length === 0, { timeoutMs: 300_000, intervalMs: 500 });
    };

    await oneRound();
    const baseline = await op.heap();
    const deadline = Date.now() + CHURN_SECONDS * 1000;
    while (Date.now() < deadline) await oneRound();
    const end = await op.heap();

    expect(round, 'rounds of churn').to.be.at.least(2);
    expect(end.heapUsed, `heap after GC: ${baseline.heapUsed} after round 1, ${end.heapUsed} after round ${round}`).to.be.at.most(baseline.heapUsed * 1.1);
    // No VDC is left: the caches hold none of the churned objects, and the VDC cache holds
    // exactly the VDCs the API server has.
    const allVdcs = (await api.list<VirtualDataCenter>('/apis/ovim.io/v1/virtualdatacenters')).items.length;
    await waitFor('the VDC cache to hold the live VDCs only', async () => (await op?.heap())?.informers.virtualdatacenters === allVdcs, { timeoutMs: 60_000, intervalMs: 1_000 });
  });
});
