// `npm run bench:scale`: how the operator's cost grows with the objects it owns. For each size
// (default 1,000 and then 10,000 VDCs, 5 per organization: 200 and 2,000 organizations), on a
// fresh control plane, the whole program in-process (startOvim: operator, admission webhook on
// loopback, event store, API; no archive):
//  - time from the first create to all Organizations and VDCs Active, beside its floor: the
//    writes the run issued (custom resources, children, statuses, events) sent raw, 4 at a time,
//    at the rate this run's API server gave a plain keep-alive create loop;
//  - heap and RSS once settled (after full collections), minus the same program's with nothing
//    to own (goal <= 10 KB heap per VDC, its organization's share and all children cached);
//    and the marginal heap per VDC: the growth from half the organizations with their VDCs
//    (settled) to all of them, which leaves out what the first reconciles add once (compiled
//    code, tables);
//  - one full resync: its time and writes (target 0);
//  - restart to synced: stop the program, start it again, until its caches are synced and the
//    first pass over everything is done (goal <= 30 s at 10k), beside its floor: listing what the
//    caches hold, raw and in parallel; and the writes of that first pass (target 0);
//  - the growth of each figure from the first size to the last (linear = the size ratio).
//
// Environment: BENCH_SCALE_VDCS (comma-separated sizes, default "1000,10000"), BENCH_SCALE_PER_ORG
// (VDCs per organization, 5), BENCH_CONCURRENCY (client creates at once, 4). Run with
// --expose-gc (the npm script does). Prints the machine's load at the start and at the end.
// BENCH_SCALE_PROFILE=<dir>: a CPU profile of the resync and of the restart of each size is written
// there (<size>-resync.cpuprofile, <size>-restart.cpuprofile; open in Chrome DevTools), and a heap
// snapshot once settled (<size>-settled.heapsnapshot).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { writeHeapSnapshot } from 'node:v8';
import { installCrds } from '../src/kube/crds.js';
import { KubeClient } from '../src/kube/rest.js';
import type { Ovim } from '../src/main.js';
import { EventRecorder } from '../src/events/recorder.js';
import type { Organization, VirtualDataCenter } from '../src/resources/types.js';
import { ControlPlane, freePort } from '../test/support/controlplane.js';
import { envInt, fmt, gcFunction, loadLine, pool, settledMemory, startProgram, table } from './support.js';

const SIZES = (process.env.BENCH_SCALE_VDCS ?? '1000,10000').split(',').map((s) => Number.parseInt(s.trim(), 10));
if (SIZES.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_SCALE_VDCS must list positive integers, got '${process.env.BENCH_SCALE_VDCS}'`);
const PER_ORG = envInt('BENCH_SCALE_PER_ORG', 5);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 4);
const FLOOR_WRITES = 1_000;
const QUOTA = { cpu: '4', memory: '8Gi', storage: '100Gi', pods: 100, virtualMachines: 50 };
const SECRET = 'bench-scale-secret-0123456789abcdef0123';
const PROFILE_DIR = process.env.BENCH_SCALE_PROFILE;

/** Runs `phase` under the CPU profiler when BENCH_SCALE_PROFILE names a directory. */
async function profiled<T>(name: string, phase: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return phase();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await phase();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(`${PROFILE_DIR}/${name}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  }
}

interface Figures {
  vdcs: number;
  orgs: number;
  activeMs: number;
  writes: number;
  rawWritesPerSecond: number;
  heapPerVdc: number;
  /** Heap growth per VDC from the half-way point to the end: the slope, without fixed costs. */
  marginalHeapPerVdc: number;
  rssPerVdc: number;
  heapMiB: number;
  rssMiB: number;
  baseHeapMiB: number;
  resyncMs: number;
  resyncWrites: number;
  resyncEvents: number;
  resyncRequests: number;
  restartRequests: number;
  restartMs: number;
  restartSyncedMs: number;
  restartWrites: number;
  listFloorMs: number;
  caches: string;
}

