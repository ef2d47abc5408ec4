// Child processes that cannot outlive the Node.js process that started them.
//
// Each binary runs under a small bash guard in its own process group. The guard holds the
// read end of a pipe from us; when that pipe closes - because we stop the process, or because
// Node.js died, even by SIGKILL - the guard sends SIGTERM to the binary. That is what keeps
// `ps` clean after an interrupted or crashed test run.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

const GUARD = [
  'exec 3<&0 </dev/null',
  '"$0" "$@" &',
  'child=$!',
  // SIGTERM first for a clean shutdown, SIGKILL if it takes more than 10 s.
  '( read -r _ <&3; kill -TERM "$child" 2>/dev/null; sleep 10; kill -KILL "$child" 2>/dev/null ) &',
  'watcher=$!',
  'exec 3<&-',
  'wait "$child"; rc=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$rc"',
].join('\n');

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    readonly binary: string,
    readonly args: string[],
    readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.exitCode === undefined;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const log = openSync(this.logFile, 'a');
    this.exitCode = undefined;
    const child = spawn('bash', ['-c', GUARD, this.binary, ...this.args], {
      stdio: ['pipe', log, log],
      detached: true, // own process group: Ctrl-C in a terminal reaches us, not the control plane
    });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
      child.on('error', () => {
        this.exitCode = -1;
        resolve(-1);
      });
    });
    // The pipe must not keep the event loop alive, nor may its errors crash us.
    child.stdin?.on('error', () => undefined);
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.unref();
  }

  /** Waits for exit; rejects if the process is not gone in `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not exit in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Graceful stop (SIGTERM through the guard), then SIGKILL of the whole group. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.stdin?.end();
    try {
      await this.waitExit(graceMs);
    } catch {
      this.killNow();
      await this.waitExit(5_000).catch(() => undefined);
    }
  }

  /** Synchronous SIGKILL of the process group: for `process.on('exit')`, where nothing awaits. */
  killNow(): void {
    const pid = this.child?.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}
