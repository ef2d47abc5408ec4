// The program as a process: `node --import tsx src/main.ts` configured by flags and environment,
// against the real control plane (reached through a TCP gate, so that the API server can be
// unreachable for this process only). Readiness follows the informers (503, then 200), /metrics
// carries real reconcile and event counts, OVIM_QUOTA_THRESHOLD=50 is applied, and SIGTERM with
// queued work exits 0 after the events are written, leaving no process behind.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { installCrds } from '../../src/kube/crds.js';
import { apiStatusCode } from '../../src/kube/errors.js';
import { KubeClient } from '../../src/kube/rest.js';
import type { Organization } from '../../src/resources/types.js';
import type { ControlPlane } from '../support/controlplane.js';
import { ApiGate } from '../support/gate.js';
import { controlPlane } from '../support/hooks.js';
import { httpGet, listenerEnv, processGroupMembers, sample, spawnProgram, type Program } from '../support/program.js';
import { waitFor } from '../support/wait.js';

const sfx = randomBytes(2).toString('hex');

interface CoreEvent {
  reason: string;
  message: string;
  count?: number;
}

describe('the program (src/main.ts) as a process', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let api: KubeClient;
  let gate: ApiGate;
  let dir: string;
  let program: Program | undefined;
  let base: string;
  let urls: Awaited<ReturnType<typeof listenerEnv>>;

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
    dir = mkdtempSync(join(tmpdir(), 'ovim-program-'));
    // Held: the program starts its API but cannot reach Kubernetes yet.
    gate = await ApiGate.start(cp.apiServerUrl, 'hold');
    writeFileSync(join(dir, 'kubeconfig'), gate.kubeconfigYaml(cp.kubeconfigPath), { mode: 0o600 });
    urls = await listenerEnv();
    base = urls.api;
    program = spawnProgram(
      'src/main.ts',
      ['--kubeconfig', join(dir, 'kubeconfig'), '--workers', '1', '--resync-period=0', '--log-level', 'info', '--history-path', join(dir, 'history.db')],
      {
        OVIM_QUOTA_THRESHOLD: '50',
        ...urls.env,
        OVIM_JWT_SECRET: `program-test-${sfx}-secret-of-32-bytes-or-more`,
        KUBECONFIG: '/nonexistent/flags-win-over-the-environment',
        LOG_LEVEL: 'error',
      },
      { logFile: join(dir, 'program.log') },
    );
  });

  after(async function () {
    this.timeout(60_000);
    program?.kill();
    await gate?.close();
    api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const log = () => program?.log() ?? '';
  const metrics = async () => {
    const res = await httpGet(`${urls.metrics}/metrics`);
    expect(res?.status, log()).to.equal(200);
    return res?.text ?? '';
  };
  const orgPath = (name: string) => `/apis/ovim.io/v1/organizations/${name}`;
  async function createOrg(name: string): Promise<void> {
    await api.create('/apis/ovim.io/v1/organizations', {
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      metadata: { name, annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { displayName: `Org ${name}`, admins: [`${name}-admins`] },
    });
  }
  const phase = async (name: string) => (await api.get<Organization>(orgPath(name))).status?.phase;
  async function events(kind: string, name: string, namespace: string, reason: string): Promise<CoreEvent[]> {
    const fieldSelector = `involvedObject.kind=${kind},involvedObject.name=${name},reason=${reason}`;
    return (await api.list<CoreEvent>(`/api/v1/namespaces/${namespace}/events`, { fieldSelector })).items;
  }

  it('/readyz is 503 while Kubernetes cannot be reached, 200 once the informers sync', async () => {
    try {
      const first = await waitFor('the API to listen', () => httpGet(`${urls.probes}/readyz`), { timeoutMs: 60_000 });
      expect(first.status, log()).to.equal(503);
      expect(JSON.parse(first.text)).to.have.property('error');
      await waitFor('connections held at the gate', async () => gate.heldCount > 0);
      expect((await httpGet(`${urls.probes}/readyz`))?.status, 'still not ready while held').to.equal(503);
      expect((await httpGet(`${urls.probes}/healthz`))?.status, 'alive meanwhile').to.equal(200);
    } finally {
      // Open even when an assertion failed: the later tests need the cluster.
      gate.set('open');
    }
    await waitFor('/readyz 200', async () => (await httpGet(`${urls.probes}/readyz`))?.status === 200, { timeoutMs: 90_000 });
    expect(JSON.parse((await httpGet(`${urls.probes}/readyz`))?.text ?? '{}')).to.deep.equal({ status: 'ready' });
  });

  it('/metrics carries the real reconcile and event counts', async () => {
    const org = `proc-${sfx}`;
    await createOrg(org);
    await waitFor('the organization Active', async () => (await phase(org)) === 'Active', { timeoutMs: 60_000 });
    await waitFor('its OrganizationCreated event', async () => (await events('Organization', org, 'default', 'OrganizationCreated')).length === 1);
    const text = await waitFor('the counts on /metrics', async () => {
      const t = await metrics();
      return (sample(t, 'ovim_events_written_total') ?? 0) >= 1 ? t : undefined;
    });
    expect(sample(text, 'controller_runtime_reconcile_total', { controller: 'organization', result: 'success' })).to.be.at.least(1);
    expect(sample(text, 'ovim_events_recorded_total', { type: 'Normal', reason: 'OrganizationCreated' })).to.be.at.least(1);
    expect(sample(text, 'workqueue_adds_total', { name: 'organization' })).to.be.at.least(1);
    expect(sample(text, 'ovim_event_store_events'), 'the event store follows the cluster').to.be.at.least(1);
    // Separate listeners: the API's port has no /metrics, the probe port neither.
    expect((await httpGet(`${base}/metrics`))?.status, 'no /metrics on the API port').to.equal(404);
    expect((await httpGet(`${urls.probes}/metrics`))?.status, 'no /metrics on the probe port').to.equal(404);
    expect((await httpGet(`${urls.metrics}/readyz`))?.status, 'no probes on the metrics port').to.equal(404);
  });

  it('OVIM_QUOTA_THRESHOLD=50: QuotaThresholdReached when a VDC uses half of its quota', async () => {
    const org = `proc-${sfx}`;
    const ns = `org-${org}`;
    const ws = `vdc-${org}-half`;
    await api.create(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters`, {
      apiVersion: 'ovim.io/v1',
      kind: 'VirtualDataCenter',
      metadata: { name: 'half', namespace: ns, annotations: { 'ovim.io/requested-by': 'a-user' } },
      spec: { organizationRef: org, displayName: 'half', quota: { cpu: '1', memory: '8Gi', storage: '10Gi', pods: 50 } },
    });
    await waitFor('the VDC Active', async () => (await api.get<{ status?: { phase?: string } }>(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters/half`)).status?.phase === 'Active', { timeoutMs: 60_000 });
    // The limit range's default request is 100m: five pods are 50% of one core.
    for (let i = 0; i < 5; i++) {
      await waitFor(`pod ${i}`, async () => {
        try {
          await api.create(`/api/v1/namespaces/${ws}/pods`, {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: `p${i}` },
            spec: { containers: [{ name: 'c', image: 'registry.invalid/pause:1' }] },
          });
          return true;
        } catch (err) {
          // The ServiceAccount admission plugin needs the namespace's default ServiceAccount.
          if (apiStatusCode(err) === 403 && /serviceaccount/i.test((err as Error).message)) return undefined;
          throw err;
        }
      });
    }
    const [reached] = await waitFor('QuotaThresholdReached', async () => {
      const list = await events('VirtualDataCenter', 'half', ns, 'QuotaThresholdReached');
      return list.length > 0 ? list : undefined;
    }, { timeoutMs: 90_000 });
    expect(reached?.message).to.match(/reached 50% of its quota: requests\.cpu 500m\/1 \(50%\)/);
  });

  it('SIGTERM with queued work: exit 0, every reconciled organization has its event, no process left', async () => {
    const p = program as Program;
    const names = Array.from({ length: 8 }, (_, i) => `term-${sfx}-${i}`);
    await Promise.all(names.map((n) => createOrg(n)));
    // Work is queued (one worker, eight new organizations) when the signal arrives.
    await waitFor('queued organizations', async () => ((sample(await metrics(), 'workqueue_depth', { name: 'organization' }) ?? 0) > 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    process.kill(p.pid, 'SIGTERM');
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running after 60 s'), 60_000).unref())]);
    expect(code, log()).to.equal(0);
    expect(log()).to.contain('SIGTERM: shutting down');
    expect(log()).to.not.contain('not every pending event was written');
    expect(processGroupMembers(p.pid), 'no process of the program left').to.deep.equal([]);
    // Every organization the drain reconciled has exactly one OrganizationCreated Event.
    let active = 0;
    for (const n of names) {
      if ((await phase(n)) !== 'Active') continue;
      active++;
      expect(await events('Organization', n, 'default', 'OrganizationCreated'), n).to.have.length(1);
    }
    expect(active, 'organizations reconciled before the exit').to.be.greaterThan(0);
    for (const url of [base, urls.probes, urls.metrics]) expect(await httpGet(`${url}/healthz`), `nothing listens on ${url} any more`).to.equal(undefined);
  });
});
