// npm run bench:reconcile [-- --orgs N --vdcs M --concurrency C]
// (or BENCH_ORGS, BENCH_VDCS, BENCH_CONCURRENCY)
//
// On its own control plane, with the admission webhook serving on loopback as in production:
// N organizations x M VDCs from creation to all Active through the operator, beside two raw
// baselines with the same client and concurrency. The baseline is the contract's minimal end
// state: per object the custom resource, its children (namespaces, role bindings, quotas, limit
// ranges, network policies), one status write and one event. The old baseline (children only)
// is printed beside it. Then one full resync of everything and the writes it issued (target 0).
import { ControlPlane } from '../test/support/controlplane.js';
import { DEFAULT_CONFIG, type OperatorConfig } from '../src/config.js';
import { installCrds } from '../src/kube/crds.js';
import { applyObject, type PlainObject } from '../src/kube/apply.js';
import { KubeClient } from '../src/kube/rest.js';
import { createLogger } from '../src/log.js';
import { startOperator } from '../src/operator.js';
import { startAdmission } from '../src/admission/index.js';
import { freePort } from '../test/support/controlplane.js';
import type { EventRecorder } from '../src/events/recorder.js';
import { desiredLimitRange } from '../src/resources/limitrange.js';
import { desiredOrganizationNamespace, desiredVdcNamespace } from '../src/resources/namespace.js';
import { desiredNetworkPolicy } from '../src/resources/networkpolicy.js';
import { desiredResourceQuota } from '../src/resources/quota.js';
import { desiredOrganizationRoleBindings, desiredVdcRoleBindings, routeSecretsRoleBinding } from '../src/resources/rbac.js';
import type { Organization, VirtualDataCenter, VdcQuota } from '../src/resources/types.js';
import { option } from './support.js';

const ORGS = option('--orgs', 'BENCH_ORGS', 100);
const VDCS = option('--vdcs', 'BENCH_VDCS', 5);
const CONCURRENCY = option('--concurrency', 'BENCH_CONCURRENCY', DEFAULT_CONFIG.workers.vdc);
const QUOTA: VdcQuota = { cpu: '4', memory: '8Gi', storage: '100Gi', pods: 100, virtualMachines: 50 };

/** Runs `work` over the items with at most `concurrency` at once. */
async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** A queue fed while it runs: VDC work becomes available as each organization is done. */
class FeedPool<T> {
  private readonly items: T[] = [];
  private readonly waiters: (() => void)[] = [];
  private closed = false;
  constructor(private readonly concurrency: number, private readonly work: (item: T) => Promise<void>) {}
  push(item: T): void {
    this.items.push(item);
    this.waiters.shift()?.();
  }
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
  }
  run(): Promise<void> {
    return Promise.all(
      Array.from({ length: this.concurrency }, async () => {
        for (;;) {
          const item = this.items.shift();
          if (item !== undefined) {
            await this.work(item);
            continue;
          }
          if (this.closed) return;
          await new Promise<void>((r) => this.waiters.push(r));
        }
      }),
    ).then(() => undefined);
  }
}

const names = (prefix: string) =>
  Array.from({ length: ORGS }, (_, i) => ({
    org: `${prefix}${String(i).padStart(3, '0')}`,
    vdcs: Array.from({ length: VDCS }, (_, j) => `v${j}`),
  }));

/**
 * An organization's role bindings as the operator leaves them: its admins' and the operator's
 * own route-secrets binding (the operator's config names its ServiceAccount by default).
 */
const orgRoleBindings = (org: string) => [
  ...desiredOrganizationRoleBindings(org, [`${org}-admins`]),
  routeSecretsRoleBinding(org, DEFAULT_CONFIG.routes.serviceAccount),
];

/** The raw baseline: the same children, created directly (namespace first, the rest in parallel). */
/** What the operator writes for one VDC: its namespace, then quota, limits, policy, bindings. */
async function applyVdcChildren(client: KubeClient, org: string, vdc: string): Promise<void> {
    await applyObject(client, desiredVdcNamespace(org, vdc) as PlainObject);
    await Promise.all(
      [
        desiredResourceQuota(org, vdc, QUOTA),
        desiredLimitRange(org, vdc, undefined),
        desiredNetworkPolicy(org, vdc, 'default'),
        ...desiredVdcRoleBindings(org, vdc, [`${org}-admins`]),
      ].map((o) => applyObject(client, o as PlainObject)),
    );
}

