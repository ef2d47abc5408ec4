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
//   --slow-reconcile-threshold D     a reconcile slower than D records SlowReconcile (500ms, 10s,
//                            2m; 0 = off; OVIM_SLOW_RECONCILE_THRESHOLD, default 10s)
//   --slow-api-request-threshold D   Kubernetes API requests slower than D are counted and logged
//                            (OVIM_SLOW_API_REQUEST_THRESHOLD, default 1s)
//   --kubeconfig PATH        (KUBECONFIG; else ~/.kube/config or in-cluster)
//   --jwt-max-age D          refuse API tokens issued longer ago than D (3600, 90m, 24h; OVIM_JWT_MAX_AGE, default 24h)
//   --jwt-audience A         API tokens must carry audience A (OVIM_JWT_AUDIENCE)
//   --trusted-proxies LIST   proxies (IPs/CIDRs) whose X-Forwarded-For names the client (OVIM_TRUSTED_PROXIES)
//   --api-max-connections N  open API connections at most (OVIM_API_MAX_CONNECTIONS, default 1024)
//   --api-bind-address A     the events API and panel (OVIM_API_ADDRESS, default :8080; 0 = off,
//                            and then no JWT key is needed)
//   --health-probe-bind-address A   /healthz, /readyz, /health (OVIM_HEALTH_PROBE_ADDRESS, default :8081)
//   --metrics-bind-address A /metrics (OVIM_METRICS_ADDRESS, default :8082; 0 = off)
//   --webhook-port N         serve the admission webhook on N, 0 = off (OVIM_WEBHOOK_PORT, default 0)
//   --webhook-host H         its bind address (OVIM_WEBHOOK_HOST, default 0.0.0.0)
//   --webhook-url URL        the API server calls this base URL (e.g. https://127.0.0.1:9443) instead
//                            of the Service ovim-operator-webhook (OVIM_WEBHOOK_URL)
//   --trusted-requesters A,B usernames whose stated requested-by is kept (OVIM_TRUSTED_REQUESTERS)
//   --history-path PATH      the embedded archive's SQLite file (OVIM_HISTORY_PATH, default ovim-history.db)
//   --no-history             no archive: the API answers from memory only (OVIM_HISTORY=0)
//   --archive-all-events     archive every Event, not only OVIM's (OVIM_ARCHIVE_ALL_EVENTS=1)
//   --database-url URL       the archive on PostgreSQL instead of the file (OVIM_DATABASE_URL),
//                            postgres://user:password@host:port/database[?sslmode=verify-full&sslrootcert=…]
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { checkBindAddress, parseDurationSeconds, parseMaxConnections, parseTrustedProxies, type ApiFlags } from './http/config.js';
import { validateCidr } from './routes/ssrf.js';
import { parseDurationMs } from './observability/slow-reconcile.js';

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

/** The admission webhook (DESIGN.md section 8, src/admission). */
export interface WebhookConfig {
  /** 0: no webhook. */
  port: number;
  host: string;
  /** Base URL the API server calls; else the Service `service` in the operator's namespace. */
  url?: string;
  service: string;
  /** Usernames (e.g. the backend's ServiceAccount) whose stated actor is kept. */
  trustedRequesters: string[];
  /** Secret of the serving certificate; the actor-proof key is in `<secretName>-actor-key`. */
  secretName: string;
}

