// VmWatcher: KubeVirt VirtualMachines in VDC namespaces → the VM rows of the event catalog
// (DESIGN.md sections 3 and 4). Read-only on VMs. Idle (one log line) while the
// virtualmachines.kubevirt.io CRD is missing; it checks again every `crdPollMs` and starts by
// itself once the CRD is served. The decisions are vm.ts's (pure); what was last reported per
// VM uid is kept in VmStates (durable in the archive), so restarts and relists repeat nothing,
// and the first pass after a start reports what happened while the operator was down.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { STAMPS, deleterOf } from '../admission/stamps.js';
import { KIND_API_VERSIONS, VM_KIND } from '../events/catalog.js';
import type { EventRecording } from '../events/types.js';
import type { PlainObject } from '../kube/apply.js';
import { Controller } from '../kube/controller.js';
import { apiErrorMessage, isNotFound } from '../kube/errors.js';
import type { InformerFactory } from '../kube/factory.js';
import { objectKey, type ResilientInformer } from '../kube/informer.js';
import type { KubeClient } from '../kube/rest.js';
import type { Metrics } from '../metrics.js';
import { ANNOTATIONS, LABELS } from '../resources/types.js';
import type { VmRecord, VmStates } from '../history/vm-states.js';
import { NOTHING_REPORTED, decideVm, sameReported, vmDeletedMessage, vmMessage, type VmStatusView } from './vm.js';

export const VM_CRD = 'virtualmachines.kubevirt.io';
export const VM_PATH = '/apis/kubevirt.io/v1/virtualmachines';

/** The parts of a VM the watcher keeps (the informer's transform drops the rest). */
export interface VirtualMachine extends KubernetesObject {
  status?: VmStatusView & { ready?: boolean };
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

/** Keeps what the decisions, the events and the actor's proof need; drops spec and the rest. */
export function slimVm(vm: VirtualMachine): VirtualMachine {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(vm.metadata?.annotations ?? {})) if (k.startsWith('ovim.io/')) annotations[k] = v;
  const s = vm.status;
  return {
    apiVersion: vm.apiVersion,
    kind: vm.kind,
    metadata: {
      name: vm.metadata?.name,
      namespace: vm.metadata?.namespace,
      uid: vm.metadata?.uid,
      resourceVersion: vm.metadata?.resourceVersion,
      generation: vm.metadata?.generation,
      deletionTimestamp: vm.metadata?.deletionTimestamp,
      annotations,
    },
    status: s && {
      printableStatus: s.printableStatus,
      ready: s.ready,
      conditions: s.conditions?.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
      startFailure: s.startFailure ? { consecutiveFailCount: s.startFailure.consecutiveFailCount } : undefined,
    },
  };
}

