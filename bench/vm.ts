// npm run bench:vm [-- --vms N --vdcs M --no-history]   (or BENCH_VMS, BENCH_VDCS)
//
// On its own control plane (no controller manager): N KubeVirt VMs (authored CRD) in M VDC
// namespaces, each through Provisioning → Starting → Running → Stopped → deleted, written by a
// raw client at concurrency 4 as virt-controller would. First the raw write loop alone (baseline,
// in namespaces the operator does not report), then the same loop with the whole program
// running (operator, VM watcher, archive, API). Prints the transitions written, the VM events
// recorded against the table's expectation, the wall-time ratio, the delay from a status write
// to its Event in GET /api/v1/events (p50/p99; the poller pages through every event since the
// oldest one it has not seen, and prints how many it saw), and the heap before/after with every VM tracked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { DEFAULT_CONFIG, type OperatorConfig } from '../src/config.js';
import { slimEvent, type EventObject } from '../src/events/store.js';
import { signToken } from '../src/http/auth.js';
import { ROW_COLUMNS } from '../src/history/sql.js';
import { installCrds, loadTestVmCrd } from '../src/kube/crds.js';
import { KubeClient } from '../src/kube/rest.js';
import { createLogger } from '../src/log.js';
import { startOvim } from '../src/main.js';
import { vdcLabels } from '../src/resources/naming.js';
import { ControlPlane } from '../test/support/controlplane.js';
import { option } from './support.js';

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
const heapMb = (snapshot?: string) => {
  (globalThis as { gc?: () => void }).gc?.();
  // BENCH_HEAP_SNAPSHOTS=dir: also a heap snapshot at each point (to see what dominates).
  const dir = process.env.BENCH_HEAP_SNAPSHOTS;
  if (dir && snapshot) writeHeapSnapshot(join(dir, `vm-${snapshot}.heapsnapshot`));
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
    /** Transitions that map to an event not seen through the API yet, in write order (wall clock). */
    const pending = new Map<string, number>();
    const EVENTFUL = new Set(['create', 'Running', 'Stopped', 'delete']);
    const oldestUnseen = () => pending.values().next().value ?? Date.now();
    let transitions = 0;
    const step = async (vm: Vm, what: string, write: () => Promise<unknown>) => {
      const key = `${vm.ns}/${vm.name}/${what}`;
      written.set(key, performance.now());
      if (EVENTFUL.has(what)) pending.set(key, Date.now());
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
    pending.clear();

    // With the whole program running.
    const config: OperatorConfig = { ...DEFAULT_CONFIG, resyncPeriodMs: 0, installRoles: true, history: { path: HISTORY ? join(dir, 'history.db') : null, archiveAllEvents: false } };
    const ovim = await startOvim(cp.kubeConfig, config, { address: '127.0.0.1:0', auth: { secret: new TextEncoder().encode(SECRET) }, maxEvents: 100_000 }, createLogger('error', false));
    const token = await signToken({ userId: 'b', username: 'bench', role: 'system_admin' }, SECRET);
    const heapBefore = heapMb('before');
    // Where the delay goes: write → the watcher's record() → the Event in the operator's
    // informer (the archive ingests it there) → first seen through the API.
    const WHAT: Record<string, string> = { VMCreated: 'create', VMStarted: 'Running', VMStopped: 'Stopped', VMDeleted: 'delete' };
    const stage = { recorded: [] as number[], informed: [] as number[], archived: [] as number[], visible: [] as number[] };
    /** When each event's row was written to the archive (its last step before the API can see it). */
    const archivedAt = new Map<string, number>();
    const recorder = ovim.operator.recorder;
    const record = recorder.record.bind(recorder);
    recorder.record = ((object, type, reason, message, options) => {
      const at = written.get(`${object?.metadata?.namespace}/${object?.metadata?.name}/${WHAT[reason] ?? reason}`);
      if (at !== undefined) stage.recorded.push(performance.now() - at);
      record(object, type, reason, message, options);
    }) as typeof recorder.record;
    ovim.informers.informer<EventObject>({ apiVersion: 'v1', kind: 'Event', plural: 'events', transform: slimEvent }).on('add', (e) => {
      const at = written.get(`${e.metadata?.namespace}/${e.involvedObject?.name}/${WHAT[e.reason ?? ''] ?? e.reason}`);
      if (at !== undefined && e.involvedObject?.kind === 'VirtualMachine') stage.informed.push(performance.now() - at);
    });
    const polls: number[] = [];
    let pages = 0;
    const engine = ovim.history?.engine;
    if (engine) {
      const columns = ROW_COLUMNS as readonly string[];
      const [nsAt, nameAt, reasonAt] = [columns.indexOf('namespace'), columns.indexOf('object_name'), columns.indexOf('reason')];
      const writeMany = engine.writeMany.bind(engine);
      engine.writeMany = async (sql, rows) => {
        await writeMany(sql, rows);
        const now = performance.now();
        for (const r of rows) {
          const key = `${r[nsAt]}/${r[nameAt]}/${WHAT[String(r[reasonAt])] ?? r[reasonAt]}`;
          const at = written.get(key);
          if (at !== undefined) stage.archived.push(now - at);
          if (!archivedAt.has(key)) archivedAt.set(key, now);
        }
      };
    }
    // The poller: first sight of each VM event through the API. The API answers at most 200
    // events a page, newest first, so each poll pages (cursor on the archive, page without it)
    // through everything since the oldest transition whose event is not seen yet: an event that
    // becomes visible behind 200 newer ones is still found, and the window is never shorter
    // than the longest delay.
    const seen = new Map<string, number>();
    const delays: number[] = [];
    let polling = true;
    const poller = (async () => {
      type Page = { events?: { namespace: string; involved_object_name: string; reason: string }[]; total_count?: number; next_cursor?: string | null };
      while (polling) {
        const since = new Date(Math.floor(oldestUnseen() / 1000) * 1000 - 2_000).toISOString();
        const asked = performance.now();
        try {
          let cursor: string | undefined;
          for (let page = 1; ; page++) {
            const query = `kind=VirtualMachine&since=${encodeURIComponent(since)}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : `&page=${page}`}`;
            const res = await fetch(`${ovim.apiUrl}/api/v1/events?${query}`, { headers: { authorization: `Bearer ${token}` } });
            const body = (await res.json()) as Page;
            pages++;
            const now = performance.now();
            for (const e of body.events ?? []) {
              const key = `${e.namespace}/${e.involved_object_name}/${WHAT[e.reason] ?? e.reason}`;
              if (seen.has(key)) continue;
              seen.set(key, now);
              pending.delete(key);
              const at = written.get(key);
              if (at !== undefined) delays.push(now - at);
              const stored = archivedAt.get(key);
              if (stored !== undefined) stage.visible.push(now - stored);
            }
            cursor = body.next_cursor ?? undefined;
            const more = body.next_cursor !== undefined ? body.next_cursor !== null : page * 200 < (body.total_count ?? 0);
            if (!more || !body.events?.length) break;
          }
        } catch {
          // A reset connection (e.g. the process paused for a heap snapshot): poll again shortly.
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        polls.push(performance.now() - asked);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await makeNamespaces('vdc', true);
    await ovim.operator.informers.namespaces.waitForSync();
    const vms = vmsIn('vdc');
    const start = performance.now();
    await pool(vms, (vm) => up(vm)());
    await ovim.vms.waitIdle(120_000);
    const heapTracked = heapMb('tracked');
    const tracked = ovim.vms.informer?.list().length ?? 0;
    const eventsWhenTracked = [...ovim.vms.recorded.values()].reduce((a, b) => a + b, 0);
    await pool(vms, (vm) => down(vm)());
    const writesMs = performance.now() - start;
    const expected = VMS * EVENTS_PER_VM;
    const recordedTotal = () => [...ovim.vms.recorded.values()].reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 300_000;
    while ((recordedTotal() < expected || seen.size < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const allMs = performance.now() - start;
    polling = false;
    await poller;
    // Every VM gone (no state kept), every Event stored: the heap an Event costs the process.
    await ovim.vms.waitIdle(120_000);
    const heapAfter = heapMb('deleted');
    const res = await fetch(`${ovim.apiUrl}/api/v1/events?kind=VirtualMachine&limit=1`, { headers: { authorization: `Bearer ${token}` } });
    const apiTotal = ((await res.json()) as { total_count: number }).total_count;
    await ovim.stop();
    const sorted = delays.sort((a, b) => a - b);
    const KB = 1024;
    const perEventKb = ((heapAfter - heapBefore) * KB) / Math.max(1, expected);
    const perVmKb = ((heapTracked - heapBefore) * KB - eventsWhenTracked * perEventKb) / Math.max(1, tracked);
    const rows: [string, string][] = [
      ['VMs / VDC namespaces', `${VMS} / ${VDCS}${HISTORY ? '' : ' (no archive: API from memory)'}`],
      ['transitions written (create, 4 status writes, delete)', `${transitions} (baseline ${rawTransitions})`],
      ['VM events recorded by the watcher', `${recordedTotal()} (expected ${expected}: ${recordedTotal() === expected ? 'equal' : 'DIFFERENT'}) ${JSON.stringify(Object.fromEntries(ovim.vms.recorded))}`],
      ['VM events in GET /api/v1/events (total_count)', String(apiTotal)],
      ['VM events the poller saw through the API', `${seen.size} (expected ${expected}: ${seen.size === expected ? 'equal' : 'DIFFERENT'})`],
      ['raw status-write loop alone', `${(rawMs / 1000).toFixed(1)} s`],
      ['same loop with the operator running', `${(writesMs / 1000).toFixed(1)} s (ratio ${(writesMs / rawMs).toFixed(2)})`],
      ['until every event is visible in the API', `${(allMs / 1000).toFixed(1)} s (ratio ${(allMs / rawMs).toFixed(2)})`],
      ['status write → Event in the API: p50 / p99', `${pct(sorted, 50).toFixed(0)} ms / ${pct(sorted, 99).toFixed(0)} ms over ${sorted.length} (target p99 <= 500 ms)`],
      ['  of which write → watcher record(): p50 / p99', `${pct(stage.recorded.sort((a, b) => a - b), 50).toFixed(0)} ms / ${pct(stage.recorded, 99).toFixed(0)} ms over ${stage.recorded.length}`],
      ['  of which write → Event in the informer: p50 / p99', `${pct(stage.informed.sort((a, b) => a - b), 50).toFixed(0)} ms / ${pct(stage.informed, 99).toFixed(0)} ms over ${stage.informed.length}`],
      ['  of which write → row written to the archive: p50 / p99', `${pct(stage.archived.sort((a, b) => a - b), 50).toFixed(0)} ms / ${pct(stage.archived, 99).toFixed(0)} ms over ${stage.archived.length}`],
      ['  row in the archive → first seen in the API: p50 / p99', `${pct(stage.visible.sort((a, b) => a - b), 50).toFixed(0)} ms / ${pct(stage.visible, 99).toFixed(0)} ms over ${stage.visible.length}`],
      ['  one poll (every page of its window): p50 / p99', `${pct(polls.sort((a, b) => a - b), 50).toFixed(0)} ms / ${pct(polls, 99).toFixed(0)} ms over ${polls.length} polls (${pages} pages of up to 200)`],
      ['process heap: before / every VM tracked / all deleted', `${heapBefore.toFixed(1)} / ${heapTracked.toFixed(1)} / ${heapAfter.toFixed(1)} MB (${tracked} VMs tracked with ${eventsWhenTracked} Events stored; ${expected} Events at the end)`],
      ['  growth per VM tracked, whole process', `${(((heapTracked - heapBefore) * KB) / Math.max(1, tracked)).toFixed(2)} KB (the VM's state and its Events in the store, informer and archive)`],
      ['  per Event stored (all deleted: no VM state left)', `${perEventKb.toFixed(2)} KB`],
      ['  per VM tracked without its Events (the watcher)', `${perVmKb.toFixed(2)} KB (target <= 2 KB)`],
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
