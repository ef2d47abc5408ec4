// A real Kubernetes control plane on loopback: etcd, kube-apiserver (TLS, client-certificate
// authentication, RBAC) and kube-controller-manager (namespaces really terminate, quotas
// really count, garbage is collected). Used by the integration tests (through test/support) and by `make run`.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority, type KeyPair } from './pki.js';
import { ManagedProcess } from './process.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TEMP_PREFIX = 'ovim-controlplane-';

/** How long kube-apiserver may take to stop before it is killed (see stopApiServer). */
const API_SERVER_STOP_GRACE_MS = 2_000;

export interface ControlPlaneOptions {
  /** Keep state here (certs, etcd data) across runs; default: a temporary folder removed on stop. */
  stateDir?: string;
  /** Start kube-controller-manager too (default true). */
  controllerManager?: boolean;
  /** Where the kubeconfig of the admin is written (default `<stateDir>/kubeconfig`). */
  kubeconfigPath?: string;
}

export interface KubeUser {
  name: string;
  groups: string[];
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
}

/** Resolves the folder holding etcd, kube-apiserver and kube-controller-manager (building once). */
export async function controlPlaneAssets(): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [join(repoRoot, 'hack/controlplane/build.sh')], {
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`control-plane binaries unavailable:\n${err.stderr ?? err.message}`);
  });
  return stdout.trim().split('\n').pop() as string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temporary folders of earlier runs whose owner process is gone (a killed run). */
function sweepStaleTempDirs(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    const owner = Number.parseInt(readFileSafe(join(dir, 'owner.pid')) ?? '', 10);
    if (Number.isInteger(owner) && isAlive(owner)) continue;
    rmSync(dir, { recursive: true, force: true });
  }
}

function readFileSafe(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function kubeconfigYaml(server: string, caPem: string, user: string, pair: KeyPair): string {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: ovim-sandbox',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(pair.certFile)}`,
    `    client-key-data: ${b64(pair.keyFile)}`,
    'contexts:',
    `- name: ${user}@ovim-sandbox`,
    '  context:',
    '    cluster: ovim-sandbox',
    `    user: ${user}`,
    `current-context: ${user}@ovim-sandbox`,
    '',
  ].join('\n');
}

const live = new Set<ControlPlane>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the run ends without stop(): kill synchronously and remove temp state.
  process.on('exit', () => {
    for (const cp of live) cp.killNow();
  });
}