/** Every request a client issued, reads included (a resync that writes nothing may still read). */
const requests = (client: KubeClient) => Object.values(client.stats.byVerb).reduce((n, v) => n + v, 0);
const log = (text: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
const mib = (bytes: number) => bytes / 2 ** 20;

/** Plain creates through one keep-alive client, `CONCURRENCY` at a time: the API server's write rate. */
async function rawWriteRate(client: KubeClient, namespace: string): Promise<number> {
  await client.create('/api/v1/namespaces', { metadata: { name: namespace } });
  const items = Array.from({ length: FLOOR_WRITES }, (_, i) => i);
  const started = performance.now();
  await pool(items, CONCURRENCY, async (i) => {
    await client.create(`/api/v1/namespaces/${namespace}/configmaps`, { metadata: { name: `floor-${i}` }, data: { quota: JSON.stringify(QUOTA) } });
  });
  return FLOOR_WRITES / ((performance.now() - started) / 1000);
}

/** What the caches hold, listed raw and in parallel: the floor of a restart's sync. */
async function listFloor(client: KubeClient): Promise<number> {
  const paths = [
    '/apis/ovim.io/v1/organizations',
    '/apis/ovim.io/v1/virtualdatacenters',
    '/api/v1/namespaces',
    '/api/v1/events',
    '/api/v1/resourcequotas',
    '/api/v1/limitranges',
    '/apis/rbac.authorization.k8s.io/v1/rolebindings',
    '/apis/networking.k8s.io/v1/networkpolicies',
  ];
  const started = performance.now();
  await Promise.all(
    paths.map(async (path) => {
      let cont: string | undefined;
      do {
        const page = await client.list(path, { limit: 500, ...(cont ? { continue: cont } : {}) });
        cont = page.metadata?.continue || undefined;
      } while (cont);
    }),
  );
  return performance.now() - started;
}

async function runSize(vdcs: number, gc: () => void): Promise<Figures> {
  const orgCount = Math.ceil(vdcs / PER_ORG);
  log(`size ${vdcs} VDCs in ${orgCount} organizations: starting a control plane`);
  const cp = await ControlPlane.start();
  let ovim: Ovim | undefined;
  try {
    await installCrds(cp.kubeConfig);
    const driver = await KubeClient.create(cp.kubeConfig);
    const rawWritesPerSecond = await rawWriteRate(driver, 'bench-floor');
    const webhookPort = await freePort();
    ovim = await startProgram(cp.kubeConfig, webhookPort, SECRET);
    await ovim.operator.waitIdle(60_000);
    const base = settledMemory(gc);

    // Completion is read from the operator's own caches (no extra load on the API server).
    const total = orgCount + vdcs;
    const active = new Set<string>();
    let target = total;
    let reached!: () => void;
    const activeCount = (n: number) => {
      target = n;
      return active.size >= n ? Promise.resolve() : new Promise<void>((r) => (reached = r));
    };
    const onObject = (o: Organization | VirtualDataCenter) => {
      if (o.status?.phase !== 'Active') return;
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      if (active.has(key)) return;
      active.add(key);
      if (active.size === target) reached?.();
    };
    const op = ovim.operator;
    for (const informer of [op.informers.organizations, op.informers.vdcs]) informer.on('add', onObject).on('update', onObject);
    const nsWaiters = new Map<string, () => void>();
    op.informers.namespaces.on('add', (ns) => nsWaiters.get(ns.metadata.name)?.());
    const namespaceReady = (name: string) => (op.informers.namespaces.get(name) ? Promise.resolve() : new Promise<void>((r) => nsWaiters.set(name, r)));

    const orgs = Array.from({ length: orgCount }, (_, i) => `s${String(i).padStart(4, '0')}`);
    const crWrites0 = driver.writes;
    const opWrites0 = op.client.writes;
    const recorder = op.recorder as EventRecorder;
    const events0 = recorder.stats().written + recorder.stats().patched;
    log(`creating ${orgCount} organizations and ${vdcs} VDCs`);
    const started = performance.now();
    const createOrgs = async (names: string[]) => {
      await pool(names, CONCURRENCY, async (org) => {
        await driver.create('/apis/ovim.io/v1/organizations', { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name: org }, spec: { displayName: org, admins: [`${org}-admins`] } });
      });
      // A VDC lives in org-<org>, which the operator creates: its VDCs are created once it exists.
      await Promise.all(names.map((org) => namespaceReady(`org-${org}`)));
      const items: { org: string; vdc: string }[] = [];
      for (const org of names) for (let j = 0; j < PER_ORG; j++) items.push({ org, vdc: `v${j}` });
      await pool(items.slice(0, Math.max(0, vdcs - orgs.indexOf(names[0] as string) * PER_ORG)), CONCURRENCY, async ({ org, vdc }) => {
        await driver.create(`/apis/ovim.io/v1/namespaces/org-${org}/virtualdatacenters`, {
          apiVersion: 'ovim.io/v1',
          kind: 'VirtualDataCenter',
          metadata: { name: vdc, namespace: `org-${org}` },
          spec: { organizationRef: org, displayName: vdc, quota: QUOTA },
        });
      });
    };
    // Half the organizations with their VDCs, settled and measured (the pause is not timed), then
    // the rest: the heap's growth between the two is per VDC and its organization's share alone
    // (without the code compiled and the tables filled by the first reconciles).
    const halfOrgs = Math.floor(orgCount / 2);
    const half = Math.min(vdcs, halfOrgs * PER_ORG);
    await createOrgs(orgs.slice(0, halfOrgs));
    await activeCount(halfOrgs + half);
    let paused = performance.now();
    await op.waitIdle(600_000);
    await recorder.flush(120_000);
    const halfway = settledMemory(gc);
    paused = performance.now() - paused;
    await createOrgs(orgs.slice(halfOrgs));
    await activeCount(total);
    const activeMs = performance.now() - started - paused;
    log(`all Active after ${(activeMs / 1000).toFixed(1)} s; settling`);
    await op.waitIdle(600_000);
    await recorder.flush(120_000);
    const writes = driver.writes - crWrites0 + (op.client.writes - opWrites0) + (recorder.stats().written + recorder.stats().patched - events0);
    const settled = settledMemory(gc);
    if (PROFILE_DIR) writeHeapSnapshot(`${PROFILE_DIR}/${vdcs}-settled.heapsnapshot`);
    const caches = ovim.informers.all().map(({ name, informer }) => `${name.split('?')[0]}=${informer.size}`).join(', ') + `, event store=${ovim.store.size}`;

    log('full resync');
    const resyncWrites0 = op.client.writes;
    const resyncRequests0 = requests(op.client);
    const resyncEvents0 = recorder.stats().written + recorder.stats().patched;
    const resyncStarted = performance.now();
    await profiled(`${vdcs}-resync`, async () => {
      op.resync();
      await op.waitIdle(600_000);
    });
    const resyncMs = performance.now() - resyncStarted;
    await recorder.flush(60_000);
    const resyncWrites = op.client.writes - resyncWrites0;
    const resyncRequests = requests(op.client) - resyncRequests0;
    const resyncEvents = recorder.stats().written + recorder.stats().patched - resyncEvents0;

    log('restart');
    await ovim.stop();
    ovim = undefined;
    const listFloorMs = await listFloor(driver);
    const restartStarted = performance.now();
    let restartSyncedMs = 0;
    const restarted = await profiled(`${vdcs}-restart`, async () => {
      const program = await startProgram(cp.kubeConfig, webhookPort, SECRET);
      ovim = program;
      restartSyncedMs = performance.now() - restartStarted;
      await program.operator.waitIdle(600_000);
      return program;
    });
    const op2 = restarted.operator;
    const restartMs = performance.now() - restartStarted;
    await (op2.recorder as EventRecorder).flush(60_000);
    const restartRequests = requests(op2.client);
    const restartWrites = op2.client.writes + (op2.recorder as EventRecorder).stats().written + (op2.recorder as EventRecorder).stats().patched;
    driver.close();
    return {
      vdcs,
      orgs: orgCount,
      activeMs,
      writes,
      rawWritesPerSecond,
      heapPerVdc: (settled.heapUsed - base.heapUsed) / vdcs,
      marginalHeapPerVdc: (settled.heapUsed - halfway.heapUsed) / (vdcs - half),
      rssPerVdc: (settled.rss - base.rss) / vdcs,
      heapMiB: mib(settled.heapUsed),
      rssMiB: mib(settled.rss),
      baseHeapMiB: mib(base.heapUsed),
      resyncMs,
      resyncWrites,
      resyncEvents,
      resyncRequests,
      restartRequests,
      restartMs,
      restartSyncedMs,
      restartWrites,
      listFloorMs,
      caches,
    };
  } finally {
    await ovim?.stop();
    await cp.stop();
  }
}

