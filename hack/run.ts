// `make run`: run against the current kubeconfig when it reaches a cluster; otherwise start a
// local sandbox control plane with its state in .ovim-sandbox/. Runs the operator and the events
// API, writes the JWT secret, a system-admin token and the API URL into .ovim-sandbox/, stays up
// until Ctrl-C/SIGTERM and then stops everything it started.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_CONFIG, loadConfig } from '../src/config.js';
import { untilAborted } from '../src/kube/backoff.js';
import { installCrds, loadTestVmCrd } from '../src/kube/crds.js';
import { installClusterManifests } from '../src/kube/policies.js';
import { KubeClient } from '../src/kube/rest.js';
import { createLogger } from '../src/log.js';
import { signToken } from '../src/http/auth.js';
import { loadApiConfig } from '../src/http/config.js';
import { startOvim, type Ovim } from '../src/main.js';
import { ControlPlane, freePort } from '../src/sandbox/controlplane.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'info', false).child({ component: 'make-run' });
const sandboxDir = resolve('.ovim-sandbox');
const sandboxKubeconfig = join(sandboxDir, 'kubeconfig');

async function reachable(kc: KubeConfig): Promise<string | undefined> {
  const client = await KubeClient.create(kc, { timeoutMs: 5_000, maxSockets: 1 }).catch(() => undefined);
  if (!client) return undefined;
  try {
    return (await client.get<{ gitVersion?: string }>('/version')).gitVersion;
  } catch {
    return undefined;
  } finally {
    client.close();
  }
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
  // The handlers come first: Ctrl-C during start-up stops what was started so far (the sandbox
  // included) instead of leaving it behind.
  const startup = new AbortController();
  let sandbox: ControlPlane | undefined;
  let sandboxStarting: Promise<ControlPlane> | undefined;
  let ovim: Ovim | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    startup.abort(new Error(`${signal} during start-up`));
    await ovim?.stop().catch((err: unknown) => log.error(`operator stop failed: ${(err as Error).message}`));
    // A sandbox still starting is waited for, then stopped.
    const cp = sandbox ?? (await sandboxStarting?.catch(() => undefined));
    await cp?.stop();
    if (sandboxStarting) rmSync(join(sandboxDir, 'sandbox.pid'), { force: true });
    process.exit(0);
  };
  const onSignal = (signal: string) =>
    stop(signal).catch((err: unknown) => {
      log.error(`stopping failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
  process.on('SIGINT', () => void onSignal('SIGINT'));
  process.on('SIGTERM', () => void onSignal('SIGTERM'));
  /** A step of the start-up that a signal cuts short (stop() then cleans up and exits). */
  const step = <T>(work: Promise<T>): Promise<T> => untilAborted(work, startup.signal).catch((err: unknown) => {
    if (startup.signal.aborted) return new Promise<T>(() => undefined); // stop() exits the process
    throw err;
  });

  let kc = await step(existingCluster());
  if (!kc) {
    claimSandbox();
    log.info('starting the sandbox control plane (etcd, kube-apiserver, kube-controller-manager)');
    const started = Date.now();
    sandboxStarting = ControlPlane.start({ stateDir: sandboxDir, kubeconfigPath: sandboxKubeconfig });
    sandbox = await step(sandboxStarting);
    kc = sandbox.kubeConfig;
    log.info(`sandbox ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${sandbox.apiServerUrl}`);
  }

  const crds = await step(installCrds(kc));
  log.info(`CRDs installed and established: ${crds.join(', ')}`);
  // What an operator of a cluster installs with the manifests: tenant ClusterRoles, policies.
  log.info(`applied: ${(await installClusterManifests(kc)).join(', ')}`);
  // Only the sandbox gets the authored KubeVirt VM CRD, so that a user can try VM events there.
  if (sandbox) log.info(`sandbox VM CRD: ${(await installCrds(kc, 30_000, loadTestVmCrd())).join(', ')}`);

  // The operator and the API, in this process (flags after `--` and OVIM_* variables configure
  // them). Without OVIM_JWT_SECRET(_FILE) the API uses the secret kept in .ovim-sandbox/.
  const config = loadConfig(process.argv.slice(2));
  // The sandbox's API server calls the admission webhook on loopback (DESIGN.md section 8).
  if (sandbox && config.webhook.port === 0) {
    const port = await freePort();
    config.webhook = { ...config.webhook, port, host: '127.0.0.1', url: `https://127.0.0.1:${port}` };
  }
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
  env.OVIM_HEALTH_PROBE_ADDRESS ??= '127.0.0.1:8081';
  env.OVIM_METRICS_ADDRESS ??= '127.0.0.1:8082';
  const apiConfig = loadApiConfig(env, config.api);
  try {
    ovim = await startOvim(kc, config, apiConfig, createLogger(config.logLevel, false), { signal: startup.signal });
  } catch (err) {
    if (startup.signal.aborted) return; // stop() cleans up and exits
    await sandbox?.stop();
    rmSync(join(sandboxDir, 'sandbox.pid'), { force: true });
    throw err;
  }
  log.info('operator running: reconciling Organizations and VirtualDataCenters');
  if (config.webhook.port > 0) log.info(`admission webhook on ${config.webhook.url ?? `port ${config.webhook.port}`}: actors are verified`);
  else log.warn('no admission webhook (--webhook-port): event actors are recorded as unverified');

  const local = (url: string | undefined) => url?.replace('//0.0.0.0:', '//127.0.0.1:') ?? 'off';
  const apiUrl = local(ovim.apiUrl);
  writeFileSync(join(sandboxDir, 'api-url'), `${apiUrl}\n`);
  if (apiConfig.auth.secret) {
    const token = await signToken({ userId: 'sandbox-admin', username: 'sandbox-admin', role: 'system_admin' }, apiConfig.auth.secret);
    writeFileSync(join(sandboxDir, 'token'), `${token}\n`, { mode: 0o600 });
  }
  const lines = [
    '',
    `Events API and panel: ${apiUrl}/  (token: .ovim-sandbox/token, valid 24 h)`,
    `Health probes:        ${ovim.probesUrl ? `${local(ovim.probesUrl)}/readyz` : 'off'}`,
    `Metrics:              ${ovim.metricsUrl ? `${local(ovim.metricsUrl)}/metrics` : 'off'}`,
  ];
  if (sandbox) {
    lines.push('', 'The sandbox is up. In another shell:', '', `  export KUBECONFIG=${sandboxKubeconfig}`,
      '  kubectl apply -k config/samples', '  kubectl get org,vdc -A');
  }
  lines.push(`  curl -s -H "Authorization: Bearer $(cat .ovim-sandbox/token)" ${apiUrl}/api/v1/events/recent`, '', 'Ctrl-C stops it.', '');
  process.stdout.write(lines.join('\n') + '\n');

  // Keep the process alive until a signal arrives.
  setInterval(() => undefined, 1 << 30);
}

main().catch((err: unknown) => {
  log.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
