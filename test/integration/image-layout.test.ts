// The image without a container engine: what the Dockerfile's last stage copies (read from the
// Dockerfile) is assembled in a temporary folder from `make build` and `npm ci --omit=dev`, made
// read-only, and started from there with its ENTRYPOINT, from a read-only working directory, as
// the image's user (uid 65532) when the tests run as root. It must find its own files (CRDs,
// tenant roles, panel, the archive's worker and migrations), reconcile and serve, and write
// nowhere but its data folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { signToken } from '../../src/http/auth.js';
import { KubeClient } from '../../src/kube/rest.js';
import type { Organization } from '../../src/resources/types.js';
import type { ControlPlane } from '../support/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { assemble, makeBuild, productionDependencies, runtimeStage, type RuntimeStage } from '../support/image-layout.js';
import { httpGet, listenerEnv, repoRoot } from '../support/program.js';
import { waitFor } from '../support/wait.js';

const IMAGE_UID = 65532;
const sfx = randomBytes(2).toString('hex');
const SECRET = `image-layout-${sfx}-a-secret-of-32-bytes-or-more`;

/** Every file under `dir` with its size and mtime: a snapshot to compare. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.push(`${p} ${statSync(p).size} ${statSync(p).mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}

/** chmod a-w, recursively. */
function readOnly(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) readOnly(p);
    else if (!entry.isSymbolicLink()) chmodSync(p, statSync(p).mode & 0o555);
  }
  chmodSync(dir, 0o555);
}

