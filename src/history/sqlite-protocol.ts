// Messages between the embedded engine (main thread) and its SQLite worker threads.
export type SqlParam = string | number | null;

export type WorkerRequest = { id: number } & (
  | { op: 'open'; path: string; role: 'writer' | 'reader'; busyTimeoutMs: number }
  | { op: 'configure' }
  | { op: 'all'; sql: string; params: SqlParam[] }
  | { op: 'write'; statements: { sql: string; params: SqlParam[] }[] }
  | { op: 'upsert'; sql: string; rows: SqlParam[][] }
  | { op: 'close' }
);

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string; code?: string };
