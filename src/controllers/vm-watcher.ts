// VmWatcher: KubeVirt VirtualMachines in VDC namespaces → the VM rows of the event catalog
// (DESIGN.md sections 3 and 4). Read-only on VMs. Idle (one log line) while the
// virtualmachines.kubevirt.io CRD is missing; it checks again every `crdPollMs` and starts by
// itself once the CRD is served. The decisions are vm.ts's (pure); what was last reported per
// VM uid is kept in VmStates (durable in the archive), so restarts and relists repeat nothing,
// and the first pass after a start reports what happened while the operator was down.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { deleterOf, provenAnnotations } from '../admission/stamps.js';
import { KIND_API_VERSIONS, VM_KIND } from '../events/catalog.js';
import type { EventRecording } from '../events/types.js';
import type { PlainObject } from '../kube/apply.js';
import { Controller } from '../kube/controller.js';
import { apiErrorMessage, isNotFound } from '../kube/errors.js';
import type { InformerFactory } from '../kube/factory.js';
import type { ResilientInformer } from '../kube/informer.js';
import type { KubeClient } from '../kube/rest.js';
import type { Metrics } from '../metrics.js';
import { ANNOTATIONS, LABELS } from '../resources/types.js';
import type { VmRecord, VmStates } from '../history/vm-states.js';
import { onLeadershipChange } from './leadership.js';
import { COUNTED, NamespaceCounts, RUNNING, type Counts } from './namespace-counts.js';
import { NOTHING_REPORTED, decideVm, sameReported, vmDeletedMessage, vmMessage, type VmStatusView } from './vm.js';

export const VM_CRD = 'virtualmachines.kubevirt.io';
export const VM_PATH = '/apis/kubevirt.io/v1/virtualmachines';

/** The parts of a VM the watcher keeps (the informer's transform drops the rest). */
export interface VirtualMachine extends KubernetesObject {
  status?: VmStatusView;
}

export interface VmWatcherOptions {
  /** The process's informers: the VM informer joins them once the CRD is there. */
  informers: InformerFactory;
  client: KubeClient;
  recorder: EventRecording;
  /** The operator's managed namespaces (their labels say which are VDC namespaces). */
  namespaces: ResilientInformer<PlainObject>;
  states: VmStates;
  logger?: Logger;
  metrics?: Metrics;
  /** How often a missing CRD is looked for again (default 10 s). */
  crdPollMs?: number;
  resyncPeriodMs?: number;
  /** With leader election only the leader records; a new leader catches up at the next resync. */
  isLeader?: () => boolean;
  /** Called after each decision that may change a VDC namespace's VM counts. */
  onChange?: (namespace: string) => void;
}

const MAX_ANNOTATION = 253;
const cut = (v: string | undefined) => (v ? v.slice(0, MAX_ANNOTATION) : undefined);

/** Strings many cached VMs share (namespaces, statuses, failure reasons): one copy each. */
class Interned {
  private readonly pool = new Map<string, string>();
  constructor(private readonly max: number) {}
  of(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const known = this.pool.get(value);
    if (known !== undefined) return known;
    // Bounded: past `max` distinct values, strings are kept as they came (no growth).
    if (this.pool.size < this.max) this.pool.set(value, value);
    return value;
  }
}
const interned = new Interned(10_000);

/**
 * Keeps only what the decisions, the events and the actor's proof read (client-go's
 * SetTransform): name, namespace, uid, resourceVersion, generation, deletionTimestamp, the
 * `ovim.io/*` annotations, printableStatus, a True Failure condition and startFailure's count.
 * apiVersion and kind are the constants (the list and watch only return VMs).
 */
export function slimVm(vm: VirtualMachine): VirtualMachine {
  let annotations: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(vm.metadata?.annotations ?? {})) {
    if (k.startsWith('ovim.io/')) (annotations ??= {})[k] = v;
  }
  const s = vm.status;
  const failure = s?.conditions?.find((c) => c?.type === 'Failure' && c.status === 'True');
  const fails = s?.startFailure?.consecutiveFailCount;
  const meta = vm.metadata;
  const slim: VirtualMachine = {
    apiVersion: KIND_API_VERSIONS.VirtualMachine,
    kind: VM_KIND,
    metadata: { name: meta?.name, namespace: interned.of(meta?.namespace), uid: meta?.uid, resourceVersion: meta?.resourceVersion },
  };
  const m = slim.metadata as NonNullable<VirtualMachine['metadata']>;
  if (meta?.generation !== undefined) m.generation = meta.generation;
  if (meta?.deletionTimestamp !== undefined) m.deletionTimestamp = meta.deletionTimestamp;
  if (annotations) m.annotations = annotations;
  if (s) {
    const status: VmStatusView = { printableStatus: interned.of(s.printableStatus) };
    if (failure) status.conditions = [{ type: 'Failure', status: 'True', reason: interned.of(failure.reason), message: failure.message }];
    if (fails !== undefined) status.startFailure = { consecutiveFailCount: fails };
    slim.status = status;
  }
  return slim;
}