async function baseline(client: KubeClient, prefix: string): Promise<{ ms: number; writes: number }> {
  const writes0 = client.writes;
  const started = performance.now();
  const vdcPool = new FeedPool<{ org: string; vdc: string }>(CONCURRENCY, async ({ org, vdc }) => {
    await applyVdcChildren(client, org, vdc);
  });
  const vdcsDone = vdcPool.run();
  await pool(names(prefix), CONCURRENCY, async ({ org, vdcs }) => {
    await applyObject(client, desiredOrganizationNamespace(org) as PlainObject);
    await Promise.all(orgRoleBindings(org).map((o) => applyObject(client, o as PlainObject)));
    for (const vdc of vdcs) vdcPool.push({ org, vdc });
  });
  vdcPool.close();
  await vdcsDone;
  return { ms: performance.now() - started, writes: client.writes - writes0 };
}

/**
 * The contract's minimal end state done by hand: per object the custom resource, its children,
 * one status write and one event.
 */
async function fullBaseline(client: KubeClient, prefix: string): Promise<{ ms: number; writes: number }> {
  const writes0 = client.writes;
  const started = performance.now();
  const finish = async (path: string, namespace: string, kind: string, name: string) => {
    await client.patch(`${path}/${name}/status`, { status: { phase: 'Active' } }, 'merge');
    await client.create(`/api/v1/namespaces/${namespace}/events`, {
      metadata: { generateName: `${name}.` },
      involvedObject: { apiVersion: 'ovim.io/v1', kind, name, namespace: kind === 'Organization' ? undefined : namespace },
      type: 'Normal',
      reason: `${kind === 'Organization' ? 'Organization' : 'VDC'}Created`,
      message: `${kind} '${name}' created`,
      source: { component: 'bench-baseline' },
    });
  };
  const vdcPool = new FeedPool<{ org: string; vdc: string }>(CONCURRENCY, async ({ org, vdc }) => {
    const path = `/apis/ovim.io/v1/namespaces/org-${org}/virtualdatacenters`;
    await client.create(path, {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name: vdc, namespace: `org-${org}` },
      spec: { organizationRef: org, displayName: vdc, quota: QUOTA },
    });
    await applyVdcChildren(client, org, vdc);
    await finish(path, `org-${org}`, 'VirtualDataCenter', vdc);
  });
  const vdcsDone = vdcPool.run();
  await pool(names(prefix), CONCURRENCY, async ({ org, vdcs }) => {
    await client.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name: org },
      spec: { displayName: org, admins: [`${org}-admins`] },
    });
    await applyObject(client, desiredOrganizationNamespace(org) as PlainObject);
    await Promise.all(orgRoleBindings(org).map((o) => applyObject(client, o as PlainObject)));
    await finish('/apis/ovim.io/v1/organizations', 'default', 'Organization', org);
    for (const vdc of vdcs) vdcPool.push({ org, vdc });
  });
  vdcPool.close();
  await vdcsDone;
  return { ms: performance.now() - started, writes: client.writes - writes0 };
}

/**
 * Removes the custom resources of a full-baseline run so that the operator does not reconcile
 * them (untimed; run while no webhook is registered, so no deletion is stamped or recorded).
 */
async function removeCustomResources(client: KubeClient, prefix: string): Promise<void> {
  await pool(names(prefix), CONCURRENCY * 2, async ({ org, vdcs }) => {
    const paths = [
      ...vdcs.map((vdc) => `/apis/ovim.io/v1/namespaces/org-${org}/virtualdatacenters/${vdc}`),
      `/apis/ovim.io/v1/organizations/${org}`,
    ];
    for (const path of paths) {
      await untilWebhookGone(() => client.patch(path, { metadata: { finalizers: null } }, 'merge'));
      await untilWebhookGone(() => client.delete(path));
    }
  });
}

/**
 * Retries a write refused because the API server still calls the stopped webhook: it drops a
 * deleted webhook configuration from its cache a moment later (seen: connection refused).
 */
