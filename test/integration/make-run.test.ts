// `make run`'s sandbox path as a process: hack/run.ts with OVIM_SANDBOX=1 starts its own control
// plane (state in <cwd>/.ovim-sandbox, here a temporary folder), the operator and the API on the
// given address; an Organization created with the sandbox's kubeconfig is reconciled and its
// event is served by the API. SIGTERM stops everything it started: exit 0, no etcd,
// kube-apiserver or kube-controller-manager of the sandbox left, the pid file removed.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/rest.js';
import type { Organization } from '../../src/resources/types.js';
import { httpGet, listenerEnv, processesMentioning, processGroupMembers, spawnProgram, type Program } from '../support/program.js';
import { waitFor } from '../support/wait.js';

describe('make run (hack/run.ts) in sandbox mode, as a process', function () {
  this.timeout(300_000);
  let dir: string;
  let sandbox: string;
  let program: Program | undefined;
  let api: KubeClient | undefined;
  let base: string;
  let urls: Awaited<ReturnType<typeof listenerEnv>>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ovim-make-run-'));
    sandbox = join(dir, '.ovim-sandbox');
    urls = await listenerEnv();
    base = urls.api;
    const env: NodeJS.ProcessEnv = { OVIM_SANDBOX: '1', ...urls.env, LOG_LEVEL: 'warn' };
    // The sandbox's own JWT secret file is used only without these.
    for (const name of ['OVIM_JWT_SECRET', 'OVIM_JWT_SECRET_FILE', 'OVIM_JWT_PUBLIC_KEY_FILE', 'KUBECONFIG']) env[name] = '';
    program = spawnProgram('hack/run.ts', ['--workers', '1'], env, { cwd: dir, logFile: join(dir, 'run.log') });
  });

  after(async function () {
    this.timeout(60_000);
    api?.close();
    if (program && processGroupMembers(program.pid).length > 0) {
      process.kill(program.pid, 'SIGTERM');
      await Promise.race([program.exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
      program.kill();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const log = () => program?.log() ?? '';

  it('starts the sandbox, the operator and the API; the sandbox kubeconfig reaches a cluster the operator reconciles', async () => {
    const apiUrl = await waitFor('.ovim-sandbox/api-url', async () => (existsSync(join(sandbox, 'api-url')) ? readFileSync(join(sandbox, 'api-url'), 'utf8').trim() : undefined), {
      timeoutMs: 240_000,
      intervalMs: 500,
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${log()}`);
    });
    expect(apiUrl).to.equal(base);
    expect(readFileSync(join(sandbox, 'sandbox.pid'), 'utf8').trim()).to.equal(String(program?.pid));
    expect((await httpGet(`${base}/readyz`))?.status).to.equal(200);
    // It prints the three listeners; probes and metrics answer on theirs.
    expect(log()).to.contain(`Health probes:        ${urls.probes}/readyz`).and.contain(`Metrics:              ${urls.metrics}/metrics`);
    expect((await httpGet(`${urls.probes}/readyz`))?.status).to.equal(200);
    expect((await httpGet(`${urls.metrics}/metrics`))?.text).to.contain('controller_runtime_reconcile_total');
    const token = readFileSync(join(sandbox, 'token'), 'utf8').trim();
    expect((await httpGet(`${base}/api/v1/events/recent`))?.status, 'no token').to.equal(401);

    const kc = new KubeConfig();
    kc.loadFromFile(join(sandbox, 'kubeconfig'));
    api = await KubeClient.create(kc);
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name: 'sandbox-acme', annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { displayName: 'Acme', admins: ['acme-admins'] },
    });
    const client = api;
    await waitFor('the organization Active', async () => (await client.get<Organization>('/apis/ovim.io/v1/organizations/sandbox-acme')).status?.phase === 'Active', { timeoutMs: 90_000 });
    // The event reaches the program's own API (its store follows the sandbox's events).
    await waitFor('OrganizationCreated on /api/v1/events', async () => {
      const res = await httpGet(`${base}/api/v1/events?reason=OrganizationCreated&name=sandbox-acme`, token);
      return res?.status === 200 && (JSON.parse(res.text) as { total_count: number }).total_count === 1;
    });
  });

  it('SIGTERM stops everything it started: exit 0, no sandbox process left, the pid file removed', async () => {
    const p = program as Program;
    api?.close();
    api = undefined;
    expect(processesMentioning(sandbox).length, 'the sandbox control plane runs').to.be.greaterThan(0);
    process.kill(p.pid, 'SIGTERM');
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running after 90 s'), 90_000).unref())]);
    expect(code, log()).to.equal(0);
    expect(processGroupMembers(p.pid), 'no process of the program left').to.deep.equal([]);
    expect(processesMentioning(sandbox), 'no etcd, kube-apiserver or kube-controller-manager of the sandbox left').to.deep.equal([]);
    expect(existsSync(join(sandbox, 'sandbox.pid'))).to.equal(false);
    expect(await httpGet(`${base}/healthz`), 'nothing listens any more').to.equal(undefined);
  });
});
