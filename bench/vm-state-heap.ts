// npm run bench:vm-state-heap [-- --vms N]
//
// The VM watcher's own memory per VM, without a control plane and without Events: N VMs as the
// API server returns them (JSON text parsed, with managedFields, a template, KubeVirt's usual
// status), kept the way the watcher keeps them — the informer's cache entry of the slim VM
// (slimVm), the "last reported" row (VmStates), the name index and the per-namespace tallies.
// Prints the heap per VM beside a baseline: the same VMs cached whole (no transform); then the
// same with the admission webhook's stamps on each VM (owner, proof) and their copy in the row.
import { provenAnnotations } from '../src/admission/stamps.js';
import { NamespaceCounts, COUNTED, RUNNING } from '../src/controllers/namespace-counts.js';
import { slimVm, type VirtualMachine } from '../src/controllers/vm-watcher.js';
import { VmStates, type VmRecord } from '../src/history/vm-states.js';

const i = process.argv.indexOf('--vms');
const N = i >= 0 ? Number.parseInt(process.argv[i + 1] ?? '', 10) : 20_000;
const NAMESPACES = 20;

function apiJson(n: number, stamped = false): string {
  const ns = `vdc-bench-${n % NAMESPACES}`;
  return JSON.stringify({
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name: `vm-${n}`,
      namespace: ns,
      uid: `6f1c2a34-${String(n).padStart(4, '0')}-4b5c-9d8e-0123456789ab`,
      resourceVersion: String(100_000 + n),
      generation: 1,
      creationTimestamp: '2026-11-29T20:00:00Z',
      annotations: {
        'ovim.io/requested-by': 'alice@example.com',
        'kubevirt.io/latest-observed-api-version': 'v1',
        'kubevirt.io/storage-observed-api-version': 'v1',
        // As the webhook stamps them: an owner who named themselves, the proof (43 base64url characters).
        ...(stamped ? { 'ovim.io/owner': 'alice@example.com', 'ovim.io/owner-verified': 'true', 'ovim.io/actor-proof': `${String(n).padStart(8, '0')}${'x'.repeat(35)}` } : {}),
      },
      finalizers: ['kubevirt.io/virtualMachineControllerFinalize'],
      managedFields: [{ manager: 'kubectl', operation: 'Update', apiVersion: 'kubevirt.io/v1', time: '2026-11-29T20:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { '.': {}, 'f:runStrategy': {}, 'f:template': {} } } }],
    },
    spec: { runStrategy: 'Always', template: { spec: { domain: { devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }] }, resources: { requests: { memory: '1Gi' } } }, volumes: [{ name: 'root', containerDisk: { image: 'quay.example/vm:1' } }] } } },
    status: {
      printableStatus: 'Running',
      ready: true,
      created: true,
      conditions: [
        { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-29T20:00:05Z' },
        { type: 'LiveMigratable', status: 'False', reason: 'DisksNotLiveMigratable', message: 'cannot migrate VMI: PVC root is not shared' },
      ],
      volumeSnapshotStatuses: [{ name: 'root', enabled: false, reason: 'Snapshot is not supported for this volumeSource type [root]' }],
    },
  });
}

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

function keep(transform: (vm: VirtualMachine) => VirtualMachine, withState: boolean, stamped = false): { perVm: number; hold: unknown } {
  const before = heap();
  const cache = new Map<string, VirtualMachine>();
  const states = new VmStates(undefined);
  const byKey = new Map<string, string>();
  const counts = new NamespaceCounts<VirtualMachine>((vm) => (vm.status?.printableStatus === 'Running' ? RUNNING : COUNTED));
  for (let n = 0; n < N; n++) {
    const vm = transform(JSON.parse(apiJson(n, stamped)) as VirtualMachine);
    const ns = vm.metadata?.namespace as string;
    const name = vm.metadata?.name as string;
    cache.set(`${ns}/${name}`, vm);
    if (withState) {
      const row: VmRecord = { uid: vm.metadata?.uid as string, namespace: ns, name, organization: 'bench', vdc: ns.slice(10), actor: vm.metadata?.annotations?.['ovim.io/requested-by'], state: { created: true, ran: true, status: 'Running' } };
      const stamps = provenAnnotations(vm.metadata?.annotations);
      if (stamps) row.stamps = stamps;
      states.set(row);
      byKey.set(`${ns}/${name}`, row.uid);
      counts.set(vm);
    }
  }
  const perVm = (heap() - before) / N;
  return { perVm, hold: [cache, states, byKey, counts] };
}

const whole = keep((vm) => vm, false);
const wholeKb = whole.perVm / 1024;
whole.hold = undefined;
const watcher = keep(slimVm, true);
console.log(`${N} VMs in ${NAMESPACES} namespaces`);
console.log(`${'baseline: the VM cached whole (no transform), nothing else'.padEnd(64)} ${wholeKb.toFixed(2)} KB per VM`);
console.log(`${"the watcher's state: slim VM + cache key + row + index + tally".padEnd(64)} ${(watcher.perVm / 1024).toFixed(2)} KB per VM (ratio ${(watcher.perVm / whole.perVm).toFixed(2)}; target <= 2 KB)`);
watcher.hold = undefined;
const stamped = keep(slimVm, true, true);
console.log(`${'the same, VMs stamped by the webhook (proof kept in the row too)'.padEnd(64)} ${(stamped.perVm / 1024).toFixed(2)} KB per VM (${((stamped.perVm - watcher.perVm) / 1024).toFixed(2)} KB more; target <= 2 KB)`);