/**
 * The webhook's stamps and the deletionTimestamp on the row (the previous row's objects when
 * unchanged, so an unchanged VM writes nothing and shares them).
 */
function keepStamps(row: VmRecord, vm: VirtualMachine, prev: VmRecord | undefined): void {
  const stamps = provenAnnotations(vm.metadata?.annotations);
  const same = stamps && prev?.stamps && Object.keys(stamps).length === Object.keys(prev.stamps).length && Object.entries(stamps).every(([k, v]) => prev.stamps?.[k] === v);
  if (stamps) row.stamps = same ? prev?.stamps : stamps;
  const deletion = vm.metadata?.deletionTimestamp as unknown;
  const at = deletion instanceof Date ? deletion.toISOString() : typeof deletion === 'string' ? deletion : undefined;
  if (at) row.deletionTimestamp = at;
}

export class VmWatcher {
  readonly controller: Controller;
  informer: ResilientInformer<VirtualMachine> | undefined;
  /** Remembered VM uids by namespace/name (one uid, or several when a name was reused). */
  private readonly byKey = new Map<string, string | string[]>();
  /** The cached VMs per namespace: the VDC counts and a namespace's VMs without a scan. */
  private readonly perNamespace = new NamespaceCounts<VirtualMachine>((vm) => (vm.status?.printableStatus === 'Running' ? RUNNING : COUNTED));
  private readonly log: Logger | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopFollowing: (() => void) | undefined;
  /** The last state of deleted VMs whose deletion is not reported yet, and when it went (by uid). */
  private readonly lastSeen = new Map<string, { vm: VirtualMachine; goneAt: number }>();
  /** Leading with the rows caught up (false until a new leader's takeover finished). */
  private leading = false;
  private takingOver: Promise<void> | undefined;
  private stopped = false;
  private starting: Promise<void> | undefined;
  /** Events recorded, by reason (tests and the benchmark read it). */
  readonly recorded = new Map<string, number>();

  constructor(private readonly options: VmWatcherOptions) {
    this.log = options.logger;
    this.controller = new Controller({
      name: 'virtualmachine',
      workers: 2,
      metrics: options.metrics,
      logger: options.logger,
      resyncPeriodMs: options.resyncPeriodMs,
      reconcile: async (key) => this.reconcile(key),
    });
    for (const r of options.states.all()) this.index(r);
    // A namespace that becomes (or stops being) a VDC namespace: look at its VMs again.
    options.namespaces.on('add', (ns) => this.enqueueNamespace(ns.metadata.name));
    options.namespaces.on('update', (ns, old) => {
      if (ns.metadata.labels?.[LABELS.vdc] !== old?.metadata.labels?.[LABELS.vdc]) this.enqueueNamespace(ns.metadata.name);
    });
  }

  /** Whether the VM informer runs (the CRD was found). */
  get watching(): boolean {
    return this.informer !== undefined;
  }

  /** Looks for the CRD now; starts watching when it is there, otherwise polls for it. */
  async start(): Promise<void> {
    if (await this.crdServed()) await this.startWatching();
    else {
      this.log?.info(`KubeVirt VirtualMachine CRD (${VM_CRD}) not installed: the VM watcher is idle until it appears`);
      this.poll();
    }
  }

