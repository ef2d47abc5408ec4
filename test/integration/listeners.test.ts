// The listeners' flags on the program as a process: --api-bind-address=0 runs without any JWT
// key (no API, no panel), --metrics-bind-address=0 serves no /metrics, and the probes answer on
// their own port while the operator reconciles.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { installCrds } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import type { Organization } from '../../src/resources/types.js';
import type { ControlPlane } from '../support/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { httpGet, listenerEnv, spawnProgram, type Program } from '../support/program.js';
import { waitFor } from '../support/wait.js';

describe('listener flags (the program as a process)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let dir: string;
  let program: Program | undefined;

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
    dir = mkdtempSync(join(tmpdir(), 'ovim-listeners-'));
  });

  after(async function () {
    this.timeout(60_000);
    program?.kill();
    api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--api-bind-address=0 and --metrics-bind-address=0: no JWT key needed, only the probes listen, it reconciles', async () => {
    const urls = await listenerEnv();
    const probes = urls.env.OVIM_HEALTH_PROBE_ADDRESS as string;
    program = spawnProgram(
      'src/main.ts',
      ['--kubeconfig', cp.kubeconfigPath, '--no-history', '--workers', '1', '--resync-period=0',
        '--api-bind-address=0', '--metrics-bind-address=0', `--health-probe-bind-address=${probes}`],
      // No key anywhere; the variables would otherwise point at the free ports.
      { OVIM_JWT_SECRET: '', OVIM_JWT_SECRET_FILE: '', OVIM_JWT_PUBLIC_KEY_FILE: '', ...urls.env, LOG_LEVEL: 'info' },
      { logFile: join(dir, 'program.log') },
    );
    const p = program;
    await waitFor('/readyz 200 on the probe port', async () => {
      if (p.child.exitCode !== null) throw new Error(`the program exited: ${p.log()}`);
      return (await httpGet(`${urls.probes}/readyz`))?.status === 200;
    }, { timeoutMs: 120_000 });
    expect(JSON.parse((await httpGet(`${urls.probes}/health`))?.text ?? '{}')).to.have.nested.property('checks.informers.status');
    // Flags win over OVIM_API_ADDRESS and OVIM_METRICS_ADDRESS: nothing listens there.
    expect(await httpGet(`${urls.api}/healthz`), 'no API listener').to.equal(undefined);
    expect(await httpGet(`${urls.metrics}/metrics`), 'no metrics listener').to.equal(undefined);
    expect((await httpGet(`${urls.probes}/metrics`))?.status, 'no /metrics on the probe port').to.equal(404);
    const name = `listeners-${randomBytes(2).toString('hex')}`;
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name, annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { displayName: 'Listeners', admins: [`${name}-admins`] },
    });
    await waitFor('the organization Active', async () => (await api.get<Organization>(`/apis/ovim.io/v1/organizations/${name}`)).status?.phase === 'Active', { timeoutMs: 90_000 });
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited, p.log()).to.equal(0);
  });
});
