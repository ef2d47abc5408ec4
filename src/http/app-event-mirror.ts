// The Kubernetes copy of an application-level event (DESIGN.md section 7): when a stored event
// names an existing Organization, VirtualDataCenter or VirtualMachine, it is recorded on it
// through the API's recorder (its correlator and spam filter), so `kubectl describe` shows it,
// annotated ovim.io/source-event-id (the archive then keeps the application's row only).
// Never blocks and never throws: the answer to the backend does not wait for it.
import type { Logger } from 'winston';
import type { AnyKubeObject } from '../kube/meta.js';
import type { KubeClient } from '../kube/rest.js';
import type { RecordOptions } from '../events/types.js';
import type { FullRow } from '../history/app-store.js';
import type { AppEventMirroring } from './app-event-routes.js';

/** The OVIM kinds a posted event is mirrored onto. */
export const MIRRORED_KINDS = ['Organization', 'VirtualDataCenter', 'VirtualMachine'] as const;
type MirroredKind = (typeof MIRRORED_KINDS)[number];

export type ObjectLookup = (kind: MirroredKind, name: string, namespace: string | undefined) => Promise<AnyKubeObject | undefined>;

/**
 * The recorder as the mirror uses it: application reasons are the backend's, outside the
 * operator's catalog (the recorder accepts them at run time and warns once per reason).
 */
export interface ApplicationRecording {
  record(object: AnyKubeObject, type: 'Normal' | 'Warning', reason: string, message: string, options?: RecordOptions): void;
}

/** Whether a row names an OVIM object, so that it is mirrored when that object exists. Pure. */
export function namesMirroredObject(row: Pick<FullRow, 'kind' | 'object_name'>): boolean {
  return (MIRRORED_KINDS as readonly string[]).includes(row.kind) && row.object_name !== '';
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The object's REST path, or undefined for a name the API server would refuse. */
export function objectPath(kind: MirroredKind, name: string, namespace: string | undefined): string | undefined {
  if (!DNS_NAME.test(name)) return undefined;
  if (kind === 'Organization') return `/apis/ovim.io/v1/organizations/${name}`;
  if (!namespace || !DNS_NAME.test(namespace)) return undefined;
  if (kind === 'VirtualDataCenter') return `/apis/ovim.io/v1/namespaces/${namespace}/virtualdatacenters/${name}`;
  return `/apis/kubevirt.io/v1/namespaces/${namespace}/virtualmachines/${name}`;
}

/** Looks objects up on the API server (404 → undefined). */
export function kubeObjectLookup(client: Pick<KubeClient, 'get'>): ObjectLookup {
  return async (kind, name, namespace) => {
    const path = objectPath(kind, name, namespace);
    if (!path) return undefined;
    try {
      return await client.get<AnyKubeObject>(path);
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
}

/** An informer's cache as the mirror reads it. */
export interface ObjectCache {
  hasSynced(): boolean;
  get(name: string, namespace?: string): AnyKubeObject | undefined;
}

/**
 * Looks objects up in the process's informer caches where they hold the kind and have synced
 * (no request per mirrored event), else — and on a miss, since an object created a moment ago
 * may not have reached the cache — on the API server.
 */
export function cachedObjectLookup(cacheOf: (kind: MirroredKind) => ObjectCache | undefined, fallback: ObjectLookup): ObjectLookup {
  return async (kind, name, namespace) => {
    const cache = cacheOf(kind);
    const hit = cache?.hasSynced() ? cache.get(name, kind === 'Organization' ? undefined : namespace) : undefined;
    return hit ?? fallback(kind, name, namespace);
  };
}

export class AppEventMirror implements AppEventMirroring {
  /** Mirrors recorded, and lookups that failed (not "not found": errors). */
  readonly counters = { mirrored: 0, notFound: 0, failed: 0 };

  constructor(
    private readonly lookup: ObjectLookup,
    private readonly recorder: ApplicationRecording,
    private readonly logger?: Logger,
  ) {}

  mirror(row: FullRow): void {
    if (!namesMirroredObject(row)) return;
    const kind = row.kind as MirroredKind;
    const namespace = row.object_namespace ?? (kind === 'Organization' ? undefined : row.namespace);
    void this.lookup(kind, row.object_name, namespace ?? undefined)
      .then((object) => {
        // A uid that does not match is another object of that name: not this event's.
        if (!object || (row.object_uid && object.metadata?.uid !== row.object_uid)) {
          this.counters.notFound++;
          return;
        }
        this.recorder.record(object, row.type === 'Normal' ? 'Normal' : 'Warning', row.reason, row.message, {
          actor: row.username ?? undefined,
          actorVerified: false,
          organization: row.organization ?? undefined,
          vdc: row.vdc ?? undefined,
          sourceEventId: row.uid,
        });
        this.counters.mirrored++;
      })
      .catch((err: unknown) => {
        this.counters.failed++;
        this.logger?.warn('could not mirror an application event onto its object', { kind, name: row.object_name, error: (err as Error).message });
      });
  }
}
