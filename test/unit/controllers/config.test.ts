// The operator's configuration from flags and environment (src/config.ts).
import { expect } from 'chai';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../../../src/config.js';

describe('operator configuration', () => {
  it('defaults without flags or environment', () => {
    const cfg = loadConfig([], {});
    expect(cfg.workers).to.deep.equal(DEFAULT_CONFIG.workers);
    expect(cfg.quotaThresholdPercent).to.equal(90);
    expect(cfg.leaderElection.enabled).to.equal(false);
    // In a cluster the tenant ClusterRoles come with the manifests (the operator may not write them).
    expect(cfg.installRoles).to.equal(false);
    expect(cfg.privilegedOrganizations).to.deep.equal([]);
  });

  it('environment, then flags on top', () => {
    const env = { OVIM_WORKERS: '2', OVIM_QUOTA_THRESHOLD: '80', OVIM_LEADER_ELECT: '1', POD_NAMESPACE: 'ovim-system', POD_NAME: 'pod-1' };
    const cfg = loadConfig(['--quota-threshold=75', '--resync-period', '0', '--leader-election-id', 'lease-x'], env);
    expect(cfg.workers).to.deep.equal({ organization: 2, vdc: 2, quota: 1 });
    expect(cfg.quotaThresholdPercent).to.equal(75);
    expect(cfg.resyncPeriodMs).to.equal(0);
    expect(cfg.leaderElection).to.include({ enabled: true, namespace: 'ovim-system', name: 'lease-x', identity: 'pod-1' });
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
    expect(() => loadConfig(['--quota-threshold', '150'], {})).to.throw(ConfigError, /between 1 and 100/);
    expect(() => loadConfig(['--bogus'], {})).to.throw(ConfigError, /unknown flag --bogus/);
    expect(() => loadConfig(['--workers'], {})).to.throw(ConfigError, /needs a value/);
    expect(() => loadConfig([], { LOG_LEVEL: 'loud' })).to.throw(ConfigError, /log level/);
  });
});
