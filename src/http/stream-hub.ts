// The live tail's fan-out (DESIGN.md section 5, GET /api/v1/events/stream): every change the
// EventStore reports gets a sequence number, is kept in a bounded journal (for Last-Event-ID
// resume) and is written to each open stream whose scope and filters match. Each stream has a
// byte budget for what its client has not read yet: a client that stops reading is dropped with a
// final message instead of letting its backlog grow. Caps: streams per token and in total.
import { createHash } from 'node:crypto';
import { toApiEvent, type EventRecord } from '../events/query.js';

/** Where a stream's bytes go (an HTTP response in production, a fake in unit tests). */
export interface StreamSink {
  /** Queues text for the client. */
  write(text: string): void;
  /** Bytes queued and not yet handed to the kernel. */
  buffered(): number;
  /** Ends the response (after the queued bytes), and forcibly later if they never drain. */
  end(): void;
}

export interface StreamHubOptions {
  /** Bytes a client may leave unread before it is dropped. */
  maxBufferedBytes?: number;
  /** Changes remembered for resume. */
  journalSize?: number;
  maxStreamsPerToken?: number;
  maxStreams?: number;
  heartbeatMs?: number;
}

export const STREAM_DEFAULTS = {
  maxBufferedBytes: 1024 * 1024,
  journalSize: 10_000,
  maxStreamsPerToken: 10,
  maxStreams: 500,
  heartbeatMs: 15_000,
} as const;

export interface StreamStats {
  open: number;
  dropped: number;
  /** The most bytes any stream ever had queued (the memory bound, observed). */
  peakBufferedBytes: number;
  delivered: number;
  seq: number;
}

interface Connection {
  release: () => void;
  matches: (record: EventRecord) => boolean;
  sink: StreamSink;
  closed: boolean;
}

export type Admission = { ok: true; release: () => void; attach: (c: Omit<Connection, 'release' | 'closed'>) => StreamHandle } | { ok: false; reason: string };

export interface StreamHandle {
  /** Sends text (the snapshot or a replay) under the same budget as live changes. */
  send(text: string): boolean;
  /** Ends the stream with a last message (e.g. the token expired). */
  end(last: string): void;
  close(): void;
}

/** One SSE message: `id`, optional `event` name, one `data` line (JSON never contains a raw newline). */
export function sseMessage(data: string, id?: string, event?: string): string {
  return `${event ? `event: ${event}\n` : ''}${id !== undefined ? `id: ${id}\n` : ''}data: ${data}\n\n`;
}

export const HEARTBEAT = ': heartbeat\n\n';