  private poll(): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => {
      void this.crdServed().then(
        (served) => (served ? this.startWatching() : this.poll()),
        () => this.poll(),
      );
    }, this.options.crdPollMs ?? 10_000);
    this.pollTimer.unref();
  }

  private async crdServed(): Promise<boolean> {
    try {
      const crd = await this.options.client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${VM_CRD}`,
      );
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    } catch (err) {
      if (!isNotFound(err)) this.log?.warn(`cannot read the CRD ${VM_CRD}: ${apiErrorMessage(err)}`);
      return false;
    }
  }

  private startWatching(): Promise<void> {
    this.starting ??= (async () => {
      if (this.stopped) return;
      const informer = this.options.informers.informer<VirtualMachine>({
        apiVersion: KIND_API_VERSIONS.VirtualMachine,
        kind: VM_KIND,
        plural: 'virtualmachines',
        transform: slimVm,
      });
      this.informer = informer;
      this.perNamespace.follow(informer);
      informer.on('delete', (vm) => {
        const uid = vm.metadata?.uid;
        // Only remembered VMs (bounded by the rows); dropped once VMDeleted is recorded. The last
        // state decides a Stop followed at once by the delete; its deletion stamp names the deleter.
        if (uid && this.options.states.get(uid)) this.lastSeen.set(uid, { vm, goneAt: Date.now() });
      });
      this.controller.watchPrimary(informer);
      informer.start();
      await informer.waitForSync();
      if (this.stopped) return;
      this.log?.info(`watching KubeVirt VirtualMachines in VDC namespaces (${informer.list().length} VMs, ${this.options.states.size} known)`);
      // Catch-up: VMs remembered from before the start that are gone now get their VMDeleted.
      for (const key of this.byKey.keys()) this.controller.enqueue(key);
      this.followLeadership();
      this.controller.start();
    })();
    return this.starting;
  }

  /**
   * A replica that becomes the leader catches up at once: it reloads what the previous leader
   * reported (the archive is shared between replicas on PostgreSQL) and re-decides every VM.
   */
  private followLeadership(): void {
    const isLeader = this.options.isLeader;
    this.leading = isLeader?.() ?? true;
    if (!isLeader) return;
    this.stopFollowing = onLeadershipChange(isLeader, { gained: () => this.gainLeadership(), lost: () => (this.leading = false) });
  }

  /** Once per gain: reconciles wait for it (they return; the takeover enqueues every key). */
  private gainLeadership(): void {
    this.takingOver ??= this.takeOver().finally(() => (this.takingOver = undefined));
  }

  private async takeOver(): Promise<void> {
    try {
      await this.options.states.reload();
    } catch (err) {
      // The rows in memory are then what this replica last knew: re-decide against them.
      this.log?.warn(`VM states: could not reload them on gaining the leadership: ${(err as Error).message}`);
    }
    this.byKey.clear();
    for (const r of this.options.states.all()) this.index(r);
    // Before the keys go in: a worker may take one at once.
    this.leading = true;
    this.controller.resyncAll();
    for (const key of this.byKey.keys()) this.controller.enqueue(key);
  }

  private enqueueNamespace(namespace: string): void {
    for (const name of this.perNamespace.names(namespace)) this.controller.enqueue(`${namespace}/${name}`);
  }

  private index(r: VmRecord): void {
    const key = `${r.namespace}/${r.name}`;
    const uids = this.byKey.get(key);
    if (uids === undefined) this.byKey.set(key, r.uid);
    else if (typeof uids === 'string') this.byKey.set(key, uids === r.uid ? uids : [uids, r.uid]);
    else if (!uids.includes(r.uid)) uids.push(r.uid);
  }

  private unindex(r: Pick<VmRecord, 'uid' | 'namespace' | 'name'>): void {
    const key = `${r.namespace}/${r.name}`;
    const rest = this.uidsOf(key).filter((u) => u !== r.uid);
    if (rest.length === 0) this.byKey.delete(key);
    else this.byKey.set(key, rest.length === 1 ? (rest[0] as string) : rest);
  }

  private uidsOf(key: string): string[] {
    const uids = this.byKey.get(key);
    return uids === undefined ? [] : typeof uids === 'string' ? [uids] : uids;
  }

  private count(reason: string): void {
    this.recorded.set(reason, (this.recorded.get(reason) ?? 0) + 1);
  }

  private reconcile(key: string): void {
    if (this.options.isLeader) {
      if (!this.options.isLeader()) {
        this.leading = false;
        return;
      }
      // Just became the leader: decide nothing against rows the previous leader may have changed.
      if (!this.leading) {
        this.gainLeadership();
        return;
      }
    }
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const vm = this.informer?.get(name, namespace);
    const uid = vm?.metadata?.uid;
    // Every remembered VM of this name that is not the one there now is gone: first what its
    // last state said (a Stopped followed at once by the delete), then VMDeleted.
    for (const gone of this.uidsOf(key).filter((u) => u !== uid)) {
      const last = this.lastSeen.get(gone);
      if (last) this.decide(last.vm, gone, namespace, name);
      this.reportDeleted(gone, key);
    }
    if (vm && uid) this.decide(vm, uid, namespace, name);
  }

  private decide(vm: VirtualMachine, uid: string, namespace: string, name: string): void {
    const ns = this.options.namespaces.get(namespace);
    const vdc = ns?.metadata.labels?.[LABELS.vdc];
    if (!vdc) return; // Not a VDC namespace: not ours to report.
    const organization = ns?.metadata.labels?.[LABELS.organization];
    const prev = this.options.states.get(uid);
    const { next, events } = decideVm(prev?.state ?? NOTHING_REPORTED, vm.status ?? {});
    const row: VmRecord = {
      uid,
      namespace,
      name,
      organization,
      vdc,
      actor: cut(vm.metadata?.annotations?.[ANNOTATIONS.requestedBy]),
      owner: cut(vm.metadata?.annotations?.[ANNOTATIONS.owner]),
      state: next,
    };
    keepStamps(row, vm, prev);
    const context = { organization, vdc, actor: row.actor, owner: row.owner };
    for (const e of events) {
      const type = e.reason === 'ProvisioningFailed' || e.reason === 'StartupFailed' ? 'Warning' : 'Normal';
      // The reason decides the type (the catalog's); the cast keeps record()'s typed signature.
      this.options.recorder.record(vm, type as never, e.reason, vmMessage(e, { name, vdc, organization }), context);
      this.count(e.reason);
    }
    if (!prev || !sameReported(prev.state, next) || prev.actor !== row.actor || prev.owner !== row.owner || prev.organization !== organization || prev.vdc !== vdc
      || prev.stamps !== row.stamps || prev.deletionTimestamp !== row.deletionTimestamp) {
      this.options.states.set(row);
      if (!prev) this.index(row);
    }
    if (events.length || !prev || prev.state.status !== next.status) this.options.onChange?.(namespace);
  }

  private reportDeleted(uid: string, key: string): void {
    const gone = this.lastSeen.get(uid);
    this.lastSeen.delete(uid);
    const r = this.options.states.get(uid);
    if (!r) {
      const slash = key.indexOf('/');
      this.unindex({ uid, namespace: key.slice(0, slash), name: key.slice(slash + 1) });
      return;
    }
    // Gone while the operator was down: the row's copy of the stamps and proof stands for the VM,
    // so the recorder verifies them as on a live VM (the proof covers kind, namespace and name).
    const object: VirtualMachine = {
      apiVersion: KIND_API_VERSIONS.VirtualMachine,
      kind: VM_KIND,
      metadata: {
        name: r.name,
        namespace: r.namespace,
        uid: r.uid,
        annotations: r.stamps ?? { ...(r.actor ? { [ANNOTATIONS.requestedBy]: r.actor } : {}), ...(r.owner ? { [ANNOTATIONS.owner]: r.owner } : {}) },
        ...(r.deletionTimestamp ? { deletionTimestamp: new Date(r.deletionTimestamp) } : {}),
      },
    };
    // The actor is the deleter (DESIGN.md section 8), never the requester; unknown without a stamp.
    const deleter = gone ? deleterOf(gone.vm, gone.goneAt) : deleterOf(object);
    this.options.recorder.record(gone?.vm ?? object, 'Normal', 'VMDeleted', vmDeletedMessage(r), { organization: r.organization, vdc: r.vdc, actor: deleter, owner: r.owner });
    this.count('VMDeleted');
    this.options.states.delete(uid);
    this.unindex(r);
    this.options.onChange?.(r.namespace);
  }

  /** VMs of a namespace as last seen: total and Running (for the VDC's workload counts). */
  countsOf(namespace: string): Counts {
    return this.perNamespace.counts(namespace);
  }

  waitIdle(timeoutMs = 30_000): Promise<boolean> {
    return this.controller.waitIdle(timeoutMs);
  }

  /** Stops polling and watching, drains the queue and writes the remaining state. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.stopFollowing?.();
    await this.controller.stop(10_000);
    this.informer?.stop();
    if (!(await this.options.states.flush(5_000))) this.log?.warn('VM states: not everything was written before the timeout');
    this.options.states.stop();
  }
}

/** Wiring: the watcher on the operator's client, recorder and namespaces, its state in `engine`. */
export async function startVmWatcher(
  informers: InformerFactory,
  operator: { client: KubeClient; recorder: EventRecording; informers: { namespaces: ResilientInformer<PlainObject> }; isLeader(): boolean },
  states: VmStates,
  options: Pick<VmWatcherOptions, 'logger' | 'metrics' | 'crdPollMs' | 'resyncPeriodMs' | 'onChange'>,
): Promise<VmWatcher> {
  await states.load();
  const watcher = new VmWatcher({
    ...options,
    informers,
    client: operator.client,
    recorder: operator.recorder,
    namespaces: operator.informers.namespaces,
    states,
    isLeader: () => operator.isLeader(),
  });
  await watcher.start();
  return watcher;
}
