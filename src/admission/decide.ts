// What the admission webhook answers, as pure functions of the AdmissionReview request (the
// HTTP server in server.ts does the I/O). Mutating (CREATE/UPDATE): the actor stamps come from
// the authenticated `userInfo.username`, never from what the request says, except for trusted
// requesters; the cleanup finalizer comes with the create. Validating (DELETE): who asked.
import { randomInt } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { semanticEqual } from '../kube/apply.js';
import { ORGANIZATION_FINALIZER, VDC_FINALIZER } from '../resources/naming.js';
import { ANNOTATIONS } from '../resources/types.js';
import {
  STAMPS,
  STAMP_KEYS,
  SKEW_MS,
  computeProof,
  cutStamp,
  deletionProof,
  identityOf,
  proofValid,
  sameProof,
} from './stamps.js';

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  /** The resource the request is about (it addresses any kind, e.g. KubeVirt's). */
  resource?: { group?: string; version?: string; resource?: string };
  operation?: string;
  name?: string;
  namespace?: string;
  userInfo?: { username?: string; groups?: string[] };
  object?: (KubernetesObject & { spec?: unknown }) | null;
  oldObject?: (KubernetesObject & { spec?: unknown }) | null;
  dryRun?: boolean;
}

export interface DecisionContext {
  /** The HMAC key of the actor proof (shared by the replicas). */
  key: Uint8Array;
  /** Usernames whose stated actor is kept (`--trusted-requesters`). */
  trusted: ReadonlySet<string>;
  now: Date;
  /** The random part of a name the webhook generates (default: like the API server's). */
  nameSuffix?: () => string;
}

export interface JsonPatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

export type Mutation = { allowed: true; patch: JsonPatchOp[] } | { allowed: false; code: number; message: string };

const FINALIZERS: Readonly<Record<string, string>> = {
  Organization: ORGANIZATION_FINALIZER,
  VirtualDataCenter: VDC_FINALIZER,
};

type Annotations = Record<string, string>;

function withoutStamps(annotations: Readonly<Annotations>): Annotations {
  const out: Annotations = {};
  for (const [k, v] of Object.entries(annotations)) if (!STAMP_KEYS.has(k)) out[k] = v;
  return out;
}

function set(out: Annotations, key: string, value: string | undefined): void {
  if (value) out[key] = cutStamp(value);
}

/** A trusted requester's stated value, when it stated one in this request; else the user. */
function actorOf(user: string, trusted: boolean, stated: string | undefined, previous?: string): string {
  return trusted && stated && stated !== previous ? stated : user;
}

/** The stamps of a CREATE. */
function createStamps(incoming: Annotations, user: string, trusted: boolean): Annotations {
  const out = withoutStamps(incoming);
  const stated = incoming[STAMPS.requestedBy];
  set(out, STAMPS.requestedBy, actorOf(user, trusted, stated));
  if (trusted && stated) set(out, STAMPS.requestedVia, user);
  if (incoming[ANNOTATIONS.forceReconcile]) set(out, STAMPS.forceReconcileBy, actorOf(user, trusted, incoming[STAMPS.forceReconcileBy]));
  const owner = incoming[ANNOTATIONS.owner];
  if (owner && (trusted || owner === user)) out[STAMPS.ownerVerified] = 'true';
  return out;
}

/** The stamps of an UPDATE: carried over from the stored object, then moved by this request. */
function updateStamps(
  obj: KubernetesObject & { spec?: unknown },
  old: KubernetesObject & { spec?: unknown },
  user: string,
  trusted: boolean,
  key: Uint8Array,
): Annotations {
  const incoming: Annotations = obj.metadata?.annotations ?? {};
  const before: Annotations = old.metadata?.annotations ?? {};
  const out = withoutStamps(incoming);
  const vouched = proofValid(key, old);
  // requested-by is immutable; from before the webhook (no valid proof) it is kept, marked unverified.
  set(out, STAMPS.requestedBy, before[STAMPS.requestedBy]);
  if (vouched) {
    for (const k of [STAMPS.requestedVia, STAMPS.lastModifiedBy, STAMPS.forceReconcileBy, STAMPS.deletionRequestedBy,
      STAMPS.deletionRequestedAt, STAMPS.ownerVerified, STAMPS.requestedByVerified]) set(out, k, before[k]);
  } else if (before[STAMPS.requestedBy]) {
    out[STAMPS.requestedByVerified] = 'false';
  }
  const specChanged = !semanticEqual(obj.spec, old.spec);
  const annotationsChanged = !semanticEqual(withoutStamps(incoming), withoutStamps(before));
  if (specChanged || annotationsChanged) {
    set(out, STAMPS.lastModifiedBy, actorOf(user, trusted, incoming[STAMPS.lastModifiedBy], before[STAMPS.lastModifiedBy]));
  }
  const force = incoming[ANNOTATIONS.forceReconcile];
  if (force && force !== before[ANNOTATIONS.forceReconcile]) {
    set(out, STAMPS.forceReconcileBy, actorOf(user, trusted, incoming[STAMPS.forceReconcileBy], before[STAMPS.forceReconcileBy]));
  }
  const owner = incoming[ANNOTATIONS.owner];
  if (owner !== before[ANNOTATIONS.owner]) {
    delete out[STAMPS.ownerVerified];
    if (owner && (trusted || owner === user)) out[STAMPS.ownerVerified] = 'true';
  }
  // A deletion stamp moves only with the operator's authorization (its patch on DELETE).
  const by = incoming[STAMPS.deletionRequestedBy];
  const at = incoming[STAMPS.deletionRequestedAt];
  if (by && at && sameProof(incoming[STAMPS.deletionProof], deletionProof(key, identityOf(old), by, at))) {
    out[STAMPS.deletionRequestedBy] = by;
    out[STAMPS.deletionRequestedAt] = at;
  }
  return out;
}

