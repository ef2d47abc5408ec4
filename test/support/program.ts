// The operator as a process, for tests of the program itself: spawned with node and tsx in its
// own process group (so that "no child left" can be checked), its output kept in a log file.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../../src/sandbox/controlplane.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Program {
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  log(): string;
  /** SIGKILL to the whole group: the last resort of an after() hook. */
  kill(): void;
}

/**
 * Runs `node --import tsx <script> ...args` (`node <script>` with tsx: false, for the build
 * output) with `env` added to this process's environment.
 */
export function spawnProgram(script: string, args: string[], env: NodeJS.ProcessEnv, options: { cwd?: string; logFile: string; tsx?: boolean }): Program {
  // tsx by file URL: node resolves --import from the working directory, which may be elsewhere.
  const tsx = pathToFileURL(createRequire(join(repoRoot, 'package.json')).resolve('tsx')).href;
  const out = openSync(options.logFile, 'a');
  const loader = options.tsx === false ? [] : ['--import', tsx];
  const child = spawn(process.execPath, [...loader, resolve(repoRoot, script), ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
    detached: true, // its own process group
  });
  closeSync(out);
  const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(code ?? signal ?? -1)));
  const pid = child.pid as number;
  return {
    child,
    pid,
    exited,
    log: () => readFileSync(options.logFile, 'utf8'),
    kill() {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    },
  };
}

/** Live processes of the process group `pgid` (exited ones that wait to be reaped do not count). */
export function processGroupMembers(pgid: number): string[] {
  return psLines().filter((l) => l.pgid === pgid && !l.stat.startsWith('Z')).map((l) => `${l.pid} ${l.args}`);
}

/** Processes whose command line contains `text`. */
export function processesMentioning(text: string): string[] {
  return psLines().filter((l) => l.args.includes(text) && l.pid !== process.pid && !l.stat.startsWith('Z')).map((l) => `${l.pid} ${l.args}`);
}

function psLines(): { pid: number; pgid: number; stat: string; args: string }[] {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), pgid: Number(m[2]), stat: m[3] ?? '', args: m[4] ?? '' }))
    // ps itself is in our group, never in the program's.
    .filter((l) => !l.args.startsWith('ps -eo'));
}

/** The body of an HTTP answer, or undefined while nothing listens. */
export async function httpGet(url: string, token?: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  } catch {
    return undefined;
  }
}

/** The value of the Prometheus sample of `name` carrying every label of `labels`; undefined when absent. */
export function sample(metricsText: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of metricsText.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const body = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

/** The three listeners on free loopback ports, as the program's environment, and their base URLs. */
export async function listenerEnv(): Promise<{ env: NodeJS.ProcessEnv; api: string; probes: string; metrics: string }> {
  const [api, probes, metrics] = [await freePort(), await freePort(), await freePort()];
  return {
    env: { OVIM_API_ADDRESS: `127.0.0.1:${api}`, OVIM_HEALTH_PROBE_ADDRESS: `127.0.0.1:${probes}`, OVIM_METRICS_ADDRESS: `127.0.0.1:${metrics}` },
    api: `http://127.0.0.1:${api}`,
    probes: `http://127.0.0.1:${probes}`,
    metrics: `http://127.0.0.1:${metrics}`,
  };
}

/** Probes on an ephemeral loopback port and no metrics listener: for runs that use the API port only. */
export const QUIET_LISTENERS: NodeJS.ProcessEnv = { OVIM_HEALTH_PROBE_ADDRESS: '127.0.0.1:0', OVIM_METRICS_ADDRESS: '0' };