export class ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly apiServerUrl: string;
  /** etcd's client URL (plain HTTP on loopback), for fault tests. */
  readonly etcdUrl: string;
  readonly kubeConfig: KubeConfig;
  private readonly etcd: ManagedProcess;
  private readonly apiServer: ManagedProcess;
  private readonly controllerManager: ManagedProcess | undefined;
  private stopped = false;

  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly caPem: string,
    private readonly admin: KeyPair,
    private readonly temporary: boolean,
    parts: {
      dir: string;
      kubeconfigPath: string;
      apiPort: number;
      etcdUrl: string;
      etcd: ManagedProcess;
      apiServer: ManagedProcess;
      controllerManager: ManagedProcess | undefined;
    },
  ) {
    this.dir = parts.dir;
    this.kubeconfigPath = parts.kubeconfigPath;
    this.apiServerUrl = `https://127.0.0.1:${parts.apiPort}`;
    this.etcdUrl = parts.etcdUrl;
    this.etcd = parts.etcd;
    this.apiServer = parts.apiServer;
    this.controllerManager = parts.controllerManager;
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(this.kubeconfigPath);
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const assets = await controlPlaneAssets();
    sweepStaleTempDirs();
    const temporary = options.stateDir === undefined;
    const dir = options.stateDir ?? (await mkdtemp(join(tmpdir(), TEMP_PREFIX)));
    mkdirSync(join(dir, 'pki'), { recursive: true });
    if (temporary) writeFileSync(join(dir, 'owner.pid'), String(process.pid));

    const ca = await CertificateAuthority.open(join(dir, 'pki'));
    const caPem = await ca.caPem();
    const [serving, admin, sa] = await Promise.all([
      ca.issue('apiserver', {
        commonName: 'kube-apiserver',
        usage: 'server',
        altNames: ['IP:127.0.0.1', 'DNS:localhost', 'IP:10.0.0.1', 'DNS:kubernetes.default.svc'],
      }),
      ca.issue('admin', { commonName: 'ovim-admin', organizations: ['system:masters'], usage: 'client' }),
      ca.serviceAccountKey(),
    ]);

    const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const kubeconfigPath = options.kubeconfigPath ?? join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(`https://127.0.0.1:${apiPort}`, caPem, 'ovim-admin', admin), {
      mode: 0o600,
    });

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcd = new ManagedProcess('etcd', join(assets, 'etcd'), [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync', // test data: durability is not worth an fsync per write
      '--log-level=warn',
    ], join(dir, 'etcd.log'));

    const apiServer = new ManagedProcess('kube-apiserver', join(assets, 'kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'pki')}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-private-key-file=${serving.keyFile}`,
      `--client-ca-file=${ca.certFile}`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${sa.publicKeyFile}`,
      `--service-account-signing-key-file=${sa.privateKeyFile}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--event-ttl=1h',
      '--v=1',
    ], join(dir, 'kube-apiserver.log'));

    let controllerManager: ManagedProcess | undefined;
    if (options.controllerManager !== false) {
      const kcm = await ca.issue('kube-controller-manager', {
        commonName: 'system:kube-controller-manager',
        organizations: ['system:masters'],
        usage: 'client',
      });
      const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
      writeFileSync(kcmKubeconfig, kubeconfigYaml(`https://127.0.0.1:${apiPort}`, caPem, 'kcm', kcm), { mode: 0o600 });
      controllerManager = new ManagedProcess('kube-controller-manager', join(assets, 'kube-controller-manager'), [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        '--controllers=namespace-controller,garbage-collector-controller,resourcequota-controller,serviceaccount-controller,clusterrole-aggregation-controller',
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${await freePort()}`,
        `--cert-dir=${join(dir, 'pki')}`,
        `--root-ca-file=${ca.certFile}`,
        `--service-account-private-key-file=${sa.privateKeyFile}`,
        // Quota usage is recomputed on this period besides every change; keep tests snappy.
        '--resource-quota-sync-period=10s',
        '--concurrent-namespace-syncs=5',
        '--v=1',
      ], join(dir, 'kube-controller-manager.log'));
    }

    const cp = new ControlPlane(ca, caPem, admin, temporary, {
      dir, kubeconfigPath, apiPort, etcdUrl, etcd, apiServer, controllerManager,
    });
    live.add(cp);
    installExitHook();
    try {
      etcd.start();
      await cp.waitForEtcd(etcdUrl);
      apiServer.start();
      await cp.waitForApiServer();
      controllerManager?.start();
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  /** A user authenticated by a client certificate with the given groups (for RBAC tests). */
  async mintUser(name: string, groups: string[] = []): Promise<KubeUser> {
    const fileName = `user-${name.replace(/[^a-zA-Z0-9_.-]/g, '_')}`;
    const pair = await this.ca.issue(fileName, { commonName: name, organizations: groups, usage: 'client' });
    const kubeconfigPath = join(this.dir, `${fileName}.kubeconfig`);
    writeFileSync(kubeconfigPath, kubeconfigYaml(this.apiServerUrl, this.caPem, name, pair), { mode: 0o600 });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    return { name, groups, kubeconfigPath, kubeConfig };
  }

  /** Whether kube-apiserver runs (false between stopApiServer() and startApiServer()). */
  get apiServerRunning(): boolean {
    return this.apiServer.running;
  }

  /**
   * Stops kube-apiserver (etcd keeps the data) - for fault tests. Its graceful shutdown waits for
   * open watches to end, which every operator holds: it took the whole 10 s grace every time. It
   * keeps nothing of its own, so after a short grace it is killed.
   */
  async stopApiServer(): Promise<void> {
    await this.apiServer.stop(API_SERVER_STOP_GRACE_MS);
  }

  /**
   * Starts kube-apiserver again on the same address and waits until it is ready.
   * kube-controller-manager is (re)started with it: on its own it reconnects only after client-go's
   * backoff (15 s and more seen here), and later tests would wait on namespaces that do not
   * terminate and service accounts that do not appear.
   */
  async startApiServer(): Promise<void> {
    if (this.apiServer.running) return this.waitForApiServer();
    this.apiServer.start();
    await this.waitForApiServer();
    // Also when it exited on its own: started just before kube-apiserver went away again (a
    // test stopping it right after the previous one started it), it fails its first request
    // and exits, and every later test would run without it.
    await this.restartControllerManager();
  }

  /**
   * Restarts kube-controller-manager. For tests that install a CRD a ResourceQuota counts: its
   * quota controller discovers resources when it starts, and after that only every 30 s (fixed
   * in kube-controller-manager), until when the API server refuses such objects in that namespace.
   */
  async restartControllerManager(): Promise<void> {
    if (!this.controllerManager) return;
    await this.controllerManager.stop();
    this.controllerManager.start();
  }

  /**
   * Compacts etcd's history up to its latest revision, through etcd's HTTP gateway (for fault
   * tests): every watch from an older resourceVersion is then answered 410 Gone. Two writes of
   * a key outside the API server's prefix come first, so that the compacted revision is past
   * every resourceVersion a client has seen (a watch from rv starts at rv + 1). Returns it.
   */
  async compactEtcd(): Promise<number> {
    const call = async (path: string, body: unknown) => {
      const res = await fetch(`${this.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as { header?: { revision?: string } };
    };
    const key = Buffer.from('/ovim-fault-test/compaction').toString('base64');
    await call('/v3/kv/put', { key, value: Buffer.from('1').toString('base64') });
    const put = await call('/v3/kv/put', { key, value: Buffer.from('2').toString('base64') });
    const revision = Number(put.header?.revision);
    if (!Number.isFinite(revision)) throw new Error(`etcd put: no revision in ${JSON.stringify(put)}`);
    await call('/v3/kv/compaction', { revision: String(revision), physical: true });
    return revision;
  }

  async restartApiServer(downMs = 0): Promise<void> {
    await this.stopApiServer();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startApiServer();
  }

  /** Stops everything in reverse order and removes temporary state. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.controllerManager?.stop();
    await this.apiServer.stop(API_SERVER_STOP_GRACE_MS);
    await this.etcd.stop();
    live.delete(this);
    if (this.temporary) rmSync(this.dir, { recursive: true, force: true });
  }

  /** For the process 'exit' hook: nothing may await there. */
  killNow(): void {
    this.controllerManager?.killNow();
    this.apiServer.killNow();
    this.etcd.killNow();
    if (this.temporary) rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitForEtcd(url: string): Promise<void> {
    await this.poll('etcd', this.etcd, 30_000, async () => {
      const res = await fetch(`${url}/health`).catch(() => undefined);
      return res?.ok === true;
    });
  }

  private async waitForApiServer(): Promise<void> {
    await this.poll('kube-apiserver', this.apiServer, 90_000, () => this.readyz());
  }

  private readyz(): Promise<boolean> {
    const url = new URL('/readyz', this.apiServerUrl);
    return new Promise((resolveReady) => {
      const req = request(
        url,
        {
          ca: this.caPem,
          cert: readFileSync(this.admin.certFile),
          key: readFileSync(this.admin.keyFile),
          timeout: 2_000,
        },
        (res) => {
          res.resume();
          resolveReady(res.statusCode === 200);
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolveReady(false));
      req.end();
    });
  }

  private async poll(what: string, proc: ManagedProcess, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!proc.running) throw new Error(`${what} exited during start-up:\n${proc.logTail()}`);
      if (await ready()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${what} not ready after ${timeoutMs} ms:\n${proc.logTail()}`);
  }
}

