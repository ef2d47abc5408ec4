// WorkloadCounter: the VDC's status.virtualMachines {total, running} (from the VmWatcher's cache)
// and status.pods {total, running} (from a slim, cluster-wide pod watch: name, namespace and
// phase only), per VDC namespace, written only when they changed. Pure counting apart from the
// one status patch.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { patchStatus, type PlainObject } from '../kube/apply.js';
import { Controller } from '../kube/controller.js';
import type { InformerFactory, InformerSpec } from '../kube/factory.js';
import type { ResilientInformer } from '../kube/informer.js';
import { onLeadershipChange } from './leadership.js';
import { COUNTED, NOT_COUNTED, NamespaceCounts, RUNNING, type Counts, type Standing } from './namespace-counts.js';
import type { KubeClient } from '../kube/rest.js';
import type { Metrics } from '../metrics.js';
import { organizationNamespace } from '../resources/naming.js';
import { LABELS, type VirtualDataCenter } from '../resources/types.js';

export interface SlimPod extends KubernetesObject {
  status?: { phase?: string };
}

export type { Counts };

/** Non-terminal pods count (the quota's `pods` counts the same); Running ones also as running. */
export function podStanding(p: SlimPod): Standing {
  const phase = p.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return NOT_COUNTED;
  return phase === 'Running' ? RUNNING : COUNTED;
}

export function slimPod(p: SlimPod): SlimPod {
  return {
    metadata: { name: p.metadata?.name, namespace: p.metadata?.namespace, resourceVersion: p.metadata?.resourceVersion },
    status: { phase: p.status?.phase },
  };
}

/** The pods informer the counter reads (ask the InformerFactory). */
export const PODS_INFORMER: InformerSpec<SlimPod> = { apiVersion: 'v1', kind: 'Pod', plural: 'pods', transform: slimPod };

export interface WorkloadCounterOptions {
  client: KubeClient;
  vdcs: ResilientInformer<VirtualDataCenter>;
  namespaces: ResilientInformer<PlainObject>;
  pods: ResilientInformer<SlimPod>;
  /** VMs of a namespace (the VmWatcher's cache). */
  vmCounts: (namespace: string) => Counts;
  metrics?: Metrics;
  logger?: Logger;
  isLeader?: () => boolean;
}

const same = (a: Counts | undefined, b: Counts) => a?.total === b.total && a?.running === b.running;

/** Keys are VDC namespaces. */
export class WorkloadCounter {
  readonly controller: Controller;
  /** Status writes made (the "written only when changed" check reads it). */
  writes = 0;
  /** Pods per namespace, kept from the pod informer's events (a count is O(1)). */
  private readonly pods: NamespaceCounts<SlimPod>;
  private stopFollowing: (() => void) | undefined;

  constructor(private readonly options: WorkloadCounterOptions) {
    this.controller = new Controller({
      name: 'workload',
      metrics: options.metrics,
      logger: options.logger,
      reconcile: async (ns) => this.reconcile(ns),
    });
    // Before the controller's own handlers: a reconcile queued by a pod event sees that pod.
    this.pods = new NamespaceCounts(podStanding).follow(options.pods);
    const nsOf = (o: KubernetesObject) => o.metadata?.namespace;
    this.controller.watch(options.pods, (p, old) => (!old || p.status?.phase !== (old as SlimPod).status?.phase ? nsOf(p) : undefined));
    this.controller.watch(options.vdcs, (v) => v.status?.namespace);
  }

  enqueue(namespace: string): void {
    this.controller.enqueue(namespace);
  }

  start(): void {
    this.controller.start();
    // A new leader writes the counts at once (as a follower it wrote nothing).
    const isLeader = this.options.isLeader;
    if (isLeader) this.stopFollowing = onLeadershipChange(isLeader, { gained: () => this.enqueueAll() });
  }

  /** Every provisioned VDC's namespace. */
  enqueueAll(): void {
    for (const v of this.options.vdcs.list()) if (v.status?.namespace) this.enqueue(v.status.namespace);
  }

  stop(): Promise<boolean> {
    this.stopFollowing?.();
    return this.controller.stop(10_000);
  }

  waitIdle(timeoutMs = 30_000): Promise<boolean> {
    return this.controller.waitIdle(timeoutMs);
  }

  /** The counts of a VDC namespace now. */
  counts(namespace: string): { virtualMachines: Counts; pods: Counts } {
    return { virtualMachines: this.options.vmCounts(namespace), pods: this.pods.counts(namespace) };
  }

  private async reconcile(namespace: string): Promise<void> {
    if (this.options.isLeader && !this.options.isLeader()) return;
    const labels = this.options.namespaces.get(namespace)?.metadata.labels;
    const org = labels?.[LABELS.organization];
    const vdcName = labels?.[LABELS.vdc];
    if (!org || !vdcName) return;
    const vdc = this.options.vdcs.get(vdcName, organizationNamespace(org));
    // Only a provisioned VDC of this namespace; the VDC reconciler owns the first status.
    if (!vdc || vdc.status?.namespace !== namespace || vdc.metadata?.deletionTimestamp) return;
    const next = this.counts(namespace);
    if (same(vdc.status?.virtualMachines, next.virtualMachines) && same(vdc.status?.pods, next.pods)) return;
    this.writes++;
    await patchStatus(this.options.client, vdc, next);
  }
}

/** Wiring: the pod watch and the counter on the operator's informers; counts every VDC once. */
export async function startWorkloadCounter(
  informers: InformerFactory,
  operator: { client: KubeClient; informers: { vdcs: ResilientInformer<VirtualDataCenter>; namespaces: ResilientInformer<PlainObject> }; isLeader(): boolean },
  vmCounts: (namespace: string) => Counts,
  options: { logger?: Logger; metrics?: Metrics },
): Promise<{ counter: WorkloadCounter; stop(): Promise<void> }> {
  const pods = informers.informer(PODS_INFORMER);
  const counter = new WorkloadCounter({
    client: operator.client,
    vdcs: operator.informers.vdcs,
    namespaces: operator.informers.namespaces,
    pods,
    vmCounts,
    metrics: options.metrics,
    logger: options.logger,
    isLeader: () => operator.isLeader(),
  });
  pods.start();
  await pods.waitForSync();
  counter.enqueueAll();
  counter.start();
  return {
    counter,
    async stop() {
      await counter.stop();
      pods.stop();
    },
  };
}
