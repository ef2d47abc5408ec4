// The durable record of confirmed event deliveries (docs/events.md, "Delivery guarantee").
//
// A status write that owes lifecycle events carries them in status.pendingEvents together with
// a ticket (status.pendingEventsTicket, `<epoch>.<n>`: one epoch per operator start). Once the
// API server holds every Event of a ticket, the ticket goes into this ledger, a ConfigMap in the
// operator's namespace, instead of a second status write per object: confirmations are written
// together (FLUSH_DELAY_MS, FLUSH_MAX_DELAY_MS). A marker whose ticket the ledger holds is done
// (it is dropped from status with the next status write the object makes anyway). A marker whose
// ticket it does not hold is owed: the next leader asks the API server for the Event, as for a
// marker from before tickets.
//
// Each epoch's confirmed tickets are stored as ranges ("1-230,232-500"): tickets are confirmed
// nearly in order, so an epoch takes a few bytes; epochs no marker refers to any more are
// dropped with the first write after a start.
import type { Logger } from 'winston';
import { isNotFound, step } from '../kube/errors.js';
import type { KubeClient } from '../kube/rest.js';
import { Debounce, type DebounceTimers } from '../kube/debounce.js';

/**
 * The ledger is written FLUSH_DELAY_MS after the last confirmation of a burst, and at most
 * FLUSH_MAX_DELAY_MS after the first: a burst of any size costs one write per 10 s. Until then a
 * crash leaves the ticket out, and the next leader looks the Event up (docs/events.md).
 */
export const FLUSH_DELAY_MS = 2_000;
export const FLUSH_MAX_DELAY_MS = 10_000;
export const LEDGER_NAME = 'ovim-operator-event-deliveries';

/** A ticket's parts; undefined for anything that is not `<epoch>.<n>`. */
export function parseTicket(ticket: string | undefined): { epoch: string; n: number } | undefined {
  const m = /^([a-z0-9]{1,16})\.([1-9][0-9]{0,14})$/.exec(ticket ?? '');
  return m ? { epoch: m[1] as string, n: Number(m[2]) } : undefined;
}

/** "1-3,5" for {1,2,3,5} (pure). */
export function encodeRanges(values: Iterable<number>): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** The ranges of encodeRanges; malformed parts are skipped (they then count as unconfirmed). */
export function decodeRanges(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const part of text.split(',')) {
    const m = /^([0-9]{1,15})(?:-([0-9]{1,15}))?$/.exec(part.trim());
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi >= lo) out.push([lo, hi]);
  }
  return out;
}

/** One epoch's confirmed tickets: ranges from the ledger plus this process's additions. */
class EpochSet {
  private ranges: [number, number][];
  private readonly added = new Set<number>();
  constructor(text = '') {
    this.ranges = decodeRanges(text);
  }
  has(n: number): boolean {
    return this.added.has(n) || this.ranges.some(([lo, hi]) => n >= lo && n <= hi);
  }
  add(n: number): void {
    if (!this.has(n)) this.added.add(n);
  }
  encode(): string {
    this.ranges = mergeRanges(this.ranges, decodeRanges(encodeRanges(this.added)));
    this.added.clear();
    return this.ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
  }
}

/** The union of two range lists, sorted, adjacent ranges joined (pure). */
export function mergeRanges(a: readonly [number, number][], b: readonly [number, number][]): [number, number][] {
  const all = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of all) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

export interface DeliveryLedgerOptions {
  client: KubeClient;
  namespace: string;
  logger?: Logger;
  /** The epoch of this start (tests pass one); random otherwise. */
  epoch?: string;
  flushDelayMs?: number;
  flushMaxDelayMs?: number;
  /** Timers of the write's debounce (tests drive a clock by hand). */
  timers?: DebounceTimers;
}

export class DeliveryLedger {
  readonly epoch: string;
  private next = 1;
  private readonly epochs = new Map<string, EpochSet>();
  private readonly dirty = new Set<string>();
  private readonly dropped = new Set<string>();
  private readonly debounce: Debounce;
  private flushing: Promise<void> | undefined;
  private stopped = false;
  /** Writes of the ledger so far (the bench counts them with the operator's). */
  writes = 0;

