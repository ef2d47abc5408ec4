// What the reconcilers share: read-only views of the informer caches, the narrow event
// interface, and keeping a set of child objects in line with their desired state.
import type { Logger } from 'winston';
import { STAMPS, deleterOf } from '../admission/stamps.js';
import type { DeliveryCallback, EventRecording } from '../events/types.js';
import {
  applyObject,
  createObject,
  deleteObject,
  needsApply,
  patchStatus,
  semanticEqual,
  type PlainObject,
} from '../kube/apply.js';
import { isNotFound, step } from '../kube/errors.js';
import type { WriteExpectations } from '../kube/expectations.js';
import { objectKey } from '../kube/informer.js';
import type { KubeClient } from '../kube/rest.js';
import type { DeliveryLedger } from './delivery-ledger.js';
import { setCondition, type ConditionInput } from '../resources/conditions.js';
import { ANNOTATIONS, type Condition, type Organization, type VirtualDataCenter } from '../resources/types.js';
import type { KubeObject } from '../kube/meta.js';

/** A read-only cache (ResilientInformer satisfies it; unit tests pass maps). */
export interface Store<T> {
  get(name: string, namespace?: string): T | undefined;
  list(): T[];
  /** The objects of one namespace, from an index (ResilientInformer has one); else objectsIn() scans. */
  inNamespace?(namespace: string): T[];
}

/**
 * The objects of `store` in `namespace`. A reconcile asks this for its own few objects: a scan of
 * the whole cache per reconcile made a full resync O(objects²).
 */
export function objectsIn<T extends KubeObject>(store: Store<T>, namespace: string): T[] {
  return store.inNamespace ? store.inNamespace(namespace) : store.list().filter((o) => o.metadata?.namespace === namespace);
}

/**
 * The recorder surface the controllers use (src/events/recorder.ts implements it): record()
 * for warnings, the domain helpers for the lifecycle events so that their messages are the
 * same wherever they are recorded.
 */
export interface EventSink extends EventRecording {
  recordOrganizationCreated(org: Organization, actor?: string, onDelivered?: DeliveryCallback): void;
  recordOrganizationUpdated(org: Organization, actor?: string, onDelivered?: DeliveryCallback): void;
  recordOrganizationDeleted(org: Organization, actor?: string): void;
  recordOrganizationReconcileForced(org: Organization, actor?: string): void;
  recordVdcCreated(vdc: VirtualDataCenter, org: Organization | string | undefined, actor?: string, onDelivered?: DeliveryCallback): void;
  recordVdcUpdated(vdc: VirtualDataCenter, org: Organization | string | undefined, actor?: string, onDelivered?: DeliveryCallback): void;
  recordVdcDeleted(vdc: VirtualDataCenter, org: Organization | string | undefined, actor?: string): void;
  recordVdcReconcileForced(vdc: VirtualDataCenter, actor?: string): void;
  /** Waits until the recorded events are written (true) or the timeout passed (false). */
  flush?(timeoutMs: number): Promise<boolean>;
}

export interface ReconcilerBase {
  client: KubeClient;
  events: EventSink;
  /** Where confirmed event deliveries are recorded (durable markers; see delivery-ledger.ts). */
  deliveries?: DeliveryLedger;
  logger?: Logger;
  now?: () => Date;
  /** Our writes the informer cache has not shown yet (shared by every writer of a kind). */
  expectations?: WriteExpectations;
  /** Enqueues a key of this reconciler again (after `delayMs` when given). */
  requeue?: (key: string, delayMs?: number) => void;
}

/** The requeue delays of the reconcilers, by what they wait for. */
export const REQUEUE = {
  /** The informer has not shown our last write of the key yet. */
  cacheBehind: 2_000,
  /** A namespace of someone else holds our name: it sends no event to our informer when it goes. */
  foreignNamespace: 30_000,
  /** Our namespace is terminating: wait to recreate it. */
  namespaceTerminating: 2_000,
  /** Deletion: our namespace is being deleted; look again. */
  namespaceDeletion: 5_000,
} as const;

/** What a reconcile answers while the cache is behind our own last write of the key. */
export const CACHE_BEHIND = { requeueAfter: REQUEUE.cacheBehind } as const;

/** Notes the resourceVersion a write of `obj` produced. */
export function expectWrite(base: ReconcilerBase, obj: KubeObject, written: KubeObject | undefined): void {
  base.expectations?.expect(objectKey(obj), written?.metadata?.resourceVersion);
}

/** Who asked for the object: its `ovim.io/requested-by` annotation. */
export function requestedBy(obj: KubeObject): string | undefined {
  return obj.metadata?.annotations?.[ANNOTATIONS.requestedBy] || undefined;
}

/**
 * Who last changed the spec or annotations: `ovim.io/last-modified-by` (stamped by the admission
 * webhook), else the requester (objects from before the webhook).
 */
export function modifiedBy(obj: KubeObject): string | undefined {
  return obj.metadata?.annotations?.[STAMPS.lastModifiedBy] || requestedBy(obj);
}

/** Who deleted it: the webhook's deletion stamp of this deletion; undefined when unknown. */
export function deletedBy(obj: KubeObject): string | undefined {
  return deleterOf(obj);
}

/** Who triggered a forced reconcile: `ovim.io/force-reconcile-by`, when set. */
export function forcedBy(obj: KubeObject): string | undefined {
  return obj.metadata?.annotations?.[ANNOTATIONS.forceReconcileBy] || undefined;
}

