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
// Long enough that a loaded machine does not make a renewing leader miss its deadline (eight
// tries a second apart); the tests wait on the Lease's own timestamps, never on sleeps.
const timing = { leaseDurationMs: 10_000, renewDeadlineMs: 8_000, retryPeriodMs: 1_000 };

interface LeaseSpec {
  holderIdentity?: string;
  acquireTime?: string;
  renewTime?: string;
  leaseDurationSeconds?: number;
}

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
  const leaseSpec = async (name: string) =>
    (await api.get<{ spec?: LeaseSpec }>(`/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}`)).spec ?? {};
  const ms = (microTime: string | undefined) => Date.parse(microTime ?? '');

  it('one holder at a time; stop() releases and the other takes over at once', async () => {
    const lease = `le-${sfx}`;
    const a = elector(lease, 'replica-a');
    const b = elector(lease, 'replica-b');
    // b's attempts from the release on: the first must take the lease (a counted handover, where
    // an expiry would take about ten of b's one-second attempts).
    let released = false;
    let attemptsSinceRelease = 0;
    let tookOnAttempt: number | undefined;
    const attempt = b.tryAcquireOrRenew.bind(b);
    b.tryAcquireOrRenew = async (deadline?: AbortSignal) => {
      const n = released ? ++attemptsSinceRelease : 0;
      const ok = await attempt(deadline);
      if (ok && n > 0) tookOnAttempt ??= n;
      return ok;
    };
    let aLed = 0;
    let bLed = 0;
    a.run({ onStartedLeading: () => void aLed++, onStoppedLeading: () => undefined });
    await waitFor('a leads', async () => a.isLeader());
    const bStarted = Date.now();
    b.run({ onStartedLeading: () => void bLed++, onStoppedLeading: () => undefined });
    // a renews past the point where its lease (as b first saw it) would have expired: b, trying
    // every second meanwhile, must still be a follower.
    const renewed = await waitFor(
      'a to renew beyond one lease duration after b started',
      async () => {
        const spec = await leaseSpec(lease);
        return ms(spec.renewTime) > bStarted + timing.leaseDurationMs ? spec : undefined;
      },
      { timeoutMs: 4 * timing.leaseDurationMs, intervalMs: 250 },
    );
    expect(renewed.holderIdentity).to.equal('replica-a');
    expect(b.isLeader(), 'b stays a follower while a renews').to.equal(false);
    expect(bLed).to.equal(0);
    await a.stop();
    released = true;
    const afterStop = await leaseSpec(lease);
    expect(afterStop.holderIdentity, 'stop() releases the lease').to.equal('');
    await waitFor('b leads', async () => b.isLeader(), { timeoutMs: 4 * timing.leaseDurationMs });
    const taken = await leaseSpec(lease);
    expect(taken.holderIdentity).to.equal('replica-b');
    // Taken on the release: by b's first attempt that began after it.
    expect(tookOnAttempt, "b's attempts after the release until it held the lease").to.equal(1);
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
    c.run({ onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
    await waitFor('c leads', async () => c.isLeader(), { timeoutMs: 60_000 });
    const taken = await leaseSpec(lease);
    expect(taken.holderIdentity).to.equal('replica-c');
    // Not before the crashed holder's last renewal plus its 3 s (the Lease's own times; c's
    // clock starts counting when it first sees the record, which is later still).
    expect(ms(taken.acquireTime) - ms(now)).to.be.at.least(3_000);
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
