// What the operator last reported about each KubeVirt VM, kept in the archive (table
// vm_reported, schema migration 3) so that a restart or a relist repeats nothing and a restart
// catches up on what happened meanwhile. Kubernetes Events cannot hold it (the API server
// deletes them after its TTL) and the operator never writes to VMs. Without an archive the
// state lives in memory only (a restart then reports each VM's current state once more).
import type { Logger } from 'winston';
import type { VmReported } from '../controllers/vm.js';
import type { HistoryEngine } from './engine.js';
import { sql } from 'kysely';
import { compiler } from './sql.js';

/** One VM's row: who it is (for VMDeleted after it is gone) and its decision state. */
export interface VmRecord {
  uid: string;
  namespace: string;
  name: string;
  organization?: string;
  vdc?: string;
  actor?: string;
  owner?: string;
  /**
   * The admission webhook's stamps and proof as last seen on the VM (cut, bounded): a VM gone
   * while the operator was down still gets a verified VMDeleted. Kept inside `state`'s JSON.
   */
  stamps?: Record<string, string>;
  /** The VM's deletionTimestamp as last seen (when the deletion stamp counts). */
  deletionTimestamp?: string;
  state: VmReported;
}

/** The `state` column: the decision state plus the stamps (no schema change for them). */
interface StoredState extends VmReported {
  stamps?: Record<string, string>;
  deletionTimestamp?: string;
}

function storedState(r: VmRecord): string {
  if (!r.stamps && !r.deletionTimestamp) return JSON.stringify(r.state);
  const stored: StoredState = { ...r.state, stamps: r.stamps, deletionTimestamp: r.deletionTimestamp };
  return JSON.stringify(stored);
}

function recordOf(r: { uid: string; namespace: string; name: string; organization: string | null; vdc: string | null; actor: string | null; owner: string | null; state: string }): VmRecord {
  const { stamps, deletionTimestamp, ...state } = JSON.parse(r.state) as StoredState;
  const out: VmRecord = {
    uid: r.uid,
    namespace: r.namespace,
    name: r.name,
    organization: r.organization ?? undefined,
    vdc: r.vdc ?? undefined,
    actor: r.actor ?? undefined,
    owner: r.owner ?? undefined,
    state,
  };
  if (stamps && typeof stamps === 'object') out.stamps = stamps;
  if (typeof deletionTimestamp === 'string') out.deletionTimestamp = deletionTimestamp;
  return out;
}

/** Where the rows live. */
export interface VmStateBackend {
  load(): Promise<VmRecord[]>;
  /** Upserts `save` and deletes `remove`, in one transaction. */
  write(save: readonly VmRecord[], remove: readonly string[]): Promise<void>;
}

const COLUMNS = ['uid', 'namespace', 'name', 'organization', 'vdc', 'actor', 'owner', 'state', 'updated_at'] as const;

export class ArchiveVmStateBackend implements VmStateBackend {
  private readonly db;
  /** The upsert, compiled once and run per row (the archive's own rows are written the same way). */
  private readonly upsert: string;
  constructor(
    private readonly engine: HistoryEngine,
    private readonly now: () => number = Date.now,
  ) {
    this.db = compiler(engine.dialect);
    const placeholder = Object.fromEntries(COLUMNS.map((c) => [c, c === 'updated_at' ? 0 : ''])) as Record<(typeof COLUMNS)[number], string | number>;
    const { uid: _uid, ...rest } = placeholder;
    const set = Object.fromEntries(Object.keys(rest).map((c) => [c, sql.ref(`excluded.${c}`)]));
    this.upsert = this.db
      .insertInto('vm_reported')
      .values(placeholder as never)
      .onConflict((oc) => oc.column('uid').doUpdateSet(set as never))
      .compile().sql;
  }

  async load(): Promise<VmRecord[]> {
    const rows = await this.engine.readPrimary<{ uid: string; namespace: string; name: string; organization: string | null; vdc: string | null; actor: string | null; owner: string | null; state: string }>(
      this.db.selectFrom('vm_reported').select(['uid', 'namespace', 'name', 'organization', 'vdc', 'actor', 'owner', 'state']).compile(),
    );
    return rows.map(recordOf);
  }

