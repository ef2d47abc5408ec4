// Durable "reported" markers (docs/events.md, "Delivery guarantee"). The lifecycle events a
// status transition stands for are written into status.pendingEvents together with that
// transition, and taken out only after the event sink confirmed that the API server holds the
// Event. A process that dies in between (kill -9, a shutdown during an API server outage) leaves
// the marker behind; the next reconcile, in whichever process, records the event again. That
// makes these events at-least-once, and exactly-once whenever nothing fails in that window.
import type { DeliveryCallback } from '../events/types.js';
import type { KubeClient } from '../kube/rest.js';
import type { KubeObject } from '../kube/meta.js';

/**
 * Whether the API server holds an Event of `reason` about this very object (by uid). Asked only
 * for a marker this process did not set itself (a restart): the process before may have died
 * after the Event was written but before the marker was cleared. Events expire after the API
 * server's --event-ttl, so this is no substitute for the marker, only its last check.
 */
export async function eventExists(client: KubeClient, obj: KubeObject, reason: string): Promise<boolean> {
  const uid = obj.metadata?.uid;
  if (!uid) return false;
  const namespace = obj.metadata?.namespace || 'default';
  const list = await client.list(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
    fieldSelector: `involvedObject.uid=${uid},reason=${reason}`,
    limit: 1,
  });
  return list.items.length > 0;
}

/** The reasons that get a durable marker: the lifecycle events planned from status transitions. */
export const OWED_REASONS: ReadonlySet<string> = new Set(['OrganizationCreated', 'OrganizationUpdated', 'VDCCreated', 'VDCUpdated']);

/** After a record was given up (queue full, retries exhausted), record it again this much later. */
export const RETRY_GIVEN_UP_MS = 10_000;

export interface ReportLedgerOptions {
  /** Enqueues the key again (after `delayMs` when given): a confirmation clears the marker. */
  requeue?: (key: string, delayMs?: number) => void;
}

/**
 * What this process knows about the markers: which owed events it has recorded and is waiting
 * on (in flight), and which the sink confirmed but whose marker is still in status. Both are
 * only an optimisation of the durable marker: losing them (a restart) records again.
 */
export class ReportLedger {
  private readonly inFlight = new Map<string, Set<string>>();
  private readonly confirmed = new Map<string, Set<string>>();

  constructor(private readonly options: ReportLedgerOptions = {}) {}

  /** The marker to write: what was owed and is not confirmed, plus what this transition owes. */
  nextPending(key: string, previous: readonly string[] | undefined, owedNow: readonly string[]): string[] | undefined {
    const confirmed = this.confirmed.get(key);
    const out = (previous ?? []).filter((r) => !confirmed?.has(r));
    for (const r of owedNow) if (!out.includes(r)) out.push(r);
    return out.length > 0 ? out : undefined;
  }

  /** The status now says `pending`: confirmations no longer in it are done with. */
  written(key: string, pending: readonly string[] | undefined): void {
    const confirmed = this.confirmed.get(key);
    if (!confirmed) return;
    for (const r of [...confirmed]) if (!pending?.includes(r)) confirmed.delete(r);
    if (confirmed.size === 0) this.confirmed.delete(key);
  }

  /** Whether an owed event must be recorded now (this process neither waits on it nor has it confirmed). */
  needsRecording(key: string, reason: string): boolean {
    return !this.inFlight.get(key)?.has(reason) && !this.confirmed.get(key)?.has(reason);
  }

  /** Notes a record of `reason` for `key`; hand the callback to the recorder. */
  track(key: string, reason: string): DeliveryCallback {
    add(this.inFlight, key, reason);
    let settled = false;
    return (delivered) => {
      if (settled) return;
      settled = true;
      remove(this.inFlight, key, reason);
      if (delivered) {
        add(this.confirmed, key, reason);
        this.options.requeue?.(key);
      } else {
        this.options.requeue?.(key, RETRY_GIVEN_UP_MS);
      }
    };
  }

  /** The API server was found holding the Event already (an earlier process wrote it). */
  confirm(key: string, reason: string): void {
    add(this.confirmed, key, reason);
    this.options.requeue?.(key);
  }

  /** The object is gone: nothing is owed for it any more. */
  forget(key: string): void {
    this.inFlight.delete(key);
    this.confirmed.delete(key);
  }

  /** Keys with state (for tests: bounded by the objects with owed events). */
  get size(): number {
    return new Set([...this.inFlight.keys(), ...this.confirmed.keys()]).size;
  }
}

function add(map: Map<string, Set<string>>, key: string, reason: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(reason);
}

function remove(map: Map<string, Set<string>>, key: string, reason: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(reason);
  if (set.size === 0) map.delete(key);
}
