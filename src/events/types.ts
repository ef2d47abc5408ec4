// The recorder's public surface, shared by the controllers (which record) and the metrics
// endpoint (which reads the counters). The implementation is src/events/recorder.ts.
import type { KubernetesObject } from '@kubernetes/client-node';

export type EventType = 'Normal' | 'Warning';

/** Context stored as annotations on the Event (DESIGN.md section 4). */
export interface RecordOptions {
  /** Who caused it: the object's `ovim.io/requested-by` (or `ovim.io/force-reconcile-by`). */
  actor?: string;
  /** Organization name, when known (otherwise derived from the object where possible). */
  organization?: string;
  /** VDC name, when known. */
  vdc?: string;
}

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
}

/** What the controllers need from the recorder. */
export interface EventRecording {
  record(
    object: KubernetesObject | null | undefined,
    type: EventType,
    reason: string,
    message: string,
    options?: RecordOptions,
  ): void;
}
