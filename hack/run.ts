// `make run`: run against the current kubeconfig when it reaches a cluster; otherwise start a
// local sandbox control plane with its state in .ovim-sandbox/. Runs the operator and the events
// API, writes the JWT secret, a system-admin token and the API URL into .ovim-sandbox/, stays up
// until Ctrl-C/SIGTERM and then stops everything it started.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { DEFAULT_CONFIG, loadConfig } from '../src/config.js';
import { installCrds, loadTestVmCrd } from '../src/kube/crds.js';
import { createLogger } from '../src/log.js';
import { signToken } from '../src/http/auth.js';
import { loadApiConfig } from '../src/http/config.js';
import { startOvim, type Ovim } from '../src/main.js';
import { ControlPlane } from '../test/support/controlplane.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'info', false).child({ component: 'make-run' });
const sandboxDir = resolve('.ovim-sandbox');
const sandboxKubeconfig = join(sandboxDir, 'kubeconfig');

async function reachable(kc: KubeConfig): Promise<string | undefined> {
  const version = kc.makeApiClient(VersionApi).getCode();
  const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000).unref());
  return Promise.race([version.then((v) => v.gitVersion).catch(() => undefined), timeout]);
}

/** The user's cluster, if a kubeconfig (or in-cluster config) points at a reachable one. */
async function existingCluster(): Promise<KubeConfig | undefined> {
  if (process.env.OVIM_SANDBOX === '1') return undefined;
  const explicit = process.env.KUBECONFIG;
  const inCluster = existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
  const defaultFile = join(homedir(), '.kube', 'config');
  if (!explicit && !inCluster && !existsSync(defaultFile)) return undefined;
  // A KUBECONFIG pointing at the sandbox's own kubeconfig means "the sandbox".
  if (explicit && resolve(explicit) === sandboxKubeconfig) return undefined;

  const kc = new KubeConfig();
  kc.loadFromDefault();
  const server = kc.getCurrentCluster()?.server ?? '(none)';
  const version = await reachable(kc);
  if (version) {
    log.info(`using the cluster of the current kubeconfig: ${server} (Kubernetes ${version})`);
    return kc;
  }
  if (explicit) {
    throw new Error(
      `KUBECONFIG=${explicit} points at ${server}, which does not answer. ` +
        'Fix it, or unset KUBECONFIG (or set OVIM_SANDBOX=1) to run a local sandbox control plane.',
    );
  }
  log.warn(`the default kubeconfig's cluster ${server} does not answer; starting a local sandbox instead`);
  return undefined;
}

/** The JWT secret of local runs: made once, kept in .ovim-sandbox/jwt-secret (mode 0600). */
function jwtSecretFile(): string {
  mkdirSync(sandboxDir, { recursive: true });
  const file = join(sandboxDir, 'jwt-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return file;
}

function claimSandbox(): void {
  mkdirSync(sandboxDir, { recursive: true });
  const pidFile = join(sandboxDir, 'sandbox.pid');
  if (existsSync(pidFile)) {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
    try {
      process.kill(pid, 0);
      throw new Error(`a sandbox is already running (pid ${pid}); stop it first`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  writeFileSync(pidFile, String(process.pid));
}

async function main(): Promise<void> {
  let kc = await existingCluster();
  let sandbox: ControlPlane | undefined;
  if (!kc) {
    claimSandbox();
    log.info('starting the sandbox control plane (etcd, kube-apiserver, kube-controller-manager)');
    const started = Date.now();
    sandbox = await ControlPlane.start({ stateDir: sandboxDir, kubeconfigPath: sandboxKubeconfig });
    kc = sandbox.kubeConfig;
    log.info(`sandbox ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${sandbox.apiServerUrl}`);
  }

  const crds = await installCrds(kc);
  log.info(`CRDs installed and established: ${crds.join(', ')}`);
  // Only the sandbox gets the authored KubeVirt VM CRD, so that a user can try VM events there.
  if (sandbox) log.info(`sandbox VM CRD: ${(await installCrds(kc, 30_000, loadTestVmCrd())).join(', ')}`);

  // The operator and the API, in this process (flags after `--` and OVIM_* variables configure
  // them). Without OVIM_JWT_SECRET(_FILE) the API uses the secret kept in .ovim-sandbox/.
  const config = loadConfig(process.argv.slice(2));
  // The archive lives with the sandbox's state unless a flag or OVIM_HISTORY_PATH says otherwise.
  if (config.history.path === DEFAULT_CONFIG.history.path && !process.env.OVIM_HISTORY_PATH) {
    config.history.path = join(sandboxDir, 'history.db');
  }
  const env = { ...process.env };
  if (!env.OVIM_JWT_SECRET && !env.OVIM_JWT_SECRET_FILE && !env.OVIM_JWT_PUBLIC_KEY_FILE) {
    env.OVIM_JWT_SECRET_FILE = jwtSecretFile();
  }
  // A local run listens on loopback unless told otherwise.
  env.OVIM_API_ADDRESS ??= '127.0.0.1:8080';
  const apiConfig = loadApiConfig(env);
  let ovim: Ovim | undefined;
  try {
    ovim = await startOvim(kc, config, apiConfig, createLogger(config.logLevel, false));
  } catch (err) {
    await sandbox?.stop();
    rmSync(join(sandboxDir, 'sandbox.pid'), { force: true });
    throw err;
  }
  log.info('operator running: reconciling Organizations and VirtualDataCenters');

  const apiUrl = ovim.apiUrl.replace('//0.0.0.0:', '//127.0.0.1:');
  writeFileSync(join(sandboxDir, 'api-url'), `${apiUrl}\n`);
  if (apiConfig.auth.secret) {
    const token = await signToken({ userId: 'sandbox-admin', username: 'sandbox-admin', role: 'system_admin' }, apiConfig.auth.secret);
    writeFileSync(join(sandboxDir, 'token'), `${token}\n`, { mode: 0o600 });
  }
  const lines = ['', `Events API and panel: ${apiUrl}/  (token: .ovim-sandbox/token, valid 24 h)`];
  if (sandbox) {
    lines.push('', 'The sandbox is up. In another shell:', '', `  export KUBECONFIG=${sandboxKubeconfig}`,
      '  kubectl apply -f config/samples/', '  kubectl get org,vdc -A');
  }
  lines.push(`  curl -s -H "Authorization: Bearer $(cat .ovim-sandbox/token)" ${apiUrl}/api/v1/events/recent`, '', 'Ctrl-C stops it.', '');
  process.stdout.write(lines.join('\n') + '\n');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    await ovim?.stop().catch((err: unknown) => log.error(`operator stop failed: ${(err as Error).message}`));
    await sandbox?.stop();
    rmSync(join(sandboxDir, 'sandbox.pid'), { force: true });
    process.exit(0);
  };
  const onSignal = (signal: string) =>
    stop(signal).catch((err: unknown) => {
      log.error(`stopping failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
  process.on('SIGINT', () => void onSignal('SIGINT'));
  process.on('SIGTERM', () => void onSignal('SIGTERM'));
  // Keep the process alive until a signal arrives.
  setInterval(() => undefined, 1 << 30);
}

main().catch((err: unknown) => {
  log.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