  async write(save: readonly VmRecord[], remove: readonly string[]): Promise<void> {
    const now = this.now();
    if (save.length) {
      await this.engine.writeMany(
        this.upsert,
        save.map((r) => [r.uid, r.namespace, r.name, r.organization ?? null, r.vdc ?? null, r.actor ?? null, r.owner ?? null, storedState(r), now]),
      );
    }
    if (remove.length) await this.engine.write([this.db.deleteFrom('vm_reported').where('uid', 'in', [...remove]).compile()]);
  }
}

/**
 * The rows in memory (the truth for this process) with write-behind to the backend: one write
 * in flight, changes coalesced per uid, retried with backoff when the backend fails.
 */
export class VmStates {
  private readonly rows = new Map<string, VmRecord>();
  private readonly dirty = new Map<string, VmRecord | null>();
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

  /**
   * Changes wait up to `writeDelayMs` (default 100 ms) so that a burst goes in one transaction:
   * the writes share the archive's writer with the Events, and one transaction per VM
   * transition kept it busy. The events are recorded before and never wait for this write.
   */
  constructor(
    private readonly backend: VmStateBackend | undefined,
    private readonly logger?: Logger,
    private readonly writeDelayMs = 100,
  ) {}

  async load(): Promise<void> {
    if (!this.backend) return;
    for (const r of await this.backend.load()) this.rows.set(r.uid, r);
  }

  /**
   * Replaces the rows in memory by the backend's (a replica gaining the leadership takes what
   * the previous leader wrote); changes of its own not yet written stay on top.
   */
  async reload(): Promise<void> {
    if (!this.backend) return;
    const fresh = await this.backend.load();
    this.rows.clear();
    for (const r of fresh) this.rows.set(r.uid, r);
    for (const [uid, r] of this.dirty) {
      if (r) this.rows.set(uid, r);
      else this.rows.delete(uid);
    }
  }

  get(uid: string): VmRecord | undefined {
    return this.rows.get(uid);
  }

  all(): VmRecord[] {
    return [...this.rows.values()];
  }

  get size(): number {
    return this.rows.size;
  }

  set(row: VmRecord): void {
    this.rows.set(row.uid, row);
    this.mark(row.uid, row);
  }

  delete(uid: string): void {
    if (!this.rows.delete(uid)) return;
    this.mark(uid, null);
  }

  private mark(uid: string, row: VmRecord | null): void {
    if (!this.backend) return;
    this.dirty.set(uid, row);
    this.schedule(this.writeDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.writing || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.writeOnce().finally(() => {
        this.writing = undefined;
        if (this.dirty.size) this.schedule(this.failures ? Math.min(30_000, 100 * 2 ** this.failures) : this.writeDelayMs);
      });
    }, delayMs);
  }

  private async writeOnce(): Promise<void> {
    if (!this.backend || !this.dirty.size) return;
    const batch = [...this.dirty.entries()];
    this.dirty.clear();
    const save = batch.filter(([, r]) => r !== null).map(([, r]) => r as VmRecord);
    const remove = batch.filter(([, r]) => r === null).map(([uid]) => uid);
    try {
      await this.backend.write(save, remove);
      this.failures = 0;
    } catch (err) {
      this.failures++;
      // Newer changes of the same uid win over the failed batch.
      for (const [uid, r] of batch) if (!this.dirty.has(uid)) this.dirty.set(uid, r);
      this.logger?.warn(`VM states: write failed (${(err as Error).message}); retrying`);
    }
  }

  /** Resolves once everything changed so far is written (or the timeout passed: false). */
  async flush(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.dirty.size || this.writing || this.timer) {
      if (Date.now() > deadline) return false;
      if (this.timer && !this.writing) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.writing = this.writeOnce().finally(() => (this.writing = undefined));
      }
      if (this.writing) await this.writing;
      else if (this.dirty.size) this.schedule(0);
      else break;
    }
    return true;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
