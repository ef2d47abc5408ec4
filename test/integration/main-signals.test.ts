// Defect C: SIGTERM during start-up. The program runs as a child process against an API server
// that accepts connections and never answers, so its start-up hangs (installing the CRDs) with
// the events API already listening. A SIGTERM then must stop it gracefully (exit code 0, "stopped
// during start-up"), not kill it by the signal's default action.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { QUIET_LISTENERS } from '../support/program.js';
import { waitFor } from '../support/wait.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

describe('the program and its signals', function () {
  this.timeout(60_000);
  const sockets = new Set<Socket>();
  const blackhole = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  let dir = '';

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => blackhole.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM during start-up stops the program gracefully (exit 0), not by the default signal action', async () => {
    const apiServerPort = await listen(blackhole);
    dir = mkdtempSync(join(tmpdir(), 'ovim-signals-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:' + apiServerPort + '", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: test-token}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--kubeconfig', kubeconfig, '--no-history'], {
      env: { ...process.env, ...QUIET_LISTENERS, OVIM_API_ADDRESS: `127.0.0.1:${port}`, OVIM_JWT_SECRET: 'a-test-secret-of-enough-length-0123456789', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      // The API listens before the operator starts: from then on the start-up hangs on the API server.
      await waitFor('the events API to listen', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status > 0, { timeoutMs: 30_000 });
      expect(sockets.size, 'the program is talking to the (silent) API server').to.be.greaterThan(0);
      child.kill('SIGTERM');
      const { code, signal } = await exited;
      expect({ code, signal }, output).to.deep.equal({ code: 0, signal: null });
      expect(output).to.match(/stopped during start-up/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