export class VmWatcher {
  readonly controller: Controller;
  informer: ResilientInformer<VirtualMachine> | undefined;
  private readonly byKey = new Map<string, Set<string>>();
  private readonly log: Logger | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private leaderTimer: NodeJS.Timeout | undefined;
  private wasLeader = true;
  private stopped = false;
  private starting: Promise<void> | undefined;
  /** Events recorded, by reason (tests and the benchmark read it). */
  readonly recorded = new Map<string, number>();
  /** Last state of remembered VMs that left with the webhook's deletion stamp: VMDeleted's actor. */
  private readonly stampedGone = new Map<string, { vm: VirtualMachine; goneAt: number }>();

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
      informer.on('delete', (vm) => {
        const uid = vm.metadata?.uid;
        if (uid && vm.metadata?.annotations?.[STAMPS.deletionRequestedBy] && this.options.states.get(uid)) this.stampedGone.set(uid, { vm, goneAt: Date.now() });
      });
      this.controller.watchPrimary(informer);
      informer.start();
      await informer.waitForSync();
      if (this.stopped) return;
      this.log?.info(`watching KubeVirt VirtualMachines in VDC namespaces (${informer.list().length} VMs, ${this.options.states.size} known)`);
      // Catch-up: VMs remembered from before the start that are gone now get their VMDeleted.
      for (const key of this.byKey.keys()) this.controller.enqueue(key);
      this.controller.start();
      this.followLeadership();
    })();
    return this.starting;
  }

  /** A replica that becomes the leader catches up at once (a follower's reconciles did nothing). */
  private followLeadership(): void {
    const isLeader = this.options.isLeader;
    if (!isLeader) return;
    this.wasLeader = isLeader();
    this.leaderTimer = setInterval(() => {
      const leading = isLeader();
      if (leading && !this.wasLeader) {
        this.controller.resyncAll();
        for (const key of this.byKey.keys()) this.controller.enqueue(key);
      }
      this.wasLeader = leading;
    }, 1_000);
    this.leaderTimer.unref();
  }

  private enqueueNamespace(namespace: string): void {
    for (const vm of this.informer?.list() ?? []) if (vm.metadata?.namespace === namespace) this.controller.enqueue(objectKey(vm));
  }

  private index(r: VmRecord): void {
    const key = `${r.namespace}/${r.name}`;
    let uids = this.byKey.get(key);
    if (!uids) this.byKey.set(key, (uids = new Set()));
    uids.add(r.uid);
  }

  private unindex(r: VmRecord): void {
    const key = `${r.namespace}/${r.name}`;
    const uids = this.byKey.get(key);
    uids?.delete(r.uid);
    if (uids?.size === 0) this.byKey.delete(key);
  }

  private count(reason: string): void {
    this.recorded.set(reason, (this.recorded.get(reason) ?? 0) + 1);
  }

  private reconcile(key: string): void {
    if (this.options.isLeader && !this.options.isLeader()) return;
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const vm = this.informer?.get(name, namespace);
    const uid = vm?.metadata?.uid;
    // Every remembered VM of this name that is not the one there now is gone.
    for (const gone of [...(this.byKey.get(key) ?? [])].filter((u) => u !== uid)) this.reportDeleted(gone, key);
    if (!vm || !uid) return;
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
    const context = { organization, vdc, actor: row.actor, owner: row.owner };
    for (const e of events) {
      const type = e.reason === 'ProvisioningFailed' || e.reason === 'StartupFailed' ? 'Warning' : 'Normal';
      // The reason decides the type (the catalog's); the cast keeps record()'s typed signature.
      this.options.recorder.record(vm, type as never, e.reason, vmMessage(e, { name, vdc, organization }), context);
      this.count(e.reason);
    }
    if (!prev || !sameReported(prev.state, next) || prev.actor !== row.actor || prev.owner !== row.owner || prev.organization !== organization || prev.vdc !== vdc) {
      this.options.states.set(row);
      if (!prev) this.index(row);
    }
    if (events.length || !prev || prev.state.status !== next.status) this.options.onChange?.(namespace);
  }

  private reportDeleted(uid: string, key: string): void {
    const r = this.options.states.get(uid);
    const gone = this.stampedGone.get(uid);
    this.stampedGone.delete(uid);
    if (!r) {
      this.byKey.get(key)?.delete(uid);
      return;
    }
    const object: VirtualMachine = {
      apiVersion: KIND_API_VERSIONS.VirtualMachine,
      kind: VM_KIND,
      metadata: { name: r.name, namespace: r.namespace, uid: r.uid, annotations: { ...(r.actor ? { [ANNOTATIONS.requestedBy]: r.actor } : {}), ...(r.owner ? { [ANNOTATIONS.owner]: r.owner } : {}) } },
    };
    // The actor is the deleter (DESIGN.md section 8), never the requester; unknown without a stamp.
    const deleter = gone && deleterOf(gone.vm, gone.goneAt);
    this.options.recorder.record(deleter && gone ? gone.vm : object, 'Normal', 'VMDeleted', vmDeletedMessage(r), { organization: r.organization, vdc: r.vdc, actor: deleter, owner: r.owner });
    this.count('VMDeleted');
    this.options.states.delete(uid);
    this.unindex(r);
    this.options.onChange?.(r.namespace);
  }

  /** VMs of a namespace as last seen: total and Running (for the VDC's workload counts). */
  countsOf(namespace: string): { total: number; running: number } {
    let total = 0;
    let running = 0;
    for (const vm of this.informer?.list() ?? []) {
      if (vm.metadata?.namespace !== namespace) continue;
      total++;
      if (vm.status?.printableStatus === 'Running') running++;
    }
    return { total, running };
  }

  waitIdle(timeoutMs = 30_000): Promise<boolean> {
    return this.controller.waitIdle(timeoutMs);
  }

  /** Stops polling and watching, drains the queue and writes the remaining state. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    clearInterval(this.leaderTimer);
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
