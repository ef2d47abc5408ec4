// The actor stamps the admission webhook writes on objects, and their proof. The webhook is the
// only writer of these annotations while it is in force; `ovim.io/actor-proof` is an HMAC (key
// shared by the replicas through a Secret) over the stamps and the object's identity, so that a
// stamp typed by a user while no webhook ran (an object from before the webhook, a cluster
// without it) does not verify. Pure: no I/O.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AnyKubeObject } from '../kube/meta.js';
import { ANNOTATIONS } from '../resources/types.js';

export const STAMPS = {
  requestedBy: ANNOTATIONS.requestedBy,
  /** The trusted requester (an account acting for its users) that stated `requested-by`. */
  requestedVia: 'ovim.io/requested-via',
  lastModifiedBy: 'ovim.io/last-modified-by',
  forceReconcileBy: ANNOTATIONS.forceReconcileBy,
  /** Who asked to delete it and when (RFC 3339), written by the webhook on DELETE. */
  deletionRequestedBy: 'ovim.io/deletion-requested-by',
  deletionRequestedAt: 'ovim.io/deletion-requested-at',
  /** "true" when `ovim.io/owner` was set by its owner or by a trusted requester. */
  ownerVerified: 'ovim.io/owner-verified',
  /** "false" when `requested-by` predates the webhook (kept, since it is immutable, but not vouched for). */
  requestedByVerified: 'ovim.io/requested-by-verified',
  proof: 'ovim.io/actor-proof',
  /** The operator's authorization of a deletion stamp; consumed by the webhook, never stored. */
  deletionProof: 'ovim.io/deletion-proof',
} as const;

/** The stamps the proof covers, in the proof's order. */
const COVERED = [
  STAMPS.requestedBy,
  STAMPS.requestedVia,
  STAMPS.lastModifiedBy,
  ANNOTATIONS.forceReconcile,
  STAMPS.forceReconcileBy,
  STAMPS.deletionRequestedBy,
  STAMPS.deletionRequestedAt,
  ANNOTATIONS.owner,
  STAMPS.ownerVerified,
  STAMPS.requestedByVerified,
] as const;

/**
 * What a proof is checked against, taken from an object's annotations (values cut to MAX_STAMP):
 * kept with what was reported about an object, it verifies the stamps again after the object is
 * gone (the identity is the kind, namespace and name, which are kept too). Undefined without a
 * proof: nothing to verify.
 */
export function provenAnnotations(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (!annotations?.[STAMPS.proof]) return undefined;
  const out: Record<string, string> = {};
  for (const k of [...COVERED, STAMPS.proof]) {
    const v = annotations[k];
    if (typeof v === 'string') out[k] = cutStamp(v);
  }
  return out;
}

/** Annotations a user never sets directly while the webhook is in force. */
export const STAMP_KEYS: ReadonlySet<string> = new Set<string>(Object.values(STAMPS));

/** Values the webhook writes are cut like the recorder cuts annotation values. */
export const MAX_STAMP = 253;
export function cutStamp(value: string): string {
  return value.length > MAX_STAMP ? value.slice(0, MAX_STAMP) : value;
}

/** Which object a proof is about: the proof does not move from one object to another. */
export interface ObjectIdentity {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

export function identityOf(obj: AnyKubeObject): ObjectIdentity {
  const apiVersion = obj.apiVersion ?? '';
  return {
    group: apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '',
    kind: obj.kind ?? '',
    namespace: obj.metadata?.namespace ?? '',
    name: obj.metadata?.name ?? '',
  };
}

/** The proof of `annotations` on the object `id`: base64url HMAC-SHA256. */
export function computeProof(key: Uint8Array, id: ObjectIdentity, annotations: Readonly<Record<string, string>>): string {
  const payload = JSON.stringify(['ovim-actor-proof/v1', id.group, id.kind, id.namespace, id.name, ...COVERED.map((k) => annotations[k] ?? null)]);
  return createHmac('sha256', key).update(payload).digest('base64url');
}

/** Authorizes one deletion stamp (the webhook's own patch on DELETE). */
export function deletionProof(key: Uint8Array, id: ObjectIdentity, by: string, at: string): string {
  const payload = JSON.stringify(['ovim-deletion-proof/v1', id.group, id.kind, id.namespace, id.name, by, at]);
  return createHmac('sha256', key).update(payload).digest('base64url');
}

export function sameProof(given: string | undefined, expected: string): boolean {
  if (!given || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

export function proofValid(key: Uint8Array, obj: AnyKubeObject): boolean {
  const annotations = obj.metadata?.annotations ?? {};
  return sameProof(annotations[STAMPS.proof], computeProof(key, identityOf(obj), annotations));
}

/** The skew allowed between the webhook's deletion stamp and the API server's deletionTimestamp. */
export const SKEW_MS = 30_000;

/**
 * Who deleted the object: its deletion stamp, when the stamp belongs to this deletion (written
 * within the skew of deletionTimestamp; an older stamp is from a deletion that did not happen).
 * An object without finalizers is removed at once and never gets a deletionTimestamp: then
 * `goneAt`, when the watcher saw it disappear, stands in for it.
 */
export function deleterOf(obj: AnyKubeObject, goneAt?: number): string | undefined {
  const annotations = obj.metadata?.annotations ?? {};
  const by = annotations[STAMPS.deletionRequestedBy];
  const at = Date.parse(annotations[STAMPS.deletionRequestedAt] ?? '');
  const deletion = obj.metadata?.deletionTimestamp;
  if (!by || Number.isNaN(at)) return undefined;
  const when = deletion ? (deletion instanceof Date ? deletion.getTime() : Date.parse(String(deletion))) : goneAt;
  return when !== undefined && Math.abs(when - at) <= SKEW_MS ? by : undefined;
}

/**
 * Answers whether an actor or owner named on an object was stamped by the webhook. Without a
 * key (no webhook in this process) nothing is verified.
 */
export class ActorVerifier {
  constructor(private key: Uint8Array | undefined = undefined) {}

  setKey(key: Uint8Array): void {
    this.key = key;
  }

  /** True when `actor` is one of the object's stamped actors and the proof holds. */
  actorVerified(obj: AnyKubeObject, actor: string): boolean {
    if (!this.key || !actor) return false;
    const a = obj.metadata?.annotations ?? {};
    const requester = a[STAMPS.requestedByVerified] === 'false' ? undefined : a[STAMPS.requestedBy];
    const stamped = [requester, a[STAMPS.lastModifiedBy], a[STAMPS.forceReconcileBy], a[STAMPS.deletionRequestedBy]];
    return stamped.includes(actor) && proofValid(this.key, obj);
  }

  ownerVerified(obj: AnyKubeObject, owner: string): boolean {
    if (!this.key || !owner) return false;
    const a = obj.metadata?.annotations ?? {};
    return a[ANNOTATIONS.owner] === owner && a[STAMPS.ownerVerified] === 'true' && proofValid(this.key, obj);
  }
}
