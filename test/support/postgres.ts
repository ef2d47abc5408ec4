// A real PostgreSQL server for the tests: Debian's `postgresql` package, started on loopback in a
// temporary folder as the `postgres` user (the server refuses to run as root), under the same
// process guard as the control plane (nothing outlives the test run, even when it is killed).
// One database per test run (and one per `database()` call inside it). OVIM_TEST_DATABASE_URL
// points the suite at an existing server instead (its user must be allowed to create databases).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './controlplane.js';
import { ManagedProcess } from './process.js';
import { waitFor } from './wait.js';

const PG_ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin folder. */
function serverBin(): string {
  const versions = existsSync(PG_ROOT) ? readdirSync(PG_ROOT).filter((v) => existsSync(join(PG_ROOT, v, 'bin/postgres'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) {
    throw new Error(`PostgreSQL is not installed (no ${PG_ROOT}/*/bin/postgres): run \`make test\` (installs it) or \`apt-get install -y postgresql\`, or set OVIM_TEST_DATABASE_URL`);
  }
  return join(PG_ROOT, newest, 'bin');
}

/** Runs a server binary as the `postgres` user when we are root (as ourselves otherwise). */
function asServerUser(binary: string, args: string[]): [string, string[]] {
  if (userInfo().uid !== 0) return [binary, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', binary, ...args]];
}

export class TestPostgres {
  private constructor(
    /** The server's admin URL (database `postgres`). */
    readonly adminUrl: string,
    private readonly server: { process: ManagedProcess; dir: string; bin: string; port: number } | undefined,
  ) {}

  /** Our own server, unless OVIM_TEST_DATABASE_URL names one. */
  static async start(): Promise<TestPostgres> {
    const external = process.env.OVIM_TEST_DATABASE_URL;
    if (external) return new TestPostgres(external, undefined);
    const bin = serverBin();
    const dir = mkdtempSync(join(tmpdir(), 'ovim-postgres-'));
    const data = join(dir, 'data');
    if (userInfo().uid === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dir, uid, gid);
    }
    const [initdb, initArgs] = asServerUser(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    execFileSync(initdb, initArgs, { stdio: 'pipe' });
    const port = await freePort();
    const [binary, args] = asServerUser(join(bin, 'postgres'), [
      '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
      // A throwaway server: no fsync, small footprint.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'shared_buffers=64MB', '-c', 'max_connections=100',
    ]);
    const server = { process: new ManagedProcess('postgres', binary, args, join(dir, 'postgres.log')), dir, bin, port };
    const instance = new TestPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, server);
    await instance.startServer();
    return instance;
  }

  /** Whether this run owns the server (it can be stopped and started again). */
  get managed(): boolean {
    return this.server !== undefined;
  }

  /** The URL of a database on this server. */
  urlOf(name: string): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** Creates an empty database (a plain name: letters, digits, underscores). */
  async createDatabase(name: string): Promise<void> {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
    await this.admin((c) => c.query(`create database ${name}`));
  }

  async dropDatabase(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    await this.admin((c) => c.query(`drop database if exists ${name} with (force)`));
  }

  /** Starts (again) the server this run owns; resolves once it accepts connections. */
  async startServer(): Promise<void> {
    const server = this.server;
    if (!server) throw new Error('the test database server is external (OVIM_TEST_DATABASE_URL): it cannot be started here');
    server.process.start();
    await waitFor(
      'the test PostgreSQL server to accept connections',
      async () => {
        if (!server.process.running) throw new Error(`postgres exited:\n${server.process.logTail()}`);
        await this.admin((c) => c.query('select 1'));
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /** Stops the server (fast shutdown: sessions are cut), keeping its data. */
  async stopServer(): Promise<void> {
    const server = this.server;
    if (!server) throw new Error('the test database server is external (OVIM_TEST_DATABASE_URL): it cannot be stopped here');
    if (!server.process.running) return;
    const [pgCtl, args] = asServerUser(join(server.bin, 'pg_ctl'), ['-D', join(server.dir, 'data'), 'stop', '-m', 'fast', '-w', '-t', '30']);
    try {
      execFileSync(pgCtl, args, { stdio: 'pipe' });
    } catch {
      // the guard's SIGTERM (and SIGKILL after 10 s) below still stops it
    }
    await server.process.stop();
  }

  /** Stops everything this run started and removes its folder. */
  async stop(): Promise<void> {
    if (!this.server) return;
    await this.stopServer();
    rmSync(this.server.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort (process exit): the server's process group killed. */
  killNow(): void {
    this.server?.process.killNow();
  }

  private async admin<T>(body: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await body(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

let started: Promise<TestPostgres> | undefined;
let running: TestPostgres | undefined;

/** The run's PostgreSQL server; starts it on first use. */
export function testPostgres(): Promise<TestPostgres> {
  if (!started) {
    started = TestPostgres.start().then((s) => (running = s));
    // `exit` handlers cannot wait: the server's process group goes at once.
    process.once('exit', () => running?.killNow());
  }
  return started;
}

export async function stopTestPostgres(): Promise<void> {
  const pending = started;
  started = undefined;
  running = undefined;
  if (pending) await (await pending.catch(() => undefined))?.stop();
}
