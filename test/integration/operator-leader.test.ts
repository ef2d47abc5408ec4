// Leader election on a real Lease: one holder at a time, release on stop hands over at once, an
// abandoned lease is taken only after its duration; two operators: only the leader reconciles.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../src/config.js';
import { installCrds } from '../../src/kube/crds.js';
import { LeaderElector } from '../../src/kube/leader.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startOperator, type Operator } from '../../src/operator.js';
import type { Organization } from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const sfx = randomBytes(2).toString('hex');
const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };

describe('operator leader election', function () {
  this.timeout(90_000);
  let cp: ControlPlane;
  let api: KubeClient;
  const cleanup: (() => Promise<void>)[] = [];

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
  });

  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  after(() => api?.close());

  const elector = (name: string, identity: string) => {
    const e = new LeaderElector({ client: api, namespace: 'default', name, identity, ...timing });
    cleanup.push(() => e.stop());
    return e;
  };
  const holder = async (name: string) =>
    (await api.get<{ spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}`)).spec?.holderIdentity;

  it('one holder at a time; stop() releases and the other takes over at once', async () => {
    const lease = `le-${sfx}`;
    const a = elector(lease, 'replica-a');
    const b = elector(lease, 'replica-b');
    let aLed = 0;
    let bLed = 0;
    a.run({ onStartedLeading: () => void aLed++, onStoppedLeading: () => undefined });
    await waitFor('a leads', async () => a.isLeader());
    b.run({ onStartedLeading: () => void bLed++, onStoppedLeading: () => undefined });
    await new Promise((r) => setTimeout(r, 2 * timing.leaseDurationMs)); // a keeps renewing meanwhile
    expect(b.isLeader(), 'b stays a follower while a renews').to.equal(false);
    expect(await holder(lease)).to.equal('replica-a');
    const released = Date.now();
    await a.stop();
    await waitFor('b leads', async () => b.isLeader());
    expect(Date.now() - released, 'handover well before the lease would expire').to.be.below(timing.leaseDurationMs);
    expect(await holder(lease)).to.equal('replica-b');
    expect([aLed, bLed]).to.deep.equal([1, 1]);
  });

  it('a lease abandoned by a crashed holder is taken only after its duration', async () => {
    const lease = `le-crash-${sfx}`;
    const now = new Date().toISOString().replace('Z', '000Z');
    await api.create('/apis/coordination.k8s.io/v1/namespaces/default/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: lease },
      spec: { holderIdentity: 'crashed', leaseDurationSeconds: 3, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    });
    const c = elector(lease, 'replica-c');
    const started = Date.now();
    c.run({ onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
    await waitFor('c leads', async () => c.isLeader(), { timeoutMs: 20_000 });
    expect(Date.now() - started).to.be.at.least(2_900);
    expect(await holder(lease)).to.equal('replica-c');
  });

  it('two operators: only the leader reconciles; when it stops, the other takes over', async function () {
    this.timeout(120_000);
    const config = (identity: string): OperatorConfig => ({
      ...DEFAULT_CONFIG,
      resyncPeriodMs: 0,
      leaderElection: { ...DEFAULT_CONFIG.leaderElection, enabled: true, namespace: 'default', name: `ovim-${sfx}`, identity, ...timing },
    });
    const writes = (o: Operator) =>
      Object.entries(o.client.stats.writesByResource)
        .filter(([k]) => !k.endsWith(' clusterroles'))
        .reduce((n, [, v]) => n + v, 0);
    const logger = createLogger('error', true);
    const one = await startOperator(cp.kubeConfig, config('one'), logger);
    cleanup.push(() => one.stop());
    await waitFor('one leads', async () => one.isLeader());
    const two = await startOperator(cp.kubeConfig, config('two'), logger);
    cleanup.push(() => two.stop());

    const orgActive = (name: string) =>
      waitFor(`${name} Active`, async () => {
        const o = await api.get<Organization>(`/apis/ovim.io/v1/organizations/${name}`);
        return o.status?.phase === 'Active' ? true : undefined;
      }, { timeoutMs: 60_000 });
    const create = (name: string) =>
      api.create('/apis/ovim.io/v1/organizations', {
        apiVersion: 'ovim.io/v1',
        kind: 'Organization',
        metadata: { name },
        spec: { displayName: name, admins: ['leader-admins'] },
      });

    await create(`lead-a-${sfx}`);
    await orgActive(`lead-a-${sfx}`);
    expect(two.isLeader()).to.equal(false);
    expect(writes(two), 'the follower writes nothing').to.equal(0);
    expect(writes(one)).to.be.greaterThan(0);

    await one.stop();
    await waitFor('two leads', async () => two.isLeader(), { timeoutMs: 20_000 });
    await create(`lead-b-${sfx}`);
    await orgActive(`lead-b-${sfx}`);
    expect(writes(two)).to.be.greaterThan(0);
  });
});