describe('the image layout (what the Dockerfile copies), run from a read-only folder', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let dir: string;
  let root: string;
  let stage: RuntimeStage;
  let child: ChildProcess | undefined;
  let exited: Promise<number | string> | undefined;
  let urls: Awaited<ReturnType<typeof listenerEnv>>;
  let before_: string[];
  const logFile = () => join(dir, 'program.log');
  const log = () => (existsSync(logFile()) ? readFileSync(logFile(), 'utf8') : '');

  before(async function () {
    // The first run builds the production dependencies (better-sqlite3 from source): minutes.
    this.timeout(40 * 60_000);
    cp = await controlPlane();
    api = await KubeClient.create(cp.kubeConfig);
    const [deps] = await Promise.all([productionDependencies(), makeBuild()]);
    stage = runtimeStage();
    dir = mkdtempSync(join(tmpdir(), 'ovim-image-'));
    chmodSync(dir, 0o755);
    root = join(dir, 'root');
    assemble(stage, root, { build: { prefix: '/src/', dir: repoRoot }, deps: { prefix: '/app/', dir: deps } });
    readOnly(root);
    before_ = snapshot(root);
    // The working directory: empty and read-only. The data folder: the only writable place.
    const cwd = join(dir, 'cwd');
    const data = join(dir, 'data');
    mkdirSync(cwd, { mode: 0o555 });
    chmodSync(cwd, 0o555);
    mkdirSync(data, { mode: 0o700 });
    const kubeconfig = join(dir, 'kubeconfig');
    // The sandbox's admin kubeconfig embeds its certificates: a copy the image's user can read.
    writeFileSync(kubeconfig, readFileSync(cp.kubeconfigPath, 'utf8'), { mode: 0o600 });
    const asImageUser = process.getuid?.() === 0;
    if (asImageUser) {
      chownSync(data, IMAGE_UID, IMAGE_UID);
      chownSync(kubeconfig, IMAGE_UID, IMAGE_UID);
    }
    urls = await listenerEnv();
    const [node, script, ...args] = stage.entrypoint;
    expect(node).to.equal('node');
    const program = join(root, script as string);
    const argv = [
      program,
      ...args,
      '--kubeconfig', kubeconfig,
      '--history-path', join(data, 'history.db'),
      // Read from the layout: dist/crds and dist/config/rbac/tenant_roles.yaml.
      '--install-crds', '--install-roles',
      '--workers', '1', '--resync-period=0',
    ];
    const command = asImageUser ? ['setpriv', `--reuid=${IMAGE_UID}`, `--regid=${IMAGE_UID}`, '--clear-groups', process.execPath, ...argv] : [process.execPath, ...argv];
    const out = openSync(logFile(), 'a');
    child = spawn(command[0] as string, command.slice(1), {
      cwd,
      // Nothing of this repository: no NODE_OPTIONS (tsx), no npm variables.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: data, ...stage.env, ...urls.env, OVIM_JWT_SECRET: SECRET, LOG_LEVEL: 'info' },
      stdio: ['ignore', out, out],
      detached: true,
    });
    closeSync(out);
    exited = new Promise((done) => child?.once('exit', (code, signal) => done(code ?? signal ?? -1)));
  });

  after(async function () {
    this.timeout(60_000);
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    api?.close();
    if (dir) {
      // Writable again, to remove it.
      const writable = (d: string) => {
        chmodSync(d, 0o755);
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) writable(join(d, e.name));
      };
      if (existsSync(dir)) writable(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the runtime stage copies only the build output, its manifests and the production dependencies', () => {
    expect(stage.copies.map((c) => c.dest).sort()).to.deep.equal(['dist/config', 'dist/crds', 'dist/src', 'node_modules', 'package.json']);
    expect(stage.user).to.equal(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(existsSync(join(root, 'app', 'src')), 'no sources').to.equal(false);
    expect(existsSync(join(root, 'app', 'node_modules', 'typescript')), 'no dev dependencies').to.equal(false);
    expect(existsSync(join(root, 'app', 'node_modules', 'tsx')), 'no tsx').to.equal(false);
    expect(existsSync(join(root, 'app', 'dist', 'config', 'webhook', 'webhooks.yaml'))).to.equal(true);
  });

  it('becomes ready and serves the panel, the API, probes and metrics on their listeners', async () => {
    await waitFor('/readyz 200 on the probe port', async () => {
      if (child?.exitCode !== null) throw new Error(`the program exited: ${log()}`);
      return (await httpGet(`${urls.probes}/readyz`))?.status === 200;
    }, { timeoutMs: 120_000 });
    const panel = await httpGet(`${urls.api}/`);
    expect(panel?.status, log()).to.equal(200);
    expect(panel?.text).to.match(/<html/i);
    expect((await httpGet(`${urls.api}/panel/panel.js`))?.status).to.equal(200);
    expect((await httpGet(`${urls.metrics}/metrics`))?.text).to.contain('controller_runtime_reconcile_total');
    expect(log()).to.match(/event archive: .*history\.db/);
  });

  it('reconciles an organization; its event is served from the store and the archive', async () => {
    const name = `image-${sfx}`;
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name, annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { displayName: 'Image', admins: [`${name}-admins`] },
    });
    await waitFor('the organization Active', async () => (await api.get<Organization>(`/apis/ovim.io/v1/organizations/${name}`)).status?.phase === 'Active', { timeoutMs: 90_000 });
    const token = await signToken({ userId: 'image-admin', username: 'image-admin', role: 'system_admin' }, new TextEncoder().encode(SECRET));
    await waitFor('OrganizationCreated on /api/v1/events', async () => {
      const res = await httpGet(`${urls.api}/api/v1/events?reason=OrganizationCreated&name=${name}`, token);
      return res?.status === 200 && (JSON.parse(res.text) as { total_count: number }).total_count === 1;
    });
    // The archive (the SQLite worker and the native module from the production dependencies).
    await waitFor('the event in the archive (export)', async () => {
      const res = await httpGet(`${urls.api}/api/v1/events/export?format=ndjson&reason=OrganizationCreated&name=${name}`, token);
      return res?.status === 200 && res.text.includes(`"involved_object_name":"${name}"`);
    });
  });

  it('SIGTERM: exit 0; nothing was written to the layout or the working directory', async () => {
    process.kill(child?.pid as number, 'SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running after 60 s'), 60_000).unref())]);
    expect(code, log()).to.equal(0);
    expect(snapshot(root)).to.deep.equal(before_);
    expect(readdirSync(join(dir, 'cwd'))).to.deep.equal([]);
    expect(readdirSync(join(dir, 'data'))).to.include('history.db');
  });
});
