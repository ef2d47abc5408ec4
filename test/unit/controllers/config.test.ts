// The operator's configuration from flags and environment (src/config.ts): the documented
// defaults as literals, and every flag and variable of the file's header as one row of a table.
import { expect } from 'chai';
import { ConfigError, loadConfig, type OperatorConfig } from '../../../src/config.js';

/** What a row changes, read from the configuration. */
type Pick = (cfg: OperatorConfig) => unknown;

interface Row {
  /** Flags (argv) and environment of the row. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  pick: Pick;
  expected: unknown;
}

const workers: Pick = (c) => c.workers;
const threshold: Pick = (c) => c.quotaThresholdPercent;
const resync: Pick = (c) => c.resyncPeriodMs;
const watch: Pick = (c) => c.watchTimeoutSeconds;
const crds: Pick = (c) => c.installCrds;
const roles: Pick = (c) => c.installRoles;
const leaderElect: Pick = (c) => c.leaderElection.enabled;
const leaseNamespace: Pick = (c) => c.leaderElection.namespace;
const leaseName: Pick = (c) => c.leaderElection.name;
const identity: Pick = (c) => c.leaderElection.identity;
const logLevel: Pick = (c) => c.logLevel;
const kubeconfig: Pick = (c) => c.kubeconfig;
const privileged: Pick = (c) => c.privilegedOrganizations;
const api: Pick = (c) => c.api;
const webhook: Pick = (c) => c.webhook;

// One row per flag or variable; each value differs from the default, so a row that is not
// applied fails.
const table: Record<string, Row> = {
  '--workers 6': { argv: ['--workers', '6'], env: {}, pick: workers, expected: { organization: 6, vdc: 6, quota: 3 } },
  '--workers=1': { argv: ['--workers=1'], env: {}, pick: workers, expected: { organization: 1, vdc: 1, quota: 1 } },
  OVIM_WORKERS: { argv: [], env: { OVIM_WORKERS: '3' }, pick: workers, expected: { organization: 3, vdc: 3, quota: 2 } },
  '--quota-threshold': { argv: ['--quota-threshold', '50'], env: {}, pick: threshold, expected: 50 },
  OVIM_QUOTA_THRESHOLD: { argv: [], env: { OVIM_QUOTA_THRESHOLD: '50' }, pick: threshold, expected: 50 },
  '--resync-period': { argv: ['--resync-period', '30'], env: {}, pick: resync, expected: 30_000 },
  '--resync-period 0 (never)': { argv: ['--resync-period=0'], env: {}, pick: resync, expected: 0 },
  OVIM_RESYNC_PERIOD: { argv: [], env: { OVIM_RESYNC_PERIOD: '45' }, pick: resync, expected: 45_000 },
  '--watch-timeout': { argv: ['--watch-timeout', '60'], env: {}, pick: watch, expected: 60 },
  OVIM_WATCH_TIMEOUT: { argv: [], env: { OVIM_WATCH_TIMEOUT: '120' }, pick: watch, expected: 120 },
  '--install-crds': { argv: ['--install-crds'], env: {}, pick: crds, expected: true },
  'OVIM_INSTALL_CRDS=1': { argv: [], env: { OVIM_INSTALL_CRDS: '1' }, pick: crds, expected: true },
  'OVIM_INSTALL_CRDS=true': { argv: [], env: { OVIM_INSTALL_CRDS: 'true' }, pick: crds, expected: true },
  '--install-roles': { argv: ['--install-roles'], env: {}, pick: roles, expected: true },
  'OVIM_INSTALL_ROLES=1': { argv: [], env: { OVIM_INSTALL_ROLES: '1' }, pick: roles, expected: true },
  '--no-install-roles after --install-roles': { argv: ['--install-roles', '--no-install-roles', '--leader-elect'], env: {}, pick: (c) => [c.installRoles, c.leaderElection.enabled], expected: [false, true] },
  '--allow-privileged-organization': { argv: ['--allow-privileged-organization', 'lab'], env: {}, pick: privileged, expected: ['lab'] },
  OVIM_PRIVILEGED_ORGANIZATIONS: { argv: [], env: { OVIM_PRIVILEGED_ORGANIZATIONS: 'ops,lab' }, pick: privileged, expected: ['lab', 'ops'] },
  '--jwt-max-age': { argv: ['--jwt-max-age', '90m'], env: {}, pick: api, expected: { jwtMaxAgeSeconds: 5400 } },
  '--jwt-audience': { argv: ['--jwt-audience', 'ovim-api'], env: {}, pick: api, expected: { jwtAudience: 'ovim-api' } },
  '--history-path': { argv: ['--history-path', '/var/lib/ovim/history.db'], env: {}, pick: (c) => c.history.path, expected: '/var/lib/ovim/history.db' },
  OVIM_HISTORY_PATH: { argv: [], env: { OVIM_HISTORY_PATH: '/data/h.db' }, pick: (c) => c.history.path, expected: '/data/h.db' },
  '--no-history': { argv: ['--no-history'], env: {}, pick: (c) => c.history.path, expected: null },
  'OVIM_HISTORY=0': { argv: [], env: { OVIM_HISTORY: '0' }, pick: (c) => c.history.path, expected: null },
  '--archive-all-events': { argv: ['--archive-all-events'], env: {}, pick: (c) => c.history.archiveAllEvents, expected: true },
  'OVIM_ARCHIVE_ALL_EVENTS=1': { argv: [], env: { OVIM_ARCHIVE_ALL_EVENTS: '1' }, pick: (c) => c.history.archiveAllEvents, expected: true },
  '--routes-allow-cidr': { argv: ['--routes-allow-cidr', '127.0.0.1/32'], env: {}, pick: (c) => c.routes.allowCidrs, expected: ['127.0.0.1/32'] },
  OVIM_ROUTES_ALLOW_CIDRS: { argv: [], env: { OVIM_ROUTES_ALLOW_CIDRS: '10.0.0.0/8' }, pick: (c) => c.routes.allowCidrs, expected: ['10.0.0.0/8'] },
  '--routes-deny-cidr': { argv: ['--routes-deny-cidr', '100.64.0.0/10'], env: {}, pick: (c) => c.routes.denyCidrs, expected: ['100.64.0.0/10'] },
  OVIM_ROUTES_DENY_CIDRS: { argv: [], env: { OVIM_ROUTES_DENY_CIDRS: '172.20.0.0/16' }, pick: (c) => c.routes.denyCidrs, expected: ['172.20.0.0/16'] },
  '--routes-allow-http': { argv: ['--routes-allow-http'], env: {}, pick: (c) => c.routes.allowHttp, expected: true },
  'OVIM_ROUTES_ALLOW_HTTP=1': { argv: [], env: { OVIM_ROUTES_ALLOW_HTTP: '1' }, pick: (c) => c.routes.allowHttp, expected: true },
  OVIM_SERVICE_ACCOUNT: { argv: [], env: { OVIM_SERVICE_ACCOUNT: 'ops/ovim' }, pick: (c) => c.routes.serviceAccount, expected: { namespace: 'ops', name: 'ovim' } },
  '--database-url': { argv: ['--database-url', 'postgres://ovim@db:5432/ovim'], env: {}, pick: (c) => c.history.databaseUrl, expected: 'postgres://ovim@db:5432/ovim' },
  OVIM_DATABASE_URL: { argv: [], env: { OVIM_DATABASE_URL: 'postgres://ovim@db2:5432/ovim' }, pick: (c) => c.history.databaseUrl, expected: 'postgres://ovim@db2:5432/ovim' },
  '--slow-reconcile-threshold': { argv: ['--slow-reconcile-threshold', '500ms'], env: {}, pick: (c) => c.slowReconcileThresholdMs, expected: 500 },
  OVIM_SLOW_RECONCILE_THRESHOLD: { argv: [], env: { OVIM_SLOW_RECONCILE_THRESHOLD: '30s' }, pick: (c) => c.slowReconcileThresholdMs, expected: 30_000 },
  '--slow-api-request-threshold': { argv: ['--slow-api-request-threshold=2s'], env: {}, pick: (c) => c.slowApiRequestThresholdMs, expected: 2_000 },
  OVIM_SLOW_API_REQUEST_THRESHOLD: { argv: [], env: { OVIM_SLOW_API_REQUEST_THRESHOLD: '250ms' }, pick: (c) => c.slowApiRequestThresholdMs, expected: 250 },
  '--trusted-proxies': { argv: ['--trusted-proxies', '10.0.0.1, 10.1.0.0/16'], env: {}, pick: api, expected: { trustedProxies: ['10.0.0.1', '10.1.0.0/16'] } },
  '--api-max-connections': { argv: ['--api-max-connections', '64'], env: {}, pick: api, expected: { maxConnections: 64 } },
  '--api-bind-address': { argv: ['--api-bind-address', '127.0.0.1:9080'], env: {}, pick: api, expected: { address: '127.0.0.1:9080' } },
  '--api-bind-address=0 (off)': { argv: ['--api-bind-address=0'], env: {}, pick: api, expected: { address: '0' } },
  '--health-probe-bind-address': { argv: ['--health-probe-bind-address', ':9081'], env: {}, pick: api, expected: { healthProbeAddress: ':9081' } },
  '--metrics-bind-address': { argv: ['--metrics-bind-address', '[::1]:9082'], env: {}, pick: api, expected: { metricsAddress: '[::1]:9082' } },
  '--metrics-bind-address=0 (off)': { argv: ['--metrics-bind-address=0'], env: {}, pick: api, expected: { metricsAddress: '0' } },
  '--webhook-port': { argv: ['--webhook-port', '9443'], env: {}, pick: (c) => c.webhook.port, expected: 9443 },
  OVIM_WEBHOOK_PORT: { argv: [], env: { OVIM_WEBHOOK_PORT: '9444' }, pick: (c) => c.webhook.port, expected: 9444 },
  '--webhook-host': { argv: ['--webhook-host', '127.0.0.1'], env: {}, pick: (c) => c.webhook.host, expected: '127.0.0.1' },
  OVIM_WEBHOOK_HOST: { argv: [], env: { OVIM_WEBHOOK_HOST: '::1' }, pick: (c) => c.webhook.host, expected: '::1' },
  '--webhook-url': { argv: ['--webhook-url', 'https://127.0.0.1:9443'], env: {}, pick: (c) => c.webhook.url, expected: 'https://127.0.0.1:9443' },
  OVIM_WEBHOOK_URL: { argv: [], env: { OVIM_WEBHOOK_URL: 'https://10.0.0.1:443' }, pick: (c) => c.webhook.url, expected: 'https://10.0.0.1:443' },
  '--trusted-requesters': { argv: ['--trusted-requesters', 'a, b'], env: {}, pick: (c) => c.webhook.trustedRequesters, expected: ['a', 'b'] },
  OVIM_TRUSTED_REQUESTERS: { argv: [], env: { OVIM_TRUSTED_REQUESTERS: 'system:serviceaccount:ovim:backend' }, pick: webhook, expected: { port: 0, host: '0.0.0.0', service: 'ovim-operator-webhook', trustedRequesters: ['system:serviceaccount:ovim:backend'], secretName: 'ovim-operator-webhook-tls' } },
  '--leader-elect': { argv: ['--leader-elect'], env: {}, pick: leaderElect, expected: true },
  'OVIM_LEADER_ELECT=1': { argv: [], env: { OVIM_LEADER_ELECT: '1' }, pick: leaderElect, expected: true },
  'OVIM_LEADER_ELECT=yes': { argv: [], env: { OVIM_LEADER_ELECT: 'yes' }, pick: leaderElect, expected: true },
  '--leader-election-namespace': { argv: ['--leader-election-namespace', 'ops'], env: {}, pick: leaseNamespace, expected: 'ops' },
  POD_NAMESPACE: { argv: [], env: { POD_NAMESPACE: 'ovim-system' }, pick: leaseNamespace, expected: 'ovim-system' },
  '--leader-election-id': { argv: ['--leader-election-id=lease-x'], env: {}, pick: leaseName, expected: 'lease-x' },
  POD_NAME: { argv: [], env: { POD_NAME: 'ovim-0' }, pick: identity, expected: 'ovim-0' },
  '--log-level': { argv: ['--log-level', 'debug'], env: {}, pick: logLevel, expected: 'debug' },
  LOG_LEVEL: { argv: [], env: { LOG_LEVEL: 'warn' }, pick: logLevel, expected: 'warn' },
  '--kubeconfig': { argv: ['--kubeconfig', '/tmp/kc'], env: {}, pick: kubeconfig, expected: '/tmp/kc' },
  KUBECONFIG: { argv: [], env: { KUBECONFIG: '/etc/kc' }, pick: kubeconfig, expected: '/etc/kc' },
};

describe('operator configuration', () => {
  it('the documented defaults without flags or environment', () => {
    const cfg = loadConfig([], {});
    expect(cfg).to.deep.include({
      workers: { organization: 4, vdc: 4, quota: 2 },
      quotaThresholdPercent: 90,
      resyncPeriodMs: 600_000,
      watchTimeoutSeconds: 300,
      installCrds: false,
      // In a cluster the tenant ClusterRoles come with the manifests (the operator may not write them).
      installRoles: false,
      privilegedOrganizations: [],
      logLevel: 'info',
    });
    expect(cfg.webhook).to.deep.equal({ port: 0, host: '0.0.0.0', service: 'ovim-operator-webhook', trustedRequesters: [], secretName: 'ovim-operator-webhook-tls' });
    expect(cfg.api).to.equal(undefined);
    expect(cfg.history).to.deep.equal({ path: 'ovim-history.db', archiveAllEvents: false });
    expect(cfg.kubeconfig).to.equal(undefined);
    expect(cfg.leaderElection).to.deep.include({
      enabled: false,
      name: 'ovim-operator',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
    // Outside a pod the Lease lives in default and the identity is host name and pid.
    expect(cfg.leaderElection.namespace).to.equal('default');
    expect(cfg.leaderElection.identity).to.match(new RegExp(`_${process.pid}$`));
  });

  for (const [name, row] of Object.entries(table)) {
    it(`applies ${name}`, () => {
      const defaults = loadConfig([], {});
      const cfg = loadConfig(row.argv, row.env);
      expect(row.pick(cfg)).to.deep.equal(row.expected);
      expect(row.pick(defaults), 'the row must change something').to.not.deep.equal(row.expected);
    });
  }

  it('the table has a row for every flag and variable that src/config.ts names', async () => {
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL('../../../src/config.ts', import.meta.url), 'utf8');
    const flags = new Set(source.match(/'--[a-z-]+'/g)?.map((f) => f.slice(1, -1)));
    const vars = new Set(source.match(/env\.[A-Z_]+/g)?.map((v) => v.slice(4)));
    expect(flags.size).to.be.greaterThan(10);
    expect(vars.size).to.be.greaterThan(8);
    const covered = Object.values(table).flatMap((r) => [...r.argv.map((a) => a.split('=')[0] ?? a), ...Object.keys(r.env)]);
    for (const flag of flags) expect(covered, flag).to.include(flag);
    for (const v of vars) expect(covered, v).to.include(v);
  });

  it('environment, then flags on top', () => {
    const env = { OVIM_WORKERS: '2', OVIM_QUOTA_THRESHOLD: '80', OVIM_LEADER_ELECT: '1', POD_NAMESPACE: 'ovim-system', POD_NAME: 'pod-1' };
    const cfg = loadConfig(['--quota-threshold=75', '--resync-period', '0', '--leader-election-id', 'lease-x'], env);
    expect(cfg.workers).to.deep.equal({ organization: 2, vdc: 2, quota: 1 });
    expect(cfg.quotaThresholdPercent).to.equal(75);
    expect(cfg.resyncPeriodMs).to.equal(0);
    expect(cfg.leaderElection).to.include({ enabled: true, namespace: 'ovim-system', name: 'lease-x', identity: 'pod-1' });
    expect(loadConfig(['--workers', '8'], { OVIM_WORKERS: '2' }).workers.vdc).to.equal(8);
    expect(loadConfig(['--log-level', 'error'], { LOG_LEVEL: 'debug' }).logLevel).to.equal('error');
  });

  it('tenant roles and privileged organizations only when asked for', () => {
    expect(loadConfig(['--install-roles'], {}).installRoles).to.equal(true);
    expect(loadConfig(['--no-install-roles'], { OVIM_INSTALL_ROLES: '1' }).installRoles).to.equal(false);
    const cfg = loadConfig(['--allow-privileged-organization', 'lab', '--allow-privileged-organization=ci'], { OVIM_PRIVILEGED_ORGANIZATIONS: 'ops, lab' });
    expect(cfg.privilegedOrganizations).to.deep.equal(['ci', 'lab', 'ops']);
    expect(() => loadConfig(['--allow-privileged-organization', 'Not_A_Name'], {})).to.throw(ConfigError, /must name organizations/);
  });

  it('rejects what it cannot use, saying why', () => {
    expect(() => loadConfig(['--workers', 'many'], {})).to.throw(ConfigError, /--workers must be a whole number/);
    expect(() => loadConfig(['--workers', '0'], {})).to.throw(ConfigError, /between 1 and 64/);
    expect(() => loadConfig(['--quota-threshold', '150'], {})).to.throw(ConfigError, /between 1 and 100/);
    expect(() => loadConfig([], { OVIM_QUOTA_THRESHOLD: '0' })).to.throw(ConfigError, /OVIM_QUOTA_THRESHOLD must be between 1 and 100/);
    expect(() => loadConfig([], { OVIM_RESYNC_PERIOD: '-5' })).to.throw(ConfigError, /OVIM_RESYNC_PERIOD must be a whole number/);
    expect(() => loadConfig(['--watch-timeout', '0'], {})).to.throw(ConfigError, /between 1 and 3600/);
    expect(() => loadConfig(['--bogus'], {})).to.throw(ConfigError, /unknown flag --bogus/);
    expect(() => loadConfig(['--workers'], {})).to.throw(ConfigError, /needs a value/);
    expect(() => loadConfig([], { LOG_LEVEL: 'loud' })).to.throw(ConfigError, /log level/);
    expect(() => loadConfig(['--api-bind-address', '8080'], {})).to.throw(/--api-bind-address: invalid listen address/);
    expect(() => loadConfig(['--health-probe-bind-address=0'], {})).to.throw(/cannot be turned off/);
    expect(() => loadConfig(['--metrics-bind-address', 'host:99999'], {})).to.throw(/--metrics-bind-address: invalid listen address/);
  });
});
