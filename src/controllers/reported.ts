// Durable "reported" markers (docs/events.md, "Delivery guarantee"). The lifecycle events a
// status transition stands for are written into status.pendingEvents together with that
// transition, and taken out only after the event sink confirmed that the API server holds the
// Event. A process that dies in between (kill -9, a shutdown during an API server outage) leaves
// the marker behind; the next reconcile, in whichever process, records the event again. That
// makes these events at-least-once, and exactly-once whenever nothing fails in that window.
import type { DeliveryCallback } from '../events/types.js';
import type { DeliveryLedger } from './delivery-ledger.js';
import { apiStatusCode } from '../kube/errors.js';
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
  /**
   * The durable record of confirmed tickets (delivery-ledger.ts). With it, a confirmation costs
   * no status write: the ticket goes into the ledger and the marker leaves status with the next
   * status write the object makes anyway. Without it (unit tests, markers from before tickets)
   * a confirmation enqueues the key and the marker is cleared with a status write.
   */
  durable?: DeliveryLedger;
}

/** The marker fields of a status (both kinds). */
export interface Marker {
  pendingEvents?: string[];
  pendingEventsTicket?: string;
}

/** The marker of the next status and whether it alone warrants a status write. */
export interface MarkerPlan {
  marker: Marker;
  /** Fields to remove with the merge patch (null). */
  nulls: Record<string, null>;
  changed: boolean;
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((r) => b.includes(r));

/**
 * What this process knows about the markers: which owed events it has recorded and is waiting
 * on (in flight), and which the sink confirmed but whose marker is still in status. Both are
 * only an optimisation of the durable marker: losing them (a restart) records again.
 */
export class ReportLedger {
  private readonly inFlight = new Map<string, Set<string>>();
  private readonly confirmed = new Map<string, Set<string>>();
  /** The ticket the key's status carries and the reasons it stands for (with a durable ledger). */
  private readonly tickets = new Map<string, { ticket: string; reasons: readonly string[] }>();

  constructor(private readonly options: ReportLedgerOptions = {}) {}

  /** The reasons of a status marker still owed: none when the durable ledger holds its ticket. */
  owedFrom(key: string, marker: Marker | undefined): string[] {
    if (marker?.pendingEventsTicket && this.options.durable?.isResolved(marker.pendingEventsTicket)) return [];
    const confirmed = this.confirmed.get(key);
    return (marker?.pendingEvents ?? []).filter((r) => !confirmed?.has(r));
  }

  /** The marker to write: what was owed and is not confirmed, plus what this transition owes. */
  nextPending(key: string, previous: readonly string[] | undefined, owedNow: readonly string[], ticket?: string): string[] | undefined {
    const out = this.owedFrom(key, { pendingEvents: previous ? [...previous] : undefined, pendingEventsTicket: ticket });
    for (const r of owedNow) if (!out.includes(r)) out.push(r);
    return out.length > 0 ? out : undefined;
  }

  /**
   * The marker of the next status. A new owed reason is always written (with a new ticket). A
   * marker that only shrinks because its events were confirmed is left as it is when its ticket
   * is in the durable ledger's care and nothing else in status changes (`otherChanged`): the next
   * status write takes it out.
   */
  plan(key: string, prev: Marker | undefined, owedNow: readonly string[], otherChanged: boolean): MarkerPlan {
    const before = prev?.pendingEvents ?? [];
    const pending = this.nextPending(key, prev?.pendingEvents, owedNow, prev?.pendingEventsTicket) ?? [];
    const durable = this.options.durable;
    const nulls: Record<string, null> = {};
    const keep = { marker: { pendingEvents: prev?.pendingEvents, pendingEventsTicket: prev?.pendingEventsTicket }, nulls, changed: false };
    if (sameSet(pending, before)) return keep;
    const grows = pending.some((r) => !before.includes(r));
    if (durable && !grows && prev?.pendingEventsTicket && !otherChanged) return keep;
    const marker: Marker = { pendingEvents: pending.length > 0 ? pending : undefined };
    if (durable && pending.length > 0) marker.pendingEventsTicket = durable.issue();
    if (before.length > 0 && !marker.pendingEvents) nulls.pendingEvents = null;
    if (prev?.pendingEventsTicket && !marker.pendingEventsTicket) nulls.pendingEventsTicket = null;
    return { marker, nulls, changed: true };
  }

  /**
   * The status now carries `marker` (written, or found there): confirmations no longer in it are
   * done with; a ticket it replaced goes into the durable ledger (no status carries it any more).
   */
  written(key: string, pending: readonly string[] | undefined, ticket?: string, replaced?: string): void {
    if (replaced && replaced !== ticket) this.options.durable?.resolve(replaced);
    this.carrying(key, { pendingEvents: pending ? [...pending] : undefined, pendingEventsTicket: ticket });
    const confirmed = this.confirmed.get(key);
    if (!confirmed) return;
    for (const r of [...confirmed]) if (!pending?.includes(r)) confirmed.delete(r);
    if (confirmed.size === 0) this.confirmed.delete(key);
    this.settle(key);
  }

  /**
   * The status write of a new ticket was refused (4xx but a timeout: a stale cache's 409 most often): no status
   * carries it, so it goes into the ledger at once and leaves no gap there. Any other failure
   * may have written it: it stays out (looked up after a restart, like any ticket not confirmed).
   */
  refused(ticket: string | undefined, previous: string | undefined, err: unknown): void {
    const code = apiStatusCode(err);
    if (ticket && ticket !== previous && code !== undefined && code >= 400 && code < 500 && code !== 408) this.options.durable?.resolve(ticket);
  }

  /** The key's status carries this marker: its ticket is resolved once all its reasons are confirmed. */
  carrying(key: string, marker: Marker | undefined): void {
    const ticket = marker?.pendingEventsTicket;
    if (!this.options.durable || !ticket || !marker?.pendingEvents?.length || this.options.durable.isResolved(ticket)) {
      this.tickets.delete(key);
      return;
    }
    if (this.tickets.get(key)?.ticket !== ticket) this.tickets.set(key, { ticket, reasons: marker.pendingEvents });
  }

  /** Resolves the key's ticket when every reason of it is confirmed; true when it did. */
  private settle(key: string): boolean {
    const t = this.tickets.get(key);
    const confirmed = this.confirmed.get(key);
    if (!t || !t.reasons.every((r) => confirmed?.has(r))) return false;
    this.options.durable?.resolve(t.ticket);
    this.tickets.delete(key);
    this.confirmed.delete(key);
    return true;
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
        if (!this.settle(key)) this.options.requeue?.(key);
      } else {
        this.options.requeue?.(key, RETRY_GIVEN_UP_MS);
      }
    };
  }

  /** The API server was found holding the Event already (an earlier process wrote it). */
  confirm(key: string, reason: string): void {
    add(this.confirmed, key, reason);
    if (!this.settle(key)) this.options.requeue?.(key);
  }

  /** The object is gone: nothing is owed for it any more. */
  forget(key: string): void {
    this.inFlight.delete(key);
    this.confirmed.delete(key);
    // No status carries its ticket any more.
    this.options.durable?.resolve(this.tickets.get(key)?.ticket);
    this.tickets.delete(key);
  }

  /** Keys with state (for tests: bounded by the objects with owed events). */
  get size(): number {
    return new Set([...this.inFlight.keys(), ...this.confirmed.keys(), ...this.tickets.keys()]).size;
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