async function untilWebhookGone<T>(write: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await write();
    } catch (err) {
      if (tries >= 150 || !/failed calling webhook/.test(err instanceof Error ? err.message : String(err))) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function removeWebhookConfigurations(client: KubeClient): Promise<void> {
  for (const plural of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
    await client.delete(`/apis/admissionregistration.k8s.io/v1/${plural}/ovim-operator`);
  }
}

async function main(): Promise<void> {
  process.stderr.write(`starting a control plane for ${ORGS} organizations x ${VDCS} VDCs, concurrency ${CONCURRENCY}...\n`);
  const cp = await ControlPlane.start();
  try {
    await installCrds(cp.kubeConfig);
    const client = await KubeClient.create(cp.kubeConfig);

    // Warm-up (TLS session, discovery caches, admission plugins) so neither run pays for it.
    await applyObject(client, desiredOrganizationNamespace('warmup') as PlainObject);

    // The machine may be shared: the baseline runs before and after the operator, and the
    // ratio is taken against their mean, so that a load change during the run shows.
    // The webhook as in production: every custom resource write (baseline's too) goes through it.
    const port = await freePort();
    const webhook = { ...DEFAULT_CONFIG.webhook, port, host: '127.0.0.1', url: `https://127.0.0.1:${port}` };
    let admission = await startAdmission(cp.kubeConfig, webhook, { namespace: 'default' });

    // Both baselines run before and after the operator (the machine may be shared): ratios are
    // taken against the mean, so that a load change during the run shows.
    process.stderr.write('children-only baseline (before)...\n');
    const base1 = await baseline(client, 'pre');
    process.stderr.write('full baseline (before)...\n');
    const full1 = await fullBaseline(client, 'fpre');
    await admission.stop();
    await removeWebhookConfigurations(client);
    await removeCustomResources(client, 'fpre');
    admission = await startAdmission(cp.kubeConfig, webhook, { namespace: 'default' });

    process.stderr.write('operator...\n');
    const config: OperatorConfig = {
      ...DEFAULT_CONFIG,
      resyncPeriodMs: 0,
      workers: { organization: CONCURRENCY, vdc: CONCURRENCY, quota: Math.max(1, Math.ceil(CONCURRENCY / 2)) },
    };
    const op = await startOperator(cp.kubeConfig, config, createLogger('error', true), { actorVerifier: admission.verifier });
    const driver = await KubeClient.create(cp.kubeConfig);
    const items = names('op');
    const total = ORGS * (1 + VDCS);

    // Completion is read from the operator's own caches (no extra load on the API server).
    let active = 0;
    const activeKeys = new Set<string>();
    let allActive!: () => void;
    const done = new Promise<void>((r) => (allActive = r));
    const nsWaiters = new Map<string, () => void>();
    const onObject = (o: Organization | VirtualDataCenter) => {
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      if (o.status?.phase === 'Active' && !activeKeys.has(key)) {
        activeKeys.add(key);
        if (++active === total) allActive();
      }
    };
    op.informers.organizations.on('update', onObject);
    op.informers.vdcs.on('update', onObject);
    op.informers.namespaces.on('add', (ns) => nsWaiters.get(ns.metadata.name)?.());
    const namespaceReady = (name: string) =>
      op.informers.namespaces.get(name) ? Promise.resolve() : new Promise<void>((r) => nsWaiters.set(name, r));

    let orgsReady = 0;
    const started = performance.now();
    const vdcPool = new FeedPool<{ org: string; vdc: string }>(CONCURRENCY, async ({ org, vdc }) => {
      await driver.create(`/apis/ovim.io/v1/namespaces/org-${org}/virtualdatacenters`, {
        apiVersion: 'ovim.io/v1',
        kind: 'VirtualDataCenter',
        metadata: { name: vdc, namespace: `org-${org}` },
        spec: { organizationRef: org, displayName: vdc, quota: QUOTA },
      });
    });
    const vdcsDone = vdcPool.run();
    await pool(items, CONCURRENCY, async ({ org, vdcs }) => {
      await driver.create('/apis/ovim.io/v1/organizations', {
        apiVersion: 'ovim.io/v1',
        kind: 'Organization',
        metadata: { name: org },
        spec: { displayName: org, admins: [`${org}-admins`] },
      });
      // A VDC lives in org-<org>, which the operator creates: queue its VDCs when it exists.
      void namespaceReady(`org-${org}`).then(() => {
        for (const vdc of vdcs) vdcPool.push({ org, vdc });
        if (++orgsReady === ORGS) vdcPool.close();
      });
    });
    await vdcsDone;
    await done;
    const opMs = performance.now() - started;
    // Every write the operator makes for these objects counts, deferred ones included: wait until
    // the controllers are idle, the events written and the confirmed deliveries recorded, and
    // again until a round changes nothing (a confirmation may enqueue a key).
    const recorder = op.recorder as EventRecorder;
    const allWrites = () => op.client.writes + op.deliveries.writes + recorder.stats().written + recorder.stats().patched;
    for (let before = -1; before !== allWrites(); ) {
      before = allWrites();
      await op.waitIdle(120_000);
      await recorder.flush(60_000);
      await op.deliveries.flush();
    }
    const stats = recorder.stats();
    const eventWrites = stats.written + stats.patched;
    const ledgerWrites = op.deliveries.writes;
    const operatorWrites = ledgerWrites + op.client.writes - Object.entries(op.client.stats.writesByResource).filter(([k]) => k.endsWith(' clusterroles')).reduce((n, [, v]) => n + v, 0);
    const crWrites = driver.writes;
    const byResource = { ...op.client.stats.writesByResource, 'delivery ledger (configmap)': ledgerWrites };

    // One full resync of everything.
    const writesBefore = op.client.writes + op.deliveries.writes;
    const eventsBefore = eventWrites;
    const resyncStarted = performance.now();
    op.resync();
    await op.waitIdle(120_000);
    const resyncMs = performance.now() - resyncStarted;
    await recorder.flush(30_000);
    const after = recorder.stats();
    await op.deliveries.flush();
    const resyncWrites = op.client.writes + op.deliveries.writes - writesBefore;
    const resyncEvents = after.written + after.patched - eventsBefore;

    await op.stop();
    driver.close();

    process.stderr.write('children-only baseline (after)...\n');
    const base2 = await baseline(client, 'post');
    process.stderr.write('full baseline (after)...\n');
    const full2 = await fullBaseline(client, 'fpost');
    client.close();
    await admission.stop();
    const base = { ms: (base1.ms + base2.ms) / 2, writes: base1.writes };
    const full = { ms: (full1.ms + full2.ms) / 2, writes: full1.writes };

    const row = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
    const s = (ms: number) => (ms / 1000).toFixed(2);
    const per = (n: number) => (n / total).toFixed(2);
    const opTotal = operatorWrites + crWrites + eventWrites;
    const lines = [
      '',
      `reconcile benchmark: ${ORGS} organizations x ${VDCS} VDCs = ${total} objects, concurrency ${CONCURRENCY} (operator workers per controller, baseline parallel tasks)`,
      '',
      row(['run', 'wall time (s)', 'objects/s', 'API writes', 'writes per object']),
      row(['---', '---:', '---:', '---:', '---:']),
      row(['old baseline, before (children only)', s(base1.ms), (total / (base1.ms / 1000)).toFixed(1), base1.writes, per(base1.writes)]),
      row(['old baseline, after (children only)', s(base2.ms), (total / (base2.ms / 1000)).toFixed(1), base2.writes, per(base2.writes)]),
      row(['baseline, before: custom resource, children, status, event', s(full1.ms), (total / (full1.ms / 1000)).toFixed(1), full1.writes, per(full1.writes)]),
      row(['baseline, after: custom resource, children, status, event', s(full2.ms), (total / (full2.ms / 1000)).toFixed(1), full2.writes, per(full2.writes)]),
      row(['operator: creation to all Active', s(opMs), (total / (opMs / 1000)).toFixed(1), opTotal, per(opTotal)]),
      row(['  of which: custom resources (client)', '', '', crWrites, per(crWrites)]),
      row(['  of which: operator (children, finalizers, status, delivery ledger)', '', '', operatorWrites, per(operatorWrites)]),
      row(['  of which: events', '', '', eventWrites, per(eventWrites)]),
      '',
      `wall-time ratio operator / baseline (mean of before and after, ${s(full.ms)} s): ${(opMs / full.ms).toFixed(2)} (target <= 1.15)`,
      `writes per object: operator ${per(opTotal)}, baseline ${per(full.writes)}, difference ${((opTotal - full.writes) / total).toFixed(2)} (target <= 0.2)`,
      `old figures, against the children-only baseline (mean of before and after, ${s(base.ms)} s): wall-time ratio ${(opMs / base.ms).toFixed(2)} (old target <= 1.3), write ratio ${(opTotal / base.writes).toFixed(2)}`,
      '',
      row(['full resync', 'objects', 'time (s)', 'writes issued', 'events written']),
      row(['---', '---:', '---:', '---:', '---:']),
      row(['operator (organization, VDC and quota controllers)', total, s(resyncMs), resyncWrites, resyncEvents]),
      '',
      `resync writes: ${resyncWrites} (target 0)`,
      '',
      `operator writes by request: ${Object.entries(byResource).map(([k, v]) => `${k}=${v}`).join(', ')}`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    await cp.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:reconcile failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