async function main(): Promise<void> {
  const gc = gcFunction();
  const startLoad = loadLine();
  console.log(`bench:scale — sizes ${SIZES.join(', ')} VDCs (${PER_ORG} per organization), client concurrency ${CONCURRENCY}; ${startLoad} at the start`);
  const results: Figures[] = [];
  for (const size of SIZES) {
    const f = await runSize(size, gc);
    results.push(f);
    // Each size as it ends, so that a run stopped during a later size still reports this one.
    console.log(`  ${size} VDCs: all Active ${fmt(f.activeMs / 1000, 1)} s (${f.writes} writes), heap/VDC ${fmt(f.heapPerVdc / 1024, 1)} KB (marginal ${fmt(f.marginalHeapPerVdc / 1024, 1)}), resync ${fmt(f.resyncMs / 1000, 1)} s / ${f.resyncWrites + f.resyncEvents} writes, restart ${fmt(f.restartMs / 1000, 1)} s / ${f.restartWrites} writes; ${loadLine()}`);
    console.log(`  ${size} VDCs: caches ${f.caches}`);
  }
  const s = (ms: number) => fmt(ms / 1000, 1);
  const first = results[0] as Figures;
  const last = results[results.length - 1] as Figures;
  const growth = (pick: (f: Figures) => number) => (results.length > 1 && pick(first) > 0 ? `${fmt(pick(last) / pick(first), 1)}x` : '-');
  const columns = results.flatMap((f) => [`${f.vdcs} VDCs / ${f.orgs} orgs`, 'floor']);
  const rows: (string | number)[][] = [
    ['time to all Active (s)', ...results.flatMap((f) => [s(f.activeMs), s((f.writes / f.rawWritesPerSecond) * 1000)]), growth((f) => f.activeMs)],
    ['  API writes (custom resources, operator, events)', ...results.flatMap((f) => [f.writes, '']), growth((f) => f.writes)],
    ['  raw keep-alive creates/s (the floor\'s rate)', ...results.flatMap((f) => [fmt(f.rawWritesPerSecond, 0), '']), '-'],
    ['heap settled (MiB)', ...results.flatMap((f) => [fmt(f.heapMiB, 1), fmt(f.baseHeapMiB, 1)]), growth((f) => f.heapMiB - f.baseHeapMiB)],
    ['heap per VDC (KB; goal <= 10)', ...results.flatMap((f) => [fmt(f.heapPerVdc / 1024, 1), '10.0']), growth((f) => f.heapPerVdc * f.vdcs)],
    ['  marginal heap per VDC (KB; second half of the organizations and VDCs)', ...results.flatMap((f) => [fmt(f.marginalHeapPerVdc / 1024, 1), '10.0']), '-'],
    ['RSS settled (MiB)', ...results.flatMap((f) => [fmt(f.rssMiB, 1), '']), growth((f) => f.rssMiB)],
    ['RSS per VDC (KB)', ...results.flatMap((f) => [fmt(f.rssPerVdc / 1024, 1), '']), growth((f) => f.rssPerVdc * f.vdcs)],
    ['full resync (s)', ...results.flatMap((f) => [s(f.resyncMs), '']), growth((f) => f.resyncMs)],
    ['full resync writes + events (target 0)', ...results.flatMap((f) => [f.resyncWrites + f.resyncEvents, '0']), '-'],
    ['  API requests of the resync (reads included)', ...results.flatMap((f) => [f.resyncRequests, '']), growth((f) => f.resyncRequests)],
    ['restart to caches synced (s)', ...results.flatMap((f) => [s(f.restartSyncedMs), s(f.listFloorMs)]), growth((f) => f.restartSyncedMs)],
    ['restart to synced and first pass done (s; goal <= 30 at 10k)', ...results.flatMap((f) => [s(f.restartMs), s(f.listFloorMs)]), growth((f) => f.restartMs)],
    ['restart writes + events (target 0)', ...results.flatMap((f) => [f.restartWrites, '0']), '-'],
    ['  API requests of the restart (lists, watches, reads)', ...results.flatMap((f) => [f.restartRequests, '']), growth((f) => f.restartRequests)],
  ];
  console.log(table(`operator cost by size (growth: last size / first; the objects grew ${fmt(last.vdcs / first.vdcs, 1)}x)`, ['figure', ...columns, 'growth'], rows));
  console.log(
    '\nfloors: time to all Active = the run\'s writes at the raw create rate (4 at a time); heap = the same program owning nothing;\n' +
      'restart = listing what the caches hold (organizations, VDCs, namespaces, events, quotas, limit ranges, role bindings, network policies), raw and in parallel.',
  );
  const goals = results.map(
    (f) =>
      `${f.vdcs}: heap/VDC ${f.heapPerVdc <= 10 * 1024 ? 'met' : 'NOT met'} (marginal ${f.marginalHeapPerVdc <= 10 * 1024 ? 'met' : 'NOT met'}), resync writes ${f.resyncWrites + f.resyncEvents === 0 ? 'met' : 'NOT met'}, ` +
      `restart writes ${f.restartWrites === 0 ? 'met' : 'NOT met'}${f.vdcs >= 10_000 ? `, restart <= 30 s ${f.restartMs <= 30_000 ? 'met' : 'NOT met'}` : ''}`,
  );
  console.log(`goals: ${goals.join('; ')}`);
  console.log(`${loadLine()} at the end (at the start: ${startLoad})`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