/** The key a token's streams are counted under (a digest: the hub never holds the token). */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class StreamHub {
  readonly options: Required<StreamHubOptions>;
  /** Ids are `<epoch>.<seq>`: a restarted process never mistakes an old id for one of its own. */
  readonly epoch = Date.now().toString(36);
  private seq = 0;
  private readonly journal: { seq: number; record: EventRecord }[] = [];
  private journalStart = 0;
  private readonly connections = new Set<Connection>();
  private readonly perToken = new Map<string, number>();
  private readonly timer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private delivered = 0;
  private peakBuffered = 0;
  /** Admitted streams not attached yet (their snapshot is being prepared). */
  private reserved = 0;

  constructor(options: StreamHubOptions = {}) {
    this.options = { ...STREAM_DEFAULTS, ...options };
    if (this.options.heartbeatMs > 0) {
      this.timer = setInterval(() => this.heartbeat(), this.options.heartbeatMs);
      this.timer.unref();
    }
  }

  get head(): string {
    return `${this.epoch}.${this.seq}`;
  }

  stats(): StreamStats {
    return { open: this.connections.size, dropped: this.dropped, peakBufferedBytes: this.peakBuffered, delivered: this.delivered, seq: this.seq };
  }

  /** Reserves a place for a stream of `key`'s token, or says why not (→ 429). */
  admit(key: string): Admission {
    if (this.connections.size + this.reserved >= this.options.maxStreams) {
      return { ok: false, reason: `too many event streams open (at most ${this.options.maxStreams})` };
    }
    const mine = this.perToken.get(key) ?? 0;
    if (mine >= this.options.maxStreamsPerToken) {
      return { ok: false, reason: `too many event streams open for this token (at most ${this.options.maxStreamsPerToken})` };
    }
    this.perToken.set(key, mine + 1);
    this.reserved++;
    let released = false;
    let attached = false;
    const release = () => {
      if (released) return;
      released = true;
      if (!attached) this.reserved--;
      const n = (this.perToken.get(key) ?? 1) - 1;
      if (n <= 0) this.perToken.delete(key);
      else this.perToken.set(key, n);
    };
    const attach = (c: Omit<Connection, 'release' | 'closed'>): StreamHandle => {
      attached = true;
      this.reserved--;
      const conn: Connection = { ...c, release, closed: false };
      this.connections.add(conn);
      return {
        send: (text) => this.deliver(conn, text),
        end: (last) => this.finish(conn, last),
        close: () => {
          if (!conn.closed) {
            conn.closed = true;
            this.connections.delete(conn);
            release();
          }
        },
      };
    };
    return { ok: true, release, attach };
  }

  /**
   * The journal's changes after `lastEventId` that match, or undefined when that point is not
   * in the journal any more (another process's id, or older than the journal).
   */
  since(lastEventId: string, matches: (r: EventRecord) => boolean): { id: string; record: EventRecord }[] | undefined {
    const m = /^([0-9a-z]{1,16})\.([0-9]{1,16})$/.exec(lastEventId.trim());
    if (!m || m[1] !== this.epoch) return undefined;
    const after = Number(m[2]);
    if (after > this.seq) return undefined;
    const oldest = this.journal.length ? (this.journal[this.journalStart] as { seq: number }).seq : this.seq + 1;
    // Everything after `after` must still be in the journal.
    if (after + 1 < oldest) return undefined;
    const out: { id: string; record: EventRecord }[] = [];
    const n = this.journal.length;
    for (let i = 0; i < n; i++) {
      const entry = this.journal[(this.journalStart + i) % n] as { seq: number; record: EventRecord };
      if (entry.seq > after && matches(entry.record)) out.push({ id: `${this.epoch}.${entry.seq}`, record: entry.record });
    }
    return out;
  }

  /** A change from the store: journal it and send it to every stream that matches. */
  publish(record: EventRecord): void {
    const seq = ++this.seq;
    if (this.journal.length < this.options.journalSize) this.journal.push({ seq, record });
    else {
      this.journal[this.journalStart] = { seq, record };
      this.journalStart = (this.journalStart + 1) % this.journal.length;
    }
    if (this.connections.size === 0) return;
    let text: string | undefined;
    for (const conn of this.connections) {
      if (!conn.matches(record)) continue;
      text ??= sseMessage(JSON.stringify(toApiEvent(record)), `${this.epoch}.${seq}`);
      this.deliver(conn, text);
    }
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const conn of [...this.connections]) this.finish(conn, sseMessage('{"reason":"server shutting down"}', undefined, 'end'));
  }

  private heartbeat(): void {
    for (const conn of [...this.connections]) this.deliver(conn, HEARTBEAT);
  }

  /** Writes within the budget; over it, the client is dropped with a final message. */
  private deliver(conn: Connection, text: string): boolean {
    if (conn.closed) return false;
    const queued = conn.sink.buffered();
    if (queued + text.length > this.options.maxBufferedBytes) {
      this.dropped++;
      this.finish(conn, sseMessage(`{"reason":"client too slow: more than ${this.options.maxBufferedBytes} bytes unread"}`, undefined, 'dropped'));
      return false;
    }
    conn.sink.write(text);
    this.delivered++;
    const now = queued + text.length;
    if (now > this.peakBuffered) this.peakBuffered = now;
    return true;
  }

  private finish(conn: Connection, last: string): void {
    if (conn.closed) return;
    conn.closed = true;
    this.connections.delete(conn);
    conn.release();
    conn.sink.write(last);
    conn.sink.end();
  }
}
