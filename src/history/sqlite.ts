// The embedded engine: a SQLite file through better-sqlite3, in WAL mode, driven from two worker
// threads (one writes: ingestion, retention, migrations; one reads: the API's queries, export,
// stats), so the main event loop never waits on a synchronous SQLite call.
import type { CompiledQuery } from 'kysely';
import { Worker } from 'node:worker_threads';
import { HistoryUnavailableError, type HistoryEngine, type SqlParam } from './engine.js';
import type { WorkerReply, WorkerRequest } from './sqlite-protocol.js';

type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** Starts the worker script; under tsx (tests, `make run`) the TypeScript source is loaded. */
function spawnWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return new Worker(new URL('./sqlite-worker-tsx.mjs', here), { workerData: { script: new URL('./sqlite-worker.ts', here).href } });
  }
  return new Worker(new URL('./sqlite-worker.js', here));
}

/** One worker thread and its pending calls. */
class WorkerClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly name: string) {}

  get running(): boolean {
    return this.worker !== undefined;
  }

  start(): void {
    const worker = spawnWorker();
    worker.unref();
    worker.on('message', (reply: WorkerReply) => {
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.pending.delete(reply.id);
      if (reply.ok) call.resolve(reply.result);
      else call.reject(Object.assign(new Error(reply.error), { code: reply.code }));
    });
    const fail = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const call of this.pending.values()) call.reject(new HistoryUnavailableError(`history ${this.name} ${why}`));
      this.pending.clear();
    };
    worker.on('error', (err) => fail(`failed: ${err.message}`));
    worker.on('exit', (code) => fail(`stopped (exit code ${code})`));
    this.worker = worker;
  }

  call<T>(request: Request, timeoutMs = 0): Promise<T> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new HistoryUnavailableError(`history ${this.name} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          // A synchronous call cannot be interrupted: the thread goes, a new one comes on demand.
          this.pending.delete(id);
          reject(new HistoryUnavailableError(`history query took longer than ${timeoutMs} ms`));
          void this.stop();
        }, timeoutMs);
        timer.unref();
      }
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      worker.postMessage({ ...request, id } as WorkerRequest);
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    try {
      await this.call({ op: 'close' }, 5_000);
    } catch {
      // closing a broken connection: the thread goes anyway
    }
    this.worker = undefined;
    await worker.terminate();
  }
}

export interface SqliteEngineOptions {
  /** How long a write waits for a lock held by another connection before failing (ms). */
  busyTimeoutMs?: number;
  /** A read running longer than this is abandoned (its thread replaced) and answers 503. */
  readTimeoutMs?: number;
}

export class SqliteEngine implements HistoryEngine {
  readonly dialect = 'sqlite' as const;
  private readonly writer = new WorkerClient('writer');
  private readonly reader = new WorkerClient('reader');
  private readerStarting: Promise<void> | undefined;
  private readonly busyTimeoutMs: number;
  private readonly readTimeoutMs: number;

  constructor(
    readonly location: string,
    options: SqliteEngineOptions = {},
  ) {
    this.busyTimeoutMs = options.busyTimeoutMs ?? 2_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 30_000;
  }

  async open(): Promise<void> {
    this.writer.start();
    try {
      await this.writer.call({ op: 'open', path: this.location, role: 'writer', busyTimeoutMs: this.busyTimeoutMs });
    } catch (err) {
      await this.writer.stop();
      throw err;
    }
  }

  async configure(): Promise<void> {
    await this.writer.call({ op: 'configure' });
  }

  readPrimary<R>(query: CompiledQuery): Promise<R[]> {
    return this.writer.call<R[]>({ op: 'all', sql: query.sql, params: query.parameters as SqlParam[] });
  }

  async read<R>(query: CompiledQuery): Promise<R[]> {
    await this.ensureReader();
    return this.reader.call<R[]>({ op: 'all', sql: query.sql, params: query.parameters as SqlParam[] }, this.readTimeoutMs);
  }

  write(queries: readonly CompiledQuery[]): Promise<number[]> {
    return this.writer.call<number[]>({
      op: 'write',
      // A copy: Kysely's parameter arrays are frozen, which structured cloning copies slowly.
      statements: queries.map((q) => ({ sql: q.sql, params: [...q.parameters] as SqlParam[] })),
    });
  }

  async writeMany(sql: string, rows: SqlParam[][]): Promise<void> {
    await this.writer.call({ op: 'upsert', sql, rows });
  }

  async close(): Promise<void> {
    await this.readerStarting?.catch(() => undefined);
    await Promise.all([this.reader.stop(), this.writer.stop()]);
  }

  /** The reader starts on the first read (after migrations) and again after a crash or timeout. */
  private ensureReader(): Promise<void> {
    if (this.readerStarting) return this.readerStarting;
    if (this.reader.running) return Promise.resolve();
    this.readerStarting = (async () => {
      try {
        this.reader.start();
        await this.reader.call({ op: 'open', path: this.location, role: 'reader', busyTimeoutMs: this.busyTimeoutMs });
      } catch (err) {
        await this.reader.stop();
        throw err instanceof HistoryUnavailableError ? err : new HistoryUnavailableError(`history reader: ${(err as Error).message}`);
      } finally {
        this.readerStarting = undefined;
      }
    })();
    return this.readerStarting;
  }
}
