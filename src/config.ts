// Flags and environment → a validated operator configuration. Flags win over the environment.
//
//   --workers N              reconcile workers per controller (OVIM_WORKERS, default 4)
//   --quota-threshold P      QuotaThresholdReached at P percent, 1..100 (OVIM_QUOTA_THRESHOLD, default 90)
//   --resync-period S        full resync every S seconds, 0 = never (OVIM_RESYNC_PERIOD, default 600)
//   --watch-timeout S        server-side watch timeout (OVIM_WATCH_TIMEOUT, default 300)
//   --install-crds           install/update the CRDs at start-up (OVIM_INSTALL_CRDS=1)
//   --no-install-roles       do not apply config/rbac/tenant_roles.yaml at start-up (OVIM_INSTALL_ROLES=0)
//   --leader-elect           run the reconcilers only on the holder of a Lease (OVIM_LEADER_ELECT=1)
//   --leader-election-namespace NS   the Lease's namespace (POD_NAMESPACE, else the service
//                            account's namespace in a pod, else default)
//   --leader-election-id NAME        the Lease's name (default ovim-operator)
//   --log-level L            error|warn|info|debug (LOG_LEVEL, default info)
//   --kubeconfig PATH        (KUBECONFIG; else ~/.kube/config or in-cluster)
//   --history-path PATH      the embedded archive's SQLite file (OVIM_HISTORY_PATH, default ovim-history.db)
//   --no-history             no archive: the API answers from memory only (OVIM_HISTORY=0)
//   --archive-all-events     archive every Event, not only OVIM's (OVIM_ARCHIVE_ALL_EVENTS=1)
//   --database-url URL       the archive on PostgreSQL instead of the file (OVIM_DATABASE_URL),
//                            postgres://user:password@host:port/database[?sslmode=verify-full&sslrootcert=…]
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

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
  logLevel: string;
  kubeconfig?: string;
  /** The durable archive (DESIGN.md section 7); `path` null turns it off. */
  history: { path: string | null; archiveAllEvents: boolean; databaseUrl?: string };
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
  installRoles: true,
  logLevel: 'info',
  history: { path: 'ovim-history.db', archiveAllEvents: false },
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
    history: { ...DEFAULT_CONFIG.history },
    leaderElection: {
      ...DEFAULT_CONFIG.leaderElection,
      namespace: env.POD_NAMESPACE || defaultNamespace(),
      identity: env.POD_NAME || DEFAULT_CONFIG.leaderElection.identity,
    },
  };
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
  cfg.leaderElection.enabled = bool(env.OVIM_LEADER_ELECT) ?? cfg.leaderElection.enabled;
  if (env.LOG_LEVEL) cfg.logLevel = env.LOG_LEVEL;
  if (env.KUBECONFIG) cfg.kubeconfig = env.KUBECONFIG;
  if (env.OVIM_HISTORY_PATH) cfg.history.path = env.OVIM_HISTORY_PATH;
  if (bool(env.OVIM_HISTORY) === false) cfg.history.path = null;
  cfg.history.archiveAllEvents = bool(env.OVIM_ARCHIVE_ALL_EVENTS) ?? cfg.history.archiveAllEvents;
  if (env.OVIM_DATABASE_URL) cfg.history.databaseUrl = env.OVIM_DATABASE_URL;

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
      case '--no-install-roles':
        cfg.installRoles = false;
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
      case '--log-level':
        cfg.logLevel = value();
        break;
      case '--kubeconfig':
        cfg.kubeconfig = value();
        break;
      case '--history-path':
        cfg.history.path = value();
        if (cfg.history.path === '') throw new ConfigError('--history-path needs a file path (use --no-history to turn the archive off)');
        break;
      case '--no-history':
        cfg.history.path = null;
        break;
      case '--archive-all-events':
        cfg.history.archiveAllEvents = true;
        break;
      case '--database-url':
        // Never echoed in errors: it may hold a password.
        cfg.history.databaseUrl = value();
        if (cfg.history.databaseUrl === '') throw new ConfigError('--database-url needs a postgres:// URL');
        break;
      default:
        throw new ConfigError(`unknown flag ${flag}`);
    }
  }
  if (!['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'].includes(cfg.logLevel)) {
    throw new ConfigError(`log level must be one of error, warn, info, debug; got '${cfg.logLevel}'`);
  }
  return cfg;
}
