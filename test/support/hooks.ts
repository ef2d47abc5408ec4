// Mocha root hooks: one control plane per test run, started by the first suite that asks
// for it (unit-only runs start none) and stopped after the last test, pass or fail.
import { installClusterManifests } from '../../src/kube/policies.js';
import { ControlPlane } from './controlplane.js';
import { stopTestPostgres } from './postgres.js';

let started: Promise<ControlPlane> | undefined;

/** The run's shared control plane; starts it on first use. */
export function controlPlane(): Promise<ControlPlane> {
  // The tenant ClusterRoles and admission policies are part of every cluster the tests use.
  started ??= ControlPlane.start().then(async (cp) => {
    try {
      await installClusterManifests(cp.kubeConfig);
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  });
  return started;
}

async function stopControlPlane(): Promise<void> {
  const pending = started;
  started = undefined;
  if (pending) await (await pending.catch(() => undefined))?.stop();
}

// An interrupted run (Ctrl-C, SIGTERM from CI) still stops what it started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all([stopControlPlane(), stopTestPostgres()]).finally(() => process.exit(130));
  });
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await Promise.all([stopControlPlane(), stopTestPostgres()]);
  },
};
