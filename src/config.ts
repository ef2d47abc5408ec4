// Flags and environment → a validated operator configuration. Flags win over the environment.
//
//   --workers N              reconcile workers per controller (OVIM_WORKERS, default 4)
//   --quota-threshold P      QuotaThresholdReached at P percent, 1..100 (OVIM_QUOTA_THRESHOLD, default 90)
//   --resync-period S        full resync every S seconds, 0 = never (OVIM_RESYNC_PERIOD, default 600)
//   --watch-timeout S        server-side watch timeout (OVIM_WATCH_TIMEOUT, default 300)
//   --install-crds           install/update the CRDs at start-up (OVIM_INSTALL_CRDS=1)
//   --install-roles          apply config/rbac/tenant_roles.yaml at start-up (OVIM_INSTALL_ROLES=1;
//                            off by default: in a cluster they are installed with the manifests,
//                            and the operator's ClusterRole may not write ClusterRoles)
//   --no-install-roles       do not apply them (the default; `make run` turns them on)
//   --allow-privileged-organization ORG   VDCs of ORG may ask for Pod Security `privileged`
//                            (repeatable; OVIM_PRIVILEGED_ORGANIZATIONS=a,b)
//   --leader-elect           run the reconcilers only on the holder of a Lease (OVIM_LEADER_ELECT=1)
//   --leader-election-namespace NS   the Lease's namespace (POD_NAMESPACE, else the service
//                            account's namespace in a pod, else default)
//   --leader-election-id NAME        the Lease's name (default ovim-operator)
//   --routes-allow-cidr CIDR  EventRoute webhooks may reach this range although the SSRF guard
//                            refuses it (repeatable; OVIM_ROUTES_ALLOW_CIDRS=a,b)
//   --routes-deny-cidr CIDR   refuse this range too: the cluster's service and pod ranges
//                            (repeatable; OVIM_ROUTES_DENY_CIDRS=a,b)
//   --routes-allow-http       EventRoute webhooks may use plain http (OVIM_ROUTES_ALLOW_HTTP=1)
//   OVIM_SERVICE_ACCOUNT=NS/NAME  the operator's ServiceAccount, bound to ovim:route-secrets in each
//                            organization namespace (default ovim-system/ovim-operator)
//   --log-level L            error|warn|info|debug (LOG_LEVEL, default info)
//   --kubeconfig PATH        (KUBECONFIG; else ~/.kube/config or in-cluster)
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { validateCidr } from './routes/ssrf.js';

