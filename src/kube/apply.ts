// Apply and patch helpers: compare a desired object with what the cache holds, server-side
// apply it only when it differs, patch status and finalizers with optimistic concurrency.
// Nothing here knows about OVIM.
import { isConflict, isNotFound } from './errors.js';
import { quantitiesEqual } from './quantity.js';
import { resourcePath, type KubeClient } from './rest.js';

export const FIELD_MANAGER = 'ovim-operator';

export interface PlainObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    finalizers?: string[];
  };
  [field: string]: unknown;
}

/** Enough of an object to address it (typed CRs and plain objects both fit). */
export interface ObjectRef {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** Resource (plural) of the kinds this operator reads and writes. */
const PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  ResourceQuota: 'resourcequotas',
  LimitRange: 'limitranges',
  NetworkPolicy: 'networkpolicies',
  ServiceAccount: 'serviceaccounts',
  CustomResourceDefinition: 'customresourcedefinitions',
  Organization: 'organizations',
  VirtualDataCenter: 'virtualdatacenters',
  Lease: 'leases',
  Pod: 'pods',
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
};

export function pluralOf(kind: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`unknown kind ${kind}: add it to src/kube/apply.ts`);
  return plural;
}

export function objectPath(obj: ObjectRef, subresource?: string): string {
  if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
    throw new Error(`cannot address an object without apiVersion, kind and name: ${JSON.stringify(obj.metadata ?? {})}`);
  }
  return resourcePath({
    apiVersion: obj.apiVersion,
    plural: pluralOf(obj.kind),
    namespace: obj.metadata.namespace,
    name: obj.metadata.name,
    subresource,
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameScalar(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Quantities as the API server canonicalises them ("1024Gi" → "1Ti") compare by value.
  return typeof a === 'string' && typeof b === 'string' && quantitiesEqual(a, b);
}

/** Deep equality where quantity strings compare by value ("4000m" equals "4"). */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => semanticEqual(x, b[i]));
  }
  if (isRecord(a) || isRecord(b)) {
    if (!isRecord(a) || !isRecord(b)) return false;
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!semanticEqual(a[k], b[k])) return false;
    return true;
  }
  return sameScalar(a, b);
}

/** Every key of `subset` is in `of` with the same value. */
function mapContains(of: Record<string, string> | undefined, subset: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(subset ?? {})) if (of?.[k] !== v) return false;
  return true;
}

/**
 * Whether applying `desired` would change `observed`: our labels and annotations must be there
 * (others may add theirs), and every other top-level field we set (spec, roleRef, subjects, …)
 * must equal ours exactly, so that a field we stop setting is noticed too.
 */
export function needsApply(desired: PlainObject, observed: PlainObject | undefined): boolean {
  if (!observed) return true;
  if (!mapContains(observed.metadata?.labels, desired.metadata.labels)) return true;
  if (!mapContains(observed.metadata?.annotations, desired.metadata.annotations)) return true;
  for (const [k, v] of Object.entries(desired)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    if (!semanticEqual(v, observed[k])) return true;
  }
  return false;
}

/** Server-side apply with our field manager (force: we own these objects). */
export async function applyObject<T = PlainObject>(client: KubeClient, obj: PlainObject, fieldManager = FIELD_MANAGER): Promise<T> {
  return client.patch<T>(objectPath(obj), obj, 'apply', { fieldManager, force: true });
}

/** Deletes; a missing object is not an error. Returns whether a delete was issued and accepted. */
export async function deleteObject(
  client: KubeClient,
  obj: ObjectRef,
  propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background',
): Promise<boolean> {
  try {
    await client.delete(objectPath(obj), { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * JSON merge patch of the status subresource, guarded by the resourceVersion the decision was
 * made on: if the object changed since, the API server answers 409 and the caller retries on
 * fresh data (so that events tied to status transitions are recorded once).
 */
export async function patchStatus<T>(
  client: KubeClient,
  obj: ObjectRef,
  status: Record<string, unknown>,
): Promise<T> {
  const body = { metadata: { resourceVersion: obj.metadata?.resourceVersion }, status };
  return client.patch<T>(objectPath(obj, 'status'), body, 'merge', { fieldManager: FIELD_MANAGER });
}

/** Sets the finalizers (merge patch guarded by resourceVersion). */
export async function patchFinalizers<T>(
  client: KubeClient,
  obj: ObjectRef,
  finalizers: string[],
): Promise<T> {
  const body = { metadata: { resourceVersion: obj.metadata?.resourceVersion, finalizers } };
  return client.patch<T>(objectPath(obj), body, 'merge', { fieldManager: FIELD_MANAGER });
}

/** Creates; answers `exists` instead of throwing when the name is taken. */
export async function createObject<T = PlainObject>(
  client: KubeClient,
  obj: PlainObject,
  fieldManager = FIELD_MANAGER,
): Promise<{ created: T } | { exists: true }> {
  const path = resourcePath({ apiVersion: obj.apiVersion, plural: pluralOf(obj.kind), namespace: obj.metadata.namespace });
  try {
    return { created: await client.create<T>(path, obj, { fieldManager }) };
  } catch (err) {
    if (isConflict(err)) return { exists: true };
    throw err;
  }
}
