// What the operator last reported about each KubeVirt VM, kept in the archive (table
// vm_reported, schema migration 3) so that a restart or a relist repeats nothing and a restart
// catches up on what happened meanwhile. Kubernetes Events cannot hold it (the API server
// deletes them after its TTL) and the operator never writes to VMs. Without an archive the
// state lives in memory only (a restart then reports each VM's current state once more).
import type { Logger } from 'winston';
import type { VmReported } from '../controllers/vm.js';
import type { HistoryEngine } from './engine.js';
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
  state: VmReported;
}

/** Where the rows live. */
export interface VmStateBackend {
  load(): Promise<VmRecord[]>;
  /** Upserts `save` and deletes `remove`, in one transaction. */
  write(save: readonly VmRecord[], remove: readonly string[]): Promise<void>;
}

export class ArchiveVmStateBackend implements VmStateBackend {
  private readonly db;
  constructor(
    private readonly engine: HistoryEngine,
    private readonly now: () => number = Date.now,
  ) {
    this.db = compiler(engine.dialect);
  }

  async load(): Promise<VmRecord[]> {
    const rows = await this.engine.readPrimary<{ uid: string; namespace: string; name: string; organization: string | null; vdc: string | null; actor: string | null; owner: string | null; state: string }>(
      this.db.selectFrom('vm_reported').select(['uid', 'namespace', 'name', 'organization', 'vdc', 'actor', 'owner', 'state']).compile(),
    );
    return rows.map((r) => ({
      uid: r.uid,
      namespace: r.namespace,
      name: r.name,
      organization: r.organization ?? undefined,
      vdc: r.vdc ?? undefined,
      actor: r.actor ?? undefined,
      owner: r.owner ?? undefined,
      state: JSON.parse(r.state) as VmReported,
    }));
  }

  async write(save: readonly VmRecord[], remove: readonly string[]): Promise<void> {
    const now = this.now();
    const queries = save.map((r) => {
      const values = {
        uid: r.uid,
        namespace: r.namespace,
        name: r.name,
        organization: r.organization ?? null,
        vdc: r.vdc ?? null,
        actor: r.actor ?? null,
        owner: r.owner ?? null,
        state: JSON.stringify(r.state),
        updated_at: now,
      };
      const { uid: _uid, ...rest } = values;
      return this.db
        .insertInto('vm_reported')
        .values(values)
        .onConflict((oc) => oc.column('uid').doUpdateSet(rest))
        .compile();
    });
    if (remove.length) queries.push(this.db.deleteFrom('vm_reported').where('uid', 'in', [...remove]).compile());
    if (queries.length) await this.engine.write(queries);
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

  constructor(
    private readonly backend: VmStateBackend | undefined,
    private readonly logger?: Logger,
  ) {}

  async load(): Promise<void> {
    if (!this.backend) return;
    for (const r of await this.backend.load()) this.rows.set(r.uid, r);
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
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.writing || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writing = this.writeOnce().finally(() => {
        this.writing = undefined;
        if (this.dirty.size) this.schedule(this.failures ? Math.min(30_000, 100 * 2 ** this.failures) : 0);
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
