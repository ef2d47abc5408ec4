// The recorder's public surface, shared by the controllers (which record) and the metrics
// endpoint (which reads the counters). The implementation is src/events/recorder.ts.
import type { EventReason, ReasonType } from './catalog.js';
import type { AnyKubeObject } from '../kube/meta.js';

export type { EventReason, ReasonType } from './catalog.js';

export type EventType = 'Normal' | 'Warning';

/** The annotations an Event may carry (DESIGN.md section 4). */
export const EVENT_ANNOTATIONS = {
  organization: 'ovim.io/organization',
  vdc: 'ovim.io/vdc',
  actor: 'ovim.io/actor',
  owner: 'ovim.io/owner',
  /** "true" when the actor was stamped by the admission webhook (DESIGN.md section 8), else "false". */
  actorVerified: 'ovim.io/actor-verified',
  /** The same for the owner. */
  ownerVerified: 'ovim.io/owner-verified',
  /** On the Kubernetes copy of an application-level event: the id of its archive row. */
  sourceEventId: 'ovim.io/source-event-id',
} as const;

/** Tells whether an actor or owner named on an object was stamped by the admission webhook. */
export interface ActorVerification {
  actorVerified(object: AnyKubeObject, actor: string): boolean;
  ownerVerified(object: AnyKubeObject, owner: string): boolean;
}

/** Context stored as annotations on the Event (DESIGN.md section 4). */
export interface RecordOptions {
  /** Who caused it: the object's `ovim.io/requested-by` (or `ovim.io/force-reconcile-by`). */
  actor?: string;
  /** Organization name, when known (otherwise derived from the object where possible). */
  organization?: string;
  /** VDC name, when known. */
  vdc?: string;
  /** Owner of the object (otherwise the object's `ovim.io/owner` annotation). */
  owner?: string;
  /** Whether the actor is known to be the authenticated user; otherwise the recorder's verifier decides. */
  actorVerified?: boolean;
  /** The application-level event this Event mirrors (annotation ovim.io/source-event-id). */
  sourceEventId?: string;
  /**
   * Told once whether this record reached the API server (true) or was given up (false: queue
   * full, stopped, dropped after retries). The reconcilers clear their durable "reported"
   * marker only on true (docs/events.md, "Delivery guarantee").
   */
  onDelivered?: DeliveryCallback;
}

/** Told whether a record reached the API server (true) or was given up (false). */
export type DeliveryCallback = (delivered: boolean) => void;

/** Why an event did not become a write. */
export type DropCause = 'queue_full' | 'no_object' | 'rejected' | 'namespace_terminating' | 'retries_exhausted' | 'shutdown';

/** A snapshot of the recorder's counters, read by the metrics endpoint. */
export interface RecorderStats {
  /** record() calls accepted into the pipeline, by event type and reason. */
  recorded: { type: EventType; reason: string; count: number }[];
  /** Events that were not written, by cause. */
  dropped: { cause: DropCause; count: number }[];
  /** Event objects created on the API server. */
  written: number;
  /** Count bumps patched onto existing Event objects. */
  patched: number;
  /** Records folded into a "(combined from similar events)" event. */
  aggregated: number;
  /** Records stopped by the per-object token bucket. */
  spamFiltered: number;
  /** Failed write attempts (each retry counts). */
  writeFailures: number;
  /** Events waiting in the queue now. */
  queueDepth: number;
  /**
   * Records whose occurrence reached the API server (in a create or a count patch). Optional
   * only so that hand-written snapshots stay valid; the recorder always fills it.
   */
  delivered?: number;
}

/**
 * What the controllers need from the recorder. `reason` is one of the catalog's reasons
 * (src/events/catalog.ts) and `type` must be that reason's type: recording
 * `Reasons.DeletionBlocked` as 'Normal' does not compile.
 */
export interface EventRecording {
  record<R extends EventReason>(
    object: AnyKubeObject | null | undefined,
    type: ReasonType<R>,
    reason: R,
    message: string,
    options?: RecordOptions,
  ): void;
}