export interface LeaderElectionConfig {
  enabled: boolean;
  namespace: string;
  name: string;
  /** This replica's identity (POD_NAME, else host name and pid). */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface OperatorConfig {
  workers: { organization: number; vdc: number; quota: number };
  leaderElection: LeaderElectionConfig;
  quotaThresholdPercent: number;
  resyncPeriodMs: number;
  watchTimeoutSeconds: number;
  installCrds: boolean;
  installRoles: boolean;
  /** Organizations whose VDCs may set podSecurity: privileged. */
  privilegedOrganizations: string[];
  logLevel: string;
  kubeconfig?: string;
  /** EventRoute delivery (src/routes): the SSRF guard's ranges and whether http is allowed. */
  routes: { allowCidrs: string[]; denyCidrs: string[]; allowHttp: boolean; serviceAccount: { namespace: string; name: string } };
}

function defaultNamespace(): string {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

export const DEFAULT_CONFIG: OperatorConfig = {
  workers: { organization: 4, vdc: 4, quota: 2 },
  leaderElection: {
    enabled: false,
    namespace: 'default',
    name: 'ovim-operator',
    identity: `${hostname()}_${process.pid}`,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
  },
  quotaThresholdPercent: 90,
  resyncPeriodMs: 600_000,
  watchTimeoutSeconds: 300,
  installCrds: false,
  installRoles: false,
  privilegedOrganizations: [],
  logLevel: 'info',
  routes: { allowCidrs: [], denyCidrs: [], allowHttp: false, serviceAccount: { namespace: 'ovim-system', name: 'ovim-operator' } },
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function integer(what: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${what} must be a whole number, got '${text}'`);
  const n = Number.parseInt(text, 10);
  if (n < min || n > max) throw new ConfigError(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(text: string | undefined): boolean | undefined {
  if (text === undefined || text === '') return undefined;
  return ['1', 'true', 'yes', 'on'].includes(text.toLowerCase());
}

/** Builds the configuration; throws ConfigError with a message a person understands. */
export function loadConfig(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const cfg: OperatorConfig = {
    ...DEFAULT_CONFIG,
    workers: { ...DEFAULT_CONFIG.workers },
    leaderElection: {
      ...DEFAULT_CONFIG.leaderElection,
      namespace: env.POD_NAMESPACE || defaultNamespace(),
      identity: env.POD_NAME || DEFAULT_CONFIG.leaderElection.identity,
    },
    routes: { ...DEFAULT_CONFIG.routes, allowCidrs: [], denyCidrs: [] },
  };
  const cidrs = (text: string, what: string, into: string[]) => {
    for (const cidr of text.split(',').map((c) => c.trim()).filter(Boolean)) {
      try {
        into.push(validateCidr(cidr));
      } catch (err) {
        throw new ConfigError(`${what}: ${(err as Error).message}`);
      }
    }
  };
  if (env.OVIM_ROUTES_ALLOW_CIDRS) cidrs(env.OVIM_ROUTES_ALLOW_CIDRS, 'OVIM_ROUTES_ALLOW_CIDRS', cfg.routes.allowCidrs);
  if (env.OVIM_ROUTES_DENY_CIDRS) cidrs(env.OVIM_ROUTES_DENY_CIDRS, 'OVIM_ROUTES_DENY_CIDRS', cfg.routes.denyCidrs);
  cfg.routes.allowHttp = bool(env.OVIM_ROUTES_ALLOW_HTTP) ?? false;
  if (env.OVIM_SERVICE_ACCOUNT) {
    const [namespace = '', name = ''] = env.OVIM_SERVICE_ACCOUNT.split('/');
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || !/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(name)) {
      throw new ConfigError(`OVIM_SERVICE_ACCOUNT must be <namespace>/<name>, got '${env.OVIM_SERVICE_ACCOUNT.slice(0, 80)}'`);
    }
    cfg.routes.serviceAccount = { namespace, name };
  }
  const setWorkers = (text: string, what: string) => {
    const n = integer(what, text, 1, 64);
    cfg.workers = { organization: n, vdc: n, quota: Math.max(1, Math.ceil(n / 2)) };
  };
  if (env.OVIM_WORKERS) setWorkers(env.OVIM_WORKERS, 'OVIM_WORKERS');
  if (env.OVIM_QUOTA_THRESHOLD) cfg.quotaThresholdPercent = integer('OVIM_QUOTA_THRESHOLD', env.OVIM_QUOTA_THRESHOLD, 1, 100);
  if (env.OVIM_RESYNC_PERIOD) cfg.resyncPeriodMs = integer('OVIM_RESYNC_PERIOD', env.OVIM_RESYNC_PERIOD, 0, 86_400) * 1000;
  if (env.OVIM_WATCH_TIMEOUT) cfg.watchTimeoutSeconds = integer('OVIM_WATCH_TIMEOUT', env.OVIM_WATCH_TIMEOUT, 1, 3_600);
  cfg.installCrds = bool(env.OVIM_INSTALL_CRDS) ?? cfg.installCrds;
  cfg.installRoles = bool(env.OVIM_INSTALL_ROLES) ?? cfg.installRoles;
  const privileged = new Set<string>();
  const allowPrivileged = (text: string, what: string) => {
    for (const name of text.split(',').map((n) => n.trim()).filter(Boolean)) {
      if (name.length > 59 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
        throw new ConfigError(`${what} must name organizations (DNS labels of at most 59 characters), got '${name.slice(0, 80)}'`);
      }
      privileged.add(name);
    }
  };
  if (env.OVIM_PRIVILEGED_ORGANIZATIONS) allowPrivileged(env.OVIM_PRIVILEGED_ORGANIZATIONS, 'OVIM_PRIVILEGED_ORGANIZATIONS');
  cfg.leaderElection.enabled = bool(env.OVIM_LEADER_ELECT) ?? cfg.leaderElection.enabled;
  if (env.LOG_LEVEL) cfg.logLevel = env.LOG_LEVEL;
  if (env.KUBECONFIG) cfg.kubeconfig = env.KUBECONFIG;

  const args = [...argv];
  while (args.length) {
    const raw = args.shift() as string;
    const [flag, inline] = raw.includes('=') ? [raw.slice(0, raw.indexOf('=')), raw.slice(raw.indexOf('=') + 1)] : [raw, undefined];
    const value = () => {
      const v = inline ?? args.shift();
      if (v === undefined) throw new ConfigError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--workers':
        setWorkers(value(), '--workers');
        break;
      case '--quota-threshold':
        cfg.quotaThresholdPercent = integer('--quota-threshold', value(), 1, 100);
        break;
      case '--resync-period':
        cfg.resyncPeriodMs = integer('--resync-period', value(), 0, 86_400) * 1000;
        break;
      case '--watch-timeout':
        cfg.watchTimeoutSeconds = integer('--watch-timeout', value(), 1, 3_600);
        break;
      case '--install-crds':
        cfg.installCrds = true;
        break;
      case '--install-roles':
        cfg.installRoles = true;
        break;
      case '--no-install-roles':
        cfg.installRoles = false;
        break;
      case '--allow-privileged-organization':
        allowPrivileged(value(), '--allow-privileged-organization');
        break;
      case '--leader-elect':
        cfg.leaderElection.enabled = true;
        break;
      case '--leader-election-namespace':
        cfg.leaderElection.namespace = value();
        break;
      case '--leader-election-id':
        cfg.leaderElection.name = value();
        break;
      case '--routes-allow-cidr':
        cidrs(value(), '--routes-allow-cidr', cfg.routes.allowCidrs);
        break;
      case '--routes-deny-cidr':
        cidrs(value(), '--routes-deny-cidr', cfg.routes.denyCidrs);
        break;
      case '--routes-allow-http':
        cfg.routes.allowHttp = true;
        break;
      case '--log-level':
        cfg.logLevel = value();
        break;
      case '--kubeconfig':
        cfg.kubeconfig = value();
        break;
      default:
        throw new ConfigError(`unknown flag ${flag}`);
    }
  }
  cfg.privilegedOrganizations = [...privileged].sort();
  if (!['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'].includes(cfg.logLevel)) {
    throw new ConfigError(`log level must be one of error, warn, info, debug; got '${cfg.logLevel}'`);
  }
  return cfg;
}