/** The force-reconcile value to handle now, or undefined when there is none or it was handled. */
export function pendingForceReconcile(obj: KubeObject & { status?: { lastForcedReconcile?: string } }): string | undefined {
  const value = obj.metadata?.annotations?.[ANNOTATIONS.forceReconcile];
  if (!value) return undefined;
  return value === obj.status?.lastForcedReconcile ? undefined : value;
}

export function isDeleting(obj: KubeObject): boolean {
  return Boolean(obj.metadata?.deletionTimestamp);
}

/**
 * Brings a set of children in line: applies the desired ones that are missing or differ (all of
 * them when `force`), deletes the observed ones that are no longer desired. Returns the writes.
 */
export async function syncChildren(
  client: KubeClient,
  type: { apiVersion: string; kind: string },
  desired: readonly PlainObject[],
  observed: readonly PlainObject[],
  force: boolean,
): Promise<number> {
  const byName = new Map(observed.map((o) => [o.metadata.name, o]));
  const wanted = new Set(desired.map((d) => d.metadata.name));
  const writes: Promise<unknown>[] = [];
  for (const d of desired) {
    if (force || needsApply(d, byName.get(d.metadata.name))) writes.push(applyObject(client, d));
  }
  for (const o of observed) {
    if (!wanted.has(o.metadata.name)) writes.push(deleteObject(client, { ...type, metadata: o.metadata }));
  }
  await Promise.all(writes);
  return writes.length;
}

/** Runs a recording call; a failing recorder is logged and never fails the reconcile. */
export function safely(logger: Logger | undefined, what: string, record: () => void): void {
  try {
    record();
  } catch (err) {
    logger?.warn(`recording ${what} failed: ${errorMessage(err)}`);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export type NamespaceOutcome = 'created' | 'ready' | 'conflict' | 'terminating';

/**
 * Makes sure the namespace exists and is ours. `cached` comes from the informer of managed
 * namespaces (label-selected), so a namespace made by someone else is not in it: it is then
 * created, and a name already taken is read to see whose it is. When the last reconcile found
 * a conflict (`suspectConflict`), it is read first instead, so that a resync of a failed object
 * issues no write.
 */
export async function ensureNamespace(
  client: KubeClient,
  desired: PlainObject,
  cached: PlainObject | undefined,
  owns: (ns: PlainObject) => boolean,
  options: { force: boolean; suspectConflict: boolean },
): Promise<NamespaceOutcome> {
  const path = `/api/v1/namespaces/${encodeURIComponent(desired.metadata.name)}`;
  const read = async (): Promise<PlainObject | undefined> => {
    try {
      return await client.get<PlainObject>(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  let observed = cached;
  if (!observed && options.suspectConflict) observed = await read();
  if (!observed) {
    const outcome = await createObject(client, desired);
    if ('created' in outcome) return 'created';
    observed = await read();
    if (!observed) throw new Error(`namespace ${desired.metadata.name} exists and vanished; retrying`);
  }
  if (!owns(observed)) return 'conflict';
  if (isDeleting(observed)) return 'terminating';
  if (options.force || needsApply(desired, observed)) await applyObject(client, desired);
  return 'ready';
}

/** The Ready condition a reconcile decided on (status defaults to False). */
export type ReadyInput = Omit<ConditionInput, 'type' | 'status'> & { status?: ConditionInput['status'] };

/** The status fields both kinds share. */
export interface CommonStatus {
  namespace?: string;
  phase?: string;
  conditions?: Condition[];
  observedGeneration?: number;
  lastForcedReconcile?: string;
}

export const READY = 'Ready';

/**
 * The next common status: the namespace stays reported once provisioned, the Ready condition
 * moves its transition time only on a status change, and observedGeneration moves only when
 * the spec was applied (`specApplied`).
 */
export function nextCommonStatus(
  obj: KubeObject & { status?: CommonStatus },
  s: { phase: string; ready: ReadyInput; namespace?: string; forced?: string },
  specApplied: boolean,
  now: Date,
): CommonStatus {
  const prev = obj.status;
  const generation = obj.metadata?.generation ?? 0;
  return {
    namespace: s.namespace ?? prev?.namespace,
    phase: s.phase,
    conditions: setCondition(
      prev?.conditions,
      { type: READY, status: s.ready.status ?? 'False', reason: s.ready.reason, message: s.ready.message, observedGeneration: generation },
      now,
    ),
    observedGeneration: specApplied ? generation : prev?.observedGeneration,
    lastForcedReconcile: s.forced ?? prev?.lastForcedReconcile,
  };
}

/** Whether none of `keys` differs (semantically) between two statuses. */
export function statusUnchanged<S extends object>(prev: S | undefined, next: S, keys: readonly (keyof S)[]): boolean {
  return keys.every((k) => semanticEqual(prev?.[k], next[k]));
}

/**
 * Patches the status when one of `keys` differs from the cached one (semantically); `extra`
 * fields ride along but do not by themselves cause a write. Returns whether it wrote.
 */
export async function writeStatusIfChanged<S extends object>(
  base: ReconcilerBase,
  obj: KubeObject & { status?: S },
  next: S,
  keys: readonly (keyof S)[],
  extra: object = {},
): Promise<boolean> {
  if (statusUnchanged(obj.status, next, keys)) return false;
  const body = { ...next, ...extra } as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  expectWrite(base, obj, await step('status', () => patchStatus<KubeObject>(base.client, obj, body)));
  return true;
}
