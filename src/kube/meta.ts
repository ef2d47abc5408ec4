// The object shapes as the API server sends them over JSON, which is what KubeClient and the
// watches return. client-node's V1ObjectMeta types timestamps as Date, which only its own
// deserializer produces: here they are the RFC 3339 strings they really are, so comparing or
// ordering them needs no guessing.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';

export type ObjectMeta = Omit<V1ObjectMeta, 'creationTimestamp' | 'deletionTimestamp'> & {
  /** RFC 3339, e.g. 2026-01-31T12:00:00Z. */
  creationTimestamp?: string;
  /** RFC 3339; set once deletion was requested. */
  deletionTimestamp?: string;
};

/** Any Kubernetes object (apiVersion, kind, metadata), as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** A page of a list call. */
export interface ListObject<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; _continue?: string };
  items: T[];
}

/**
 * What generic plumbing accepts (informers, the recorder): our JSON shape or client-node's typed
 * objects, since both only read names, uid, labels and resourceVersion there.
 */
export type AnyKubeObject = KubeObject | KubernetesObject;
