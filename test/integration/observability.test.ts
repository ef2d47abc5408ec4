// Operator-grade observability on the real control plane:
// - the whole program (startOvim, leader election on, archive on): lifecycle info lines and
//   reconcile lines with their fields; rest_client_requests_total, slow API requests, leader
//   status, informer series moving; every series named by config/prometheus/rule.yaml and
//   config/grafana/*.json present in its /metrics, every expression naming only those;
// - the informers' restarts (a resource the server does not serve), relists and staleness;
// - a reconcile held past a low threshold (its status write waits): one SlowReconcile naming
//   the status step, the work in progress visible meanwhile, nothing more on resync.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../src/config.js';
import { installCrds } from '../../src/kube/crds.js';
import { InformerFactory } from '../../src/kube/factory.js';
import { LeaderElector } from '../../src/kube/leader.js';
import { restClientObserver, SLOW_API_REQUEST_MS } from '../../src/kube/rest-observer.js';
import { KubeClient } from '../../src/kube/rest.js';
import { startOvim, type Ovim } from '../../src/main.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { registerInformerMetrics, registerLeaderMetric } from '../../src/observability/runtime-metrics.js';
import { startOperator, type Operator } from '../../src/operator.js';
import type { Organization } from '../../src/resources/types.js';
import { capturedLogger, type Line } from '../unit/observability/capture.js';
import { controlPlane } from '../support/hooks.js';
import { exposedSeries, seriesNames } from '../support/promql.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const sfx = randomBytes(3).toString('hex');
const root = join(import.meta.dirname, '..', '..');

