// The embedded engine's worker thread: owns one better-sqlite3 connection and runs the SQL the
// archive compiled (Kysely) on the main thread. Its calls are synchronous, so they run here,
// never on the event loop that serves probes and the API. One worker writes, another reads
// (WAL lets readers run beside the writer).
import Database from 'better-sqlite3';
import { accessSync, constants, existsSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './sqlite-protocol.js';

let db: Database.Database | undefined;
const statements = new Map<string, Database.Statement>();

function statement(sql: string): Database.Statement {
  let stmt = statements.get(sql);
  if (!stmt) {
    if (!db) throw new Error('history database is not open');
    if (statements.size >= 200) statements.clear();
    stmt = db.prepare(sql);
    statements.set(sql, stmt);
  }
  return stmt;
}

function open(path: string, role: 'writer' | 'reader', busyTimeoutMs: number): void {
  if (existsSync(path)) {
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new Error(`history database ${path} is not readable and writable: ${(err as Error).message}`);
    }
  }
  const conn = new Database(path, { timeout: busyTimeoutMs });
  try {
    // A read before anything that writes: a file that is not a database is left untouched.
    conn.prepare('SELECT count(*) AS n FROM sqlite_master').get();
  } catch (err) {
    conn.close();
    throw new Error(`history database ${path} is unreadable: ${(err as Error).message}`);
  }
  if (role === 'reader') {
    conn.pragma('query_only = 1');
    // Long queries yield the CPU to the main event loop (probes, the API, the webhook). On Linux
    // a priority is per thread and pid 0 is this thread. (Not the writer: its short batches
    // would starve on a busy machine.)
    try {
      setPriority(Math.min(19, getPriority() + 5));
    } catch {
      // not permitted here: the same priority as the main thread
    }
  }
  db = conn;
}

function configure(): void {
  if (!db) throw new Error('history database is not open');
  db.pragma('journal_mode = WAL');
  // WAL with synchronous=NORMAL: durable across a process crash, one fsync per checkpoint.
  db.pragma('synchronous = NORMAL');
}

function handle(req: WorkerRequest): unknown {
  switch (req.op) {
    case 'open':
      open(req.path, req.role, req.busyTimeoutMs);
      return null;
    case 'configure':
      configure();
      return null;
    case 'all':
      return statement(req.sql).all(...req.params);
    case 'write': {
      if (!db) throw new Error('history database is not open');
      const run = db.transaction(() => req.statements.map((s) => statement(s.sql).run(...s.params).changes));
      return run();
    }
    case 'upsert': {
      if (!db) throw new Error('history database is not open');
      const stmt = statement(req.sql);
      const run = db.transaction((rows: unknown[][]) => {
        for (const row of rows) stmt.run(...row);
      });
      run(req.rows);
      return req.rows.length;
    }
    case 'close':
      statements.clear();
      db?.close();
      db = undefined;
      return null;
  }
}

parentPort?.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { id: req.id, ok: true, result: handle(req) };
  } catch (err) {
    const e = err as Error & { code?: string };
    reply = { id: req.id, ok: false, error: e.message, code: typeof e.code === 'string' ? e.code : undefined };
  }
  parentPort?.postMessage(reply);
});