// The API server's own alphabet and lengths for generated names (no vowels, no look-alikes).
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const NAME_SUFFIX = 5;
const MAX_NAME_BASE = 63 - NAME_SUFFIX;

export function randomNameSuffix(): string {
  let out = '';
  for (let i = 0; i < NAME_SUFFIX; i++) out += NAME_ALPHABET[randomInt(NAME_ALPHABET.length)];
  return out;
}

/**
 * The name of a CREATE with `generateName` and no name, chosen here: the API server generates
 * names only after the mutating webhooks, and the proof must be bound to the final name, so the
 * webhook names the object itself, as the API server would (same alphabet and lengths), and the
 * API server keeps a name that is set. Undefined when the request names the object.
 */
function generatedName(obj: KubernetesObject, ctx: DecisionContext): string | undefined {
  const base = obj.metadata?.generateName;
  if (obj.metadata?.name || !base) return undefined;
  return `${base.slice(0, MAX_NAME_BASE)}${(ctx.nameSuffix ?? randomNameSuffix)()}`;
}

/** The mutating webhook's answer: stamps (and the finalizer on CREATE) as a JSON patch. */
export function mutate(req: AdmissionRequest, ctx: DecisionContext): Mutation {
  const op = req.operation;
  const obj = req.object;
  if ((op !== 'CREATE' && op !== 'UPDATE') || !obj || typeof obj !== 'object') return { allowed: true, patch: [] };
  const user = req.userInfo?.username;
  if (!user) return { allowed: false, code: 403, message: 'ovim.io objects are changed by authenticated users only' };
  const trusted = ctx.trusted.has(user);
  let annotations: Annotations;
  if (op === 'CREATE') {
    annotations = createStamps(obj.metadata?.annotations ?? {}, user, trusted);
  } else {
    if (!req.oldObject) return { allowed: true, patch: [] };
    annotations = updateStamps(obj, req.oldObject, user, trusted, ctx.key);
  }
  const name = op === 'CREATE' ? generatedName(obj, ctx) : undefined;
  const identity = identityOf(obj);
  annotations[STAMPS.proof] = computeProof(ctx.key, name ? { ...identity, name } : identity, annotations);
  const patch: JsonPatchOp[] = [{ op: 'add', path: '/metadata/annotations', value: annotations }];
  if (name) patch.push({ op: 'add', path: '/metadata/name', value: name });
  const finalizer = op === 'CREATE' && obj.apiVersion?.startsWith('ovim.io/') ? FINALIZERS[obj.kind ?? ''] : undefined;
  const finalizers = obj.metadata?.finalizers ?? [];
  if (finalizer && !finalizers.includes(finalizer)) {
    patch.push({ op: 'add', path: '/metadata/finalizers', value: [...finalizers, finalizer] });
  }
  return { allowed: true, patch };
}

/** What the operator does about one DELETE: record who asked, and stamp it on the object. */
export interface DeletionRequest {
  actor: string;
  /** The merge patch of the object's annotations (the deletion stamp and its authorization). */
  annotations: Annotations;
}

/**
 * The validating webhook's reading of a DELETE: undefined when there is nothing to do (dry
 * run, already deleting, or this user's deletion already stamped: the API server validates a
 * delete again when its update is retried).
 */
export function deletion(req: AdmissionRequest, ctx: DecisionContext): DeletionRequest | undefined {
  const old = req.oldObject;
  const user = req.userInfo?.username;
  if (req.operation !== 'DELETE' || req.dryRun || !old || !user || old.metadata?.deletionTimestamp) return undefined;
  const before = old.metadata?.annotations ?? {};
  const stampedAt = Date.parse(before[STAMPS.deletionRequestedAt] ?? '');
  if (before[STAMPS.deletionRequestedBy] === user && Math.abs(ctx.now.getTime() - stampedAt) <= SKEW_MS) return undefined;
  const at = new Date(Math.floor(ctx.now.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const by = cutStamp(user);
  return {
    actor: user,
    annotations: {
      [STAMPS.deletionRequestedBy]: by,
      [STAMPS.deletionRequestedAt]: at,
      [STAMPS.deletionProof]: deletionProof(ctx.key, identityOf(old), by, at),
    },
  };
}