export interface OperatorConfig {
  workers: { organization: number; vdc: number; quota: number };
  leaderElection: LeaderElectionConfig;
  quotaThresholdPercent: number;
  resyncPeriodMs: number;
  /** How long a reconcile must keep failing before ReconcileFailed is recorded (not a flag; tests shorten it). */
  reconcileFailedAfterMs?: number;
  /** A reconcile slower than this records SlowReconcile (--slow-reconcile-threshold, default 10 s; 0 = off). */
  slowReconcileThresholdMs?: number;
  /** Kubernetes API requests slower than this are counted and logged (--slow-api-request-threshold, default 1 s). */
  slowApiRequestThresholdMs?: number;
  watchTimeoutSeconds: number;
  installCrds: boolean;
  installRoles: boolean;
  /** Organizations whose VDCs may set podSecurity: privileged. */
  privilegedOrganizations: string[];
  logLevel: string;
  kubeconfig?: string;
  /** API settings given as flags (the environment's are read by loadApiConfig). */
  api?: ApiFlags;
  webhook: WebhookConfig;
  /** The durable archive (DESIGN.md section 7); `path` null turns it off. */
  history: { path: string | null; archiveAllEvents: boolean; databaseUrl?: string };
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
  webhook: { port: 0, host: '0.0.0.0', service: 'ovim-operator-webhook', trustedRequesters: [], secretName: 'ovim-operator-webhook-tls' },
  history: { path: 'ovim-history.db', archiveAllEvents: false },
  routes: { allowCidrs: [], denyCidrs: [], allowHttp: false, serviceAccount: { namespace: 'ovim-system', name: 'ovim-operator' } },
};

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function integer(what: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${what} must be a whole number, got '${text}'`);
  const n = Number.parseInt(text, 10);
  if (n < min || n > max) throw new ConfigError(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function duration(what: string, text: string): number {
  try {
    return parseDurationMs(what, text);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
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
    webhook: { ...DEFAULT_CONFIG.webhook },
    history: { ...DEFAULT_CONFIG.history },
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
  if (env.OVIM_WEBHOOK_PORT) cfg.webhook.port = integer('OVIM_WEBHOOK_PORT', env.OVIM_WEBHOOK_PORT, 0, 65_535);
  if (env.OVIM_WEBHOOK_HOST) cfg.webhook.host = env.OVIM_WEBHOOK_HOST;
  if (env.OVIM_WEBHOOK_URL) cfg.webhook.url = env.OVIM_WEBHOOK_URL;
  if (env.OVIM_TRUSTED_REQUESTERS) cfg.webhook.trustedRequesters = list(env.OVIM_TRUSTED_REQUESTERS);
  if (env.OVIM_HISTORY_PATH) cfg.history.path = env.OVIM_HISTORY_PATH;
  if (bool(env.OVIM_HISTORY) === false) cfg.history.path = null;
  cfg.history.archiveAllEvents = bool(env.OVIM_ARCHIVE_ALL_EVENTS) ?? cfg.history.archiveAllEvents;
  if (env.OVIM_DATABASE_URL) cfg.history.databaseUrl = env.OVIM_DATABASE_URL;
  if (env.OVIM_SLOW_RECONCILE_THRESHOLD) cfg.slowReconcileThresholdMs = duration('OVIM_SLOW_RECONCILE_THRESHOLD', env.OVIM_SLOW_RECONCILE_THRESHOLD);
  if (env.OVIM_SLOW_API_REQUEST_THRESHOLD) cfg.slowApiRequestThresholdMs = duration('OVIM_SLOW_API_REQUEST_THRESHOLD', env.OVIM_SLOW_API_REQUEST_THRESHOLD);

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
      case '--slow-reconcile-threshold':
        cfg.slowReconcileThresholdMs = duration('--slow-reconcile-threshold', value());
        break;
      case '--slow-api-request-threshold':
        cfg.slowApiRequestThresholdMs = duration('--slow-api-request-threshold', value());
        break;
      case '--log-level':
        cfg.logLevel = value();
        break;
      case '--kubeconfig':
        cfg.kubeconfig = value();
        break;
      case '--jwt-max-age':
        cfg.api = { ...cfg.api, jwtMaxAgeSeconds: parseDurationSeconds('--jwt-max-age', value()) };
        break;
      case '--jwt-audience':
        cfg.api = { ...cfg.api, jwtAudience: value() };
        break;
      case '--trusted-proxies':
        cfg.api = { ...cfg.api, trustedProxies: parseTrustedProxies('--trusted-proxies', value()) };
        break;
      case '--api-max-connections':
        cfg.api = { ...cfg.api, maxConnections: parseMaxConnections('--api-max-connections', value()) };
        break;
      case '--api-bind-address':
        cfg.api = { ...cfg.api, address: checkBindAddress('--api-bind-address', value(), true) };
        break;
      case '--health-probe-bind-address':
        cfg.api = { ...cfg.api, healthProbeAddress: checkBindAddress('--health-probe-bind-address', value(), false) };
        break;
      case '--metrics-bind-address':
        cfg.api = { ...cfg.api, metricsAddress: checkBindAddress('--metrics-bind-address', value(), true) };
        break;
      case '--webhook-port':
        cfg.webhook.port = integer('--webhook-port', value(), 0, 65_535);
        break;
      case '--webhook-host':
        cfg.webhook.host = value();
        break;
      case '--webhook-url':
        cfg.webhook.url = value();
        break;
      case '--trusted-requesters':
        cfg.webhook.trustedRequesters = list(value());
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
  cfg.privilegedOrganizations = [...privileged].sort();
  if (cfg.webhook.url !== undefined && !/^https:\/\/[^/\s]+$/.test(cfg.webhook.url)) {
    throw new ConfigError(`--webhook-url must be https://host:port without a path, got '${cfg.webhook.url}'`);
  }
  if (!['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'].includes(cfg.logLevel)) {
    throw new ConfigError(`log level must be one of error, warn, info, debug; got '${cfg.logLevel}'`);
  }
  return cfg;
}
