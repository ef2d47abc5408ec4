// npm run bench:vm [-- --vms N --vdcs M --no-history]   (or BENCH_VMS, BENCH_VDCS)
//
// On its own control plane (no controller manager): N KubeVirt VMs (authored CRD) in M VDC
// namespaces, each through Provisioning → Starting → Running → Stopped → deleted, written by a
// raw client at concurrency 4 as virt-controller would. First the raw write loop alone (baseline,
// in namespaces the operator does not report), then the same loop with the whole program
// running (operator, VM watcher, archive, API). Prints the transitions written, the VM events
// recorded against the table's expectation, the wall-time ratio, the delay from a status write
// to its Event in GET /api/v1/events (p50/p99), and the heap before/after with every VM tracked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, type OperatorConfig } from '../src/config.js';
import { signToken } from '../src/http/auth.js';
import { installCrds, loadTestVmCrd } from '../src/kube/crds.js';
import { KubeClient } from '../src/kube/rest.js';
import { createLogger } from '../src/log.js';
import { startOvim } from '../src/main.js';
import { vdcLabels } from '../src/resources/naming.js';
import { ControlPlane } from '../test/support/controlplane.js';

function option(flag: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(flag);
  const text = i >= 0 ? process.argv[i + 1] : process.env[env];
  if (text === undefined) return fallback;
  const n = Number.parseInt(text, 10);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} / ${env} must be a positive integer, got '${text}'`);
  return n;
}

const VMS = option('--vms', 'BENCH_VMS', 1000);
const VDCS = option('--vdcs', 'BENCH_VDCS', 20);
const CONCURRENCY = 4;
/** `--no-history`: the API answers from the in-memory store (no archive batching in the delay). */
const HISTORY = !process.argv.includes('--no-history');
const SECRET = 'bench-vm-secret-0123456789abcdefghij';
/** Events each VM's life maps to: VMCreated, VMStarted, VMStopped, VMDeleted. */
const EVENTS_PER_VM = 4;

async function pool<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

const pct = (sorted: number[], p: number) => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN) : NaN);
const heapMb = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

interface Vm {
  ns: string;
  name: string;
}

async function main(): Promise<void> {
  console.error(`starting a control plane; ${VMS} VMs in ${VDCS} VDC namespaces, concurrency ${CONCURRENCY}`);
  const cp = await ControlPlane.start({ controllerManager: false });
  const dir = mkdtempSync(join(tmpdir(), 'ovim-bench-vm-'));
  const api = await KubeClient.create(cp.kubeConfig, { maxSockets: CONCURRENCY * 2 });
  try {
    await installCrds(cp.kubeConfig);
    await installCrds(cp.kubeConfig, 30_000, loadTestVmCrd());
    const vmPath = (ns: string, name = '') => `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines${name ? `/${name}` : ''}`;
    const written = new Map<string, number>();
    let transitions = 0;
    const step = async (vm: Vm, what: string, write: () => Promise<unknown>) => {
      written.set(`${vm.ns}/${vm.name}/${what}`, performance.now());
      await write();
      transitions++;
    };
    const status = (vm: Vm, printableStatus: string) =>
      step(vm, printableStatus, () => api.patch(`${vmPath(vm.ns, vm.name)}/status`, { status: { printableStatus } }, 'merge'));
    const up = (vm: Vm) => async () => {
      await step(vm, 'create', () => api.create(vmPath(vm.ns), { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: vm.name, annotations: { 'ovim.io/requested-by': 'bench' } }, spec: { runStrategy: 'Always', template: {} } }));
      for (const s of ['Provisioning', 'Starting', 'Running']) await status(vm, s);
    };
    const down = (vm: Vm) => async () => {
      await status(vm, 'Stopped');
      await step(vm, 'delete', () => api.delete(vmPath(vm.ns, vm.name)));
    };
    const vmsIn = (prefix: string): Vm[] =>
      Array.from({ length: VMS }, (_, i) => ({ ns: `${prefix}-${i % VDCS}`, name: `vm-${i}` }));
    const makeNamespaces = async (prefix: string, labelled: boolean) => {
      for (let v = 0; v < VDCS; v++) {
        await api.create('/api/v1/namespaces', { metadata: { name: `${prefix}-${v}`, labels: labelled ? vdcLabels('bench', `${prefix}-${v}`) : {} } });
      }
    };

    // Baseline: the raw loop alone.
    await makeNamespaces('raw', false);
    const raw = vmsIn('raw');
    const rawStart = performance.now();
    await pool(raw, (vm) => up(vm)());
    await pool(raw, (vm) => down(vm)());
    const rawMs = performance.now() - rawStart;
    const rawTransitions = transitions;
    transitions = 0;
    written.clear();

    // With the whole program running.
    const config: OperatorConfig = { ...DEFAULT_CONFIG, resyncPeriodMs: 0, installRoles: true, history: { path: HISTORY ? join(dir, 'history.db') : null, archiveAllEvents: false } };
    const ovim = await startOvim(cp.kubeConfig, config, { address: '127.0.0.1:0', auth: { secret: new TextEncoder().encode(SECRET) }, maxEvents: 100_000 }, createLogger('error', false));
    const token = await signToken({ userId: 'b', username: 'bench', role: 'system_admin' }, SECRET);
    const heapBefore = heapMb();
    // The poller: first sight of each VM event through the API.
    const seen = new Map<string, number>();
    const delays: number[] = [];
    const WHAT: Record<string, string> = { VMCreated: 'create', VMStarted: 'Running', VMStopped: 'Stopped', VMDeleted: 'delete' };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const since = new Date(Date.now() - 5_000).toISOString();
        const res = await fetch(`${ovim.apiUrl}/api/v1/events?kind=VirtualMachine&since=${encodeURIComponent(since)}&limit=1000`, { headers: { authorization: `Bearer ${token}` } });
        const now = performance.now();
        const body = (await res.json()) as { events?: { namespace: string; involved_object_name: string; reason: string }[] };
        for (const e of body.events ?? []) {
          const key = `${e.namespace}/${e.involved_object_name}/${WHAT[e.reason] ?? e.reason}`;
          if (seen.has(key)) continue;
          seen.set(key, now);
          const at = written.get(key);
          if (at !== undefined) delays.push(now - at);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await makeNamespaces('vdc', true);
    await ovim.operator.informers.namespaces.waitForSync();
    const vms = vmsIn('vdc');
    const start = performance.now();
    await pool(vms, (vm) => up(vm)());
    await ovim.vms.waitIdle(120_000);
    const heapTracked = heapMb();
    const tracked = ovim.vms.informer?.list().length ?? 0;
    await pool(vms, (vm) => down(vm)());
    const writesMs = performance.now() - start;
    const expected = VMS * EVENTS_PER_VM;
    const recordedTotal = () => [...ovim.vms.recorded.values()].reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 300_000;
    while ((recordedTotal() < expected || seen.size < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const allMs = performance.now() - start;
    polling = false;
    await poller;
    const res = await fetch(`${ovim.apiUrl}/api/v1/events?kind=VirtualMachine&limit=1`, { headers: { authorization: `Bearer ${token}` } });
    const apiTotal = ((await res.json()) as { total_count: number }).total_count;
    await ovim.stop();
    const sorted = delays.sort((a, b) => a - b);
    const rows: [string, string][] = [
      ['VMs / VDC namespaces', `${VMS} / ${VDCS}${HISTORY ? '' : ' (no archive: API from memory)'}`],
      ['transitions written (create, 4 status writes, delete)', `${transitions} (baseline ${rawTransitions})`],
      ['VM events recorded by the watcher', `${recordedTotal()} (expected ${expected}: ${recordedTotal() === expected ? 'equal' : 'DIFFERENT'}) ${JSON.stringify(Object.fromEntries(ovim.vms.recorded))}`],
      ['VM events in GET /api/v1/events (total_count)', String(apiTotal)],
      ['raw status-write loop alone', `${(rawMs / 1000).toFixed(1)} s`],
      ['same loop with the operator running', `${(writesMs / 1000).toFixed(1)} s (ratio ${(writesMs / rawMs).toFixed(2)})`],
      ['until every event is visible in the API', `${(allMs / 1000).toFixed(1)} s (ratio ${(allMs / rawMs).toFixed(2)})`],
      ['status write → Event in the API: p50 / p99', `${pct(sorted, 50).toFixed(0)} ms / ${pct(sorted, 99).toFixed(0)} ms over ${sorted.length} (target p99 <= 500 ms)`],
      ['operator heap: before / with every VM tracked', `${heapBefore.toFixed(1)} MB / ${heapTracked.toFixed(1)} MB with ${tracked} VMs = ${(((heapTracked - heapBefore) * 1024 * 1024) / Math.max(1, tracked) / 1024).toFixed(2)} KB per VM (target <= 2 KB)`],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(56)} ${v}`);
  } finally {
    api.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