  constructor(private readonly options: DeliveryLedgerOptions) {
    this.epoch = options.epoch ?? Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, '0');
    this.epochs.set(this.epoch, new EpochSet());
    this.debounce = new Debounce(() => void this.flush(), options.flushDelayMs ?? FLUSH_DELAY_MS, options.flushMaxDelayMs ?? FLUSH_MAX_DELAY_MS, options.timers);
  }

  private get path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/configmaps`;
  }

  /**
   * Reads the ledger (before the reconcilers start: a marker's ticket is judged against it).
   * `referenced` are the epochs markers in the caches refer to; the others are dropped.
   */
  async load(referenced: ReadonlySet<string>): Promise<void> {
    const data = await readLedgerData(this.options.client, this.options.namespace);
    for (const [epoch, text] of Object.entries(data)) {
      if (epoch === this.epoch) continue;
      if (referenced.has(epoch)) this.epochs.set(epoch, new EpochSet(text));
      else this.dropped.add(epoch);
    }
  }

  /** A new ticket for a status write that owes events. */
  issue(): string {
    return `${this.epoch}.${this.next++}`;
  }

  /** Whether the ledger holds the ticket (its events are delivered, or no status carries it). */
  isResolved(ticket: string | undefined): boolean {
    const t = parseTicket(ticket);
    return t !== undefined && (this.epochs.get(t.epoch)?.has(t.n) ?? false);
  }

  /**
   * The ticket's events are all delivered, or no status carries it (its write failed, or a later
   * write replaced it): it goes into the ledger with the next write.
   */
  resolve(ticket: string | undefined): void {
    const t = parseTicket(ticket);
    if (!t) return;
    let set = this.epochs.get(t.epoch);
    if (!set) this.epochs.set(t.epoch, (set = new EpochSet()));
    if (set.has(t.n)) return;
    set.add(t.n);
    this.dirty.add(t.epoch);
    this.schedule();
  }

  private schedule(): void {
    if (!this.stopped) this.debounce.touch('ledger');
  }

  /** Whether confirmations wait to be written. */
  get pending(): boolean {
    return this.dirty.size > 0 || this.flushing !== undefined;
  }

  /** Writes what is not written yet (one write in flight; a failure is retried later). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.dirty.size === 0) return;
    this.flushing = this.write().finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  private async write(): Promise<void> {
    const data: Record<string, string | null> = {};
    const epochs = [...this.dirty];
    for (const e of epochs) data[e] = this.epochs.get(e)?.encode() ?? '';
    for (const e of this.dropped) data[e] = null;
    this.dirty.clear();
    try {
      await step('event deliveries', async () => {
        try {
          this.writes++;
          await this.options.client.patch(`${this.path}/${LEDGER_NAME}`, { data }, 'merge');
        } catch (err) {
          if (!isNotFound(err)) throw err;
          const created = Object.fromEntries(Object.entries(data).filter((kv): kv is [string, string] => kv[1] !== null));
          this.writes++;
          await this.options.client.create(this.path, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: LEDGER_NAME }, data: created });
        }
      });
      this.dropped.clear();
    } catch (err) {
      // Kept in memory (this process judges by it); written with the next try.
      for (const e of epochs) this.dirty.add(e);
      this.options.logger?.warn(`writing the event delivery ledger failed: ${err instanceof Error ? err.message : String(err)}`);
      this.schedule();
    }
  }

  /** Writes what is left (at shutdown) and stops the timer. */
  async stop(): Promise<void> {
    this.debounce.stop();
    await this.flush().catch(() => undefined);
    this.stopped = true;
  }
}

/** The epochs the markers in these objects' status refer to. */
export function referencedEpochs(objects: Iterable<{ status?: { pendingEventsTicket?: string } }>): Set<string> {
  const out = new Set<string>();
  for (const o of objects) {
    const epoch = parseTicket(o.status?.pendingEventsTicket)?.epoch;
    if (epoch) out.add(epoch);
  }
  return out;
}

/**
 * Loads the ledger, retrying every `retryMs` until it succeeds or `signal` aborts: a reconcile
 * that judged markers without it would record delivered events again.
 */
export async function loadLedger(ledger: DeliveryLedger, referenced: () => ReadonlySet<string>, logger?: Logger, retryMs = 2_000, signal?: AbortSignal): Promise<boolean> {
  for (;;) {
    try {
      await ledger.load(referenced());
      return true;
    } catch (err) {
      logger?.warn(`reading the event delivery ledger failed (reconcilers wait for it): ${err instanceof Error ? err.message : String(err)}`);
    }
    if (signal?.aborted) return false;
    await new Promise((r) => setTimeout(r, retryMs).unref());
    if (signal?.aborted) return false;
  }
}

/** The ledger's data as stored (empty when there is none yet); for tools and tests. */
export async function readLedgerData(client: KubeClient, namespace: string): Promise<Record<string, string>> {
  try {
    const cm = await client.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${LEDGER_NAME}`);
    return cm.data ?? {};
  } catch (err) {
    if (isNotFound(err)) return {};
    throw err;
  }
}

/** Whether a status owes no event: no marker, or a marker whose ticket the stored ledger holds. */
export function markerSettled(status: { pendingEvents?: string[]; pendingEventsTicket?: string } | undefined, data: Readonly<Record<string, string>>): boolean {
  if (!status?.pendingEvents?.length) return true;
  const t = parseTicket(status.pendingEventsTicket);
  return t !== undefined && new EpochSet(data[t.epoch] ?? '').has(t.n);
}