/** One sample's value from an exposition, or undefined when it is not there. */
function valueIn(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((p) => l.includes(p)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
function sumIn(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && want.every((p) => l.includes(p)))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function createOrg(api: KubeClient, name: string): Promise<void> {
  await api.create('/apis/ovim.io/v1/organizations', {
    apiVersion: 'ovim.io/v1',
    kind: 'Organization',
    metadata: { name, annotations: { 'ovim.io/requested-by': 'a-user' } },
    spec: { displayName: `Org ${name}`, admins: [`${name}-admins`] },
  });
}

describe('observability', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let api: KubeClient;

  before(async function () {
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
  });
  after(async () => {
    restClientObserver.configure({ slowThresholdMs: SLOW_API_REQUEST_MS });
    api?.close();
  });

  describe('the whole program', function () {
    let ovim: Ovim;
    let lines: Line[];
    let dir: string;
    const org = `obs-${sfx}`;
    const lease = `ovim-obs-${sfx}`;
    const metricsText = async () => (await fetch(`${ovim.apiUrl}/metrics`)).text();

    before(async function () {
      dir = mkdtempSync(join(tmpdir(), 'ovim-obs-'));
      const captured = capturedLogger('debug');
      lines = captured.lines;
      const config: OperatorConfig = {
        ...DEFAULT_CONFIG,
        resyncPeriodMs: 0,
        // Every Kubernetes API request counts as slow: the counter and the log line must move.
        slowApiRequestThresholdMs: 1,
        leaderElection: { ...DEFAULT_CONFIG.leaderElection, enabled: true, namespace: 'default', name: lease, identity: `obs-${sfx}`, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
        history: { path: join(dir, 'history.db'), archiveAllEvents: false },
      };
      ovim = await startOvim(
        cp.kubeConfig,
        config,
        { address: '127.0.0.1:0', maxEvents: 1000, auth: { secret: new TextEncoder().encode('an-observability-test-secret-0123456789'), issuer: 'ovim-backend' } },
        captured.logger,
      );
      await waitFor('leading', async () => ovim.operator.isLeader(), { timeoutMs: 60_000 });
    });
    after(async function () {
      await api.delete(`/apis/ovim.io/v1/organizations/${org}`).catch(() => undefined);
      await ovim?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('an organization provisioned and deleted: reconcile lines carry the fields, one info line for Active and one for deleted', async () => {
      const host = new URL(cp.kubeConfig.getCurrentCluster()?.server ?? '').host;
      const before = await metricsText();
      await createOrg(api, org);
      await waitFor('Active', async () => (await api.get<Organization>(`/apis/ovim.io/v1/organizations/${org}`)).status?.phase === 'Active', { timeoutMs: 60_000 });
      await waitFor('the Active line', async () => lines.some((l) => l.message === `Organization ${org} is Active`), { timeoutMs: 30_000 });
      const active = lines.filter((l) => l.message === `Organization ${org} is Active`);
      expect(active).to.have.length(1);
      expect(active[0]).to.include({ level: 'info', controller: 'organization', controllerKind: 'Organization', name: org, phase: 'Active' });
      const reconciles = lines.filter((l) => l.message === 'reconcile finished' && l.name === org && l.controller === 'organization');
      expect(reconciles.length).to.be.at.least(1);
      for (const l of reconciles) {
        expect(l).to.include({ controllerKind: 'Organization', component: 'controller' });
        expect(l.reconcileID).to.match(/^[0-9a-f-]{36}$/);
        expect(l).to.not.have.property('namespace');
      }
      // The operator's own writes: rest_client_requests_total moved for POST 201 (the namespace) and GET.
      const after = await metricsText();
      expect(sumIn(after, 'rest_client_requests_total', { code: '201', method: 'POST', host })).to.be.greaterThan(sumIn(before, 'rest_client_requests_total', { code: '201', method: 'POST', host }));
      expect(sumIn(after, 'rest_client_requests_total', { method: 'PATCH', host })).to.be.greaterThan(sumIn(before, 'rest_client_requests_total', { method: 'PATCH', host }));
      // Threshold 1 ms: the slow requests are counted and logged (rate-limited).
      expect(sumIn(after, 'ovim_rest_client_slow_requests_total', { host })).to.be.greaterThan(0);
      expect(lines.some((l) => l.level === 'warn' && String(l.message).startsWith('slow Kubernetes API request: ') && l.host === host)).to.equal(true);

      await api.delete(`/apis/ovim.io/v1/organizations/${org}`);
      await waitFor('the deleted line', async () => lines.some((l) => l.message === `Organization ${org} deleted`), { timeoutMs: 90_000 });
      expect(lines.filter((l) => l.message === `Organization ${org} deleted`)).to.have.length(1);
    });

    it('exports leader status, max concurrent reconciles, informer series and every controller counter from zero', async () => {
      const text = await metricsText();
      expect(valueIn(text, 'leader_election_master_status', { name: lease })).to.equal(1);
      for (const [controller, workers] of [['organization', DEFAULT_CONFIG.workers.organization], ['virtualdatacenter', DEFAULT_CONFIG.workers.vdc], ['quota', DEFAULT_CONFIG.workers.quota]] as const) {
        expect(valueIn(text, 'controller_runtime_max_concurrent_reconciles', { controller }), controller).to.equal(workers);
        expect(valueIn(text, 'controller_runtime_reconcile_panics_total', { controller }), controller).to.equal(0);
        expect(valueIn(text, 'ovim_slow_reconciles_total', { controller }), controller).to.be.a('number');
        for (const result of ['success', 'error', 'requeue', 'requeue_after']) expect(valueIn(text, 'controller_runtime_reconcile_total', { controller, result }), `${controller} ${result}`).to.be.a('number');
        expect(valueIn(text, 'workqueue_unfinished_work_seconds', { name: controller })).to.be.a('number');
        expect(valueIn(text, 'workqueue_longest_running_processor_seconds', { name: controller })).to.be.a('number');
      }
      // Each informer listed once at least; its watch heard from the server recently.
      for (const informer of ovim.informers.all().map((i) => i.name)) {
        expect(valueIn(text, 'ovim_informer_relists_total', { informer, cause: 'initial' }), informer).to.be.at.least(1);
        expect(valueIn(text, 'ovim_informer_relists_total', { informer, cause: 'stale' }), informer).to.equal(0);
        expect(valueIn(text, 'ovim_informer_restarts_total', { informer }), informer).to.be.a('number');
        expect(valueIn(text, 'ovim_informer_watch_staleness_seconds', { informer }), informer).to.be.lessThan(DEFAULT_CONFIG.watchTimeoutSeconds * 2);
      }
    });

    it('leader_election_master_status is 0 on a replica that campaigns for the held lease', async () => {
      const follower = await KubeClient.create(cp.kubeConfig);
      const elector = new LeaderElector({ client: follower, namespace: 'default', name: lease, identity: `follower-${sfx}`, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 });
      const metrics = createMetrics();
      registerLeaderMetric(metrics, lease, () => elector.isLeader());
      let attempts = 0;
      elector.run({ onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
      try {
        // It tries (and fails: the program holds the lease) a few times.
        await waitFor('campaign attempts', async () => (await elector.tryAcquireOrRenew()) === false && ++attempts >= 2);
        expect(valueIn(await metrics.registry.metrics(), 'leader_election_master_status', { name: lease })).to.equal(0);
        expect(valueIn(await metricsText(), 'leader_election_master_status', { name: lease })).to.equal(1);
      } finally {
        await elector.stop();
        follower.close();
      }
    });

    it('every series of the PrometheusRule and the Grafana dashboard is on /metrics, and every expression names only those', async () => {
      await fetch(`${ovim.apiUrl}/healthz`);
      const exposed = exposedSeries(await metricsText());
      const rule = parseYaml(readFileSync(join(root, 'config/prometheus/rule.yaml'), 'utf8')) as {
        kind: string;
        spec: { groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[] };
      };
      expect(rule.kind).to.equal('PrometheusRule');
      const exprs: [string, string][] = [];
      for (const g of rule.spec.groups) for (const r of g.rules) exprs.push([`alert ${r.alert}`, r.expr]);
      const alerts = exprs.map(([w]) => w);
      for (const wanted of ['OvimReconcileErrorsRising', 'OvimWorkQueueStuck', 'OvimNoLeader', 'OvimEventsDropped', 'OvimArchiveBacklog']) expect(alerts).to.include(`alert ${wanted}`);
      const dashboards = readdirSync(join(root, 'config/grafana')).filter((f) => f.endsWith('.json'));
      expect(dashboards.length).to.be.greaterThan(0);
      for (const file of dashboards) {
        const dash = JSON.parse(readFileSync(join(root, 'config/grafana', file), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
        expect(dash.panels.length).to.be.greaterThan(10);
        for (const p of dash.panels) for (const t of p.targets) exprs.push([`${file}: ${p.title}`, t.expr]);
      }
      const missing: string[] = [];
      for (const [where, expr] of exprs) {
        const names = seriesNames(expr);
        expect(names.length, where).to.be.greaterThan(0);
        for (const n of names) if (!exposed.has(n)) missing.push(`${where}: ${n}`);
      }
      expect(missing).to.deep.equal([]);
    });
  });

  it('informer restarts count the failures of a resource the server does not serve; a followed watch lists once and is fresh', async () => {
    const metrics: Metrics = createMetrics();
    // The program's informers come from the factory (lists and watches on the keep-alive client).
    const factory = new InformerFactory(api, { watchTimeoutSeconds: 120 });
    const missing = factory.informer({ apiVersion: `missing-${sfx}.ovim.io/v1`, kind: 'Thing', plural: 'things' });
    const quiet = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', labelSelector: `quiet-${sfx}=yes` });
    registerInformerMetrics(metrics, () => [
      { name: 'missing', informer: missing },
      { name: 'quiet', informer: quiet },
    ]);
    const text = () => metrics.registry.metrics();
    expect(valueIn(await text(), 'ovim_informer_restarts_total', { informer: 'missing' })).to.equal(0);
    missing.start();
    quiet.start();
    try {
      await waitFor('restarts', async () => (valueIn(await text(), 'ovim_informer_restarts_total', { informer: 'missing' }) ?? 0) >= 2, { timeoutMs: 60_000 });
      // The quiet watch is followed (the server's bookmarks count as activity, so it is not stale).
      await waitFor('the quiet informer listed', async () => quiet.hasSynced() && quiet.isWatching());
      expect(valueIn(await text(), 'ovim_informer_relists_total', { informer: 'quiet', cause: 'initial' })).to.equal(1);
      expect(valueIn(await text(), 'ovim_informer_watch_staleness_seconds', { informer: 'quiet' })).to.be.lessThan(60);
      expect(valueIn(await text(), 'ovim_informer_restarts_total', { informer: 'quiet' })).to.equal(0);
    } finally {
      missing.stop();
      quiet.stop();
    }
  });

  describe('SlowReconcile', function () {
    let operator: Operator;
    let client: KubeClient;
    const metrics = createMetrics();
    const org = `slow-${sfx}`;
    const thresholdMs = 3_000;
    let heldAt = 0;
    let release: (() => void) | undefined;

    before(async function () {
      client = await KubeClient.create(cp.kubeConfig);
      const request = client.request.bind(client);
      // The first status write of the organization waits until the test lets it go.
      client.request = (async (method, path, options) => {
        if (heldAt === 0 && method === 'PATCH' && path.endsWith(`/organizations/${org}/status`)) {
          heldAt = performance.now();
          await new Promise<void>((resolve) => (release = resolve));
        }
        return request(method, path, options);
      }) as KubeClient['request'];
      operator = await startOperator(cp.kubeConfig, { ...DEFAULT_CONFIG, resyncPeriodMs: 0, slowReconcileThresholdMs: thresholdMs }, capturedLogger('info').logger, { metrics, client });
    });
    after(async function () {
      release?.();
      await api.delete(`/apis/ovim.io/v1/organizations/${org}`).catch(() => undefined);
      await operator?.stop();
      client?.close();
    });

    const occurrences = async () => {
      const selector = `involvedObject.kind=Organization,involvedObject.name=${org},reason=SlowReconcile`;
      const items = (await api.list<{ type: string; message: string; count?: number }>('/api/v1/namespaces/default/events', { fieldSelector: selector })).items;
      return { items, count: items.reduce((n, e) => n + (e.count ?? 1), 0) };
    };

    it('records one Warning naming the slowest step for a reconcile held past the threshold, shows the work in progress meanwhile, and none on resync', async () => {
      await createOrg(api, org);
      await waitFor('the status write held', async () => heldAt > 0, { timeoutMs: 60_000, intervalMs: 20 });
      await waitFor('held past the threshold', async () => performance.now() - heldAt > thresholdMs + 500, { timeoutMs: 30_000, intervalMs: 50 });
      const during = await metrics.registry.metrics();
      expect(valueIn(during, 'workqueue_longest_running_processor_seconds', { name: 'organization' })).to.be.greaterThan(thresholdMs / 1000);
      expect(valueIn(during, 'workqueue_unfinished_work_seconds', { name: 'organization' })).to.be.greaterThan(thresholdMs / 1000);
      release?.();
      await waitFor('one SlowReconcile', async () => (await occurrences()).count === 1, { timeoutMs: 60_000 });
      const [event] = (await occurrences()).items;
      expect(event?.type).to.equal('Warning');
      expect(event?.message).to.match(new RegExp(`^Reconcile of Organization '${org}' took \\d+\\.\\d+ s \\(threshold 3\\.00 s\\); slowest step: status \\(\\d+\\.\\d+ s\\) \\[controller organization\\]$`));
      expect(valueIn(await metrics.registry.metrics(), 'ovim_slow_reconciles_total', { controller: 'organization' })).to.be.at.least(1);
      await waitFor('Active', async () => (await api.get<Organization>(`/apis/ovim.io/v1/organizations/${org}`)).status?.phase === 'Active', { timeoutMs: 60_000 });
      // A resync reconciles it again (fast now): nothing new.
      expect(await operator.waitIdle(30_000)).to.equal(true);
      operator.resync();
      expect(await operator.waitIdle(30_000)).to.equal(true);
      expect(await operator.recorder.flush?.(10_000)).to.equal(true);
      expect((await occurrences()).count).to.equal(1);
    });
  });
});
