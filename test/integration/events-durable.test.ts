// Defect A: a Created event lost in a shutdown must come back. The first operator's event writes
// fail (as during an API server outage) until it stops and gives them up; a second operator,
// a fresh process as far as the events are concerned, must then record every owed Created event
// exactly once, and settle the durable marker (status.pendingEvents: its ticket goes into the
// delivery ledger). A delivered event is not recorded again when its Event has expired.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { CoreV1Event } from '@kubernetes/client-node';
import { DEFAULT_CONFIG, type OperatorConfig } from '../../src/config.js';
import { EventRecorder } from '../../src/events/recorder.js';
import { ClientEventApi, type EventApi, type EventPatch } from '../../src/events/sink.js';
import { installCrds } from '../../src/kube/crds.js';
import { KubeClient } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startOperator } from '../../src/operator.js';
import type { Organization, VirtualDataCenter } from '../../src/resources/types.js';
import type { ControlPlane } from '../support/controlplane.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import { settleOperator } from '../support/settle.js';
import { LEDGER_NAME, markerSettled, readLedgerData } from '../../src/controllers/delivery-ledger.js';

const sfx = randomBytes(2).toString('hex');
const config: OperatorConfig = { ...DEFAULT_CONFIG, resyncPeriodMs: 0 };

/** An EventApi whose writes fail like an unreachable API server while `down` is true. */
class OutageApi implements EventApi {
  down = true;
  failed = 0;
  constructor(private readonly real: EventApi) {}
  private check(): void {
    if (this.down) {
      this.failed++;
      throw Object.assign(new Error('connect ECONNREFUSED (simulated outage)'), { code: 'ECONNREFUSED' });
    }
  }
  async create(namespace: string, event: CoreV1Event, signal: AbortSignal): Promise<CoreV1Event> {
    this.check();
    return this.real.create(namespace, event, signal);
  }
  async patch(namespace: string, name: string, patch: EventPatch, signal: AbortSignal): Promise<CoreV1Event> {
    this.check();
    return this.real.patch(namespace, name, patch, signal);
  }
  async read(namespace: string, name: string, signal: AbortSignal): Promise<CoreV1Event> {
    this.check();
    return this.real.read(namespace, name, signal);
  }
}

describe('durable reported markers (lost Created events)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let api: KubeClient;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    await installCrds(cp.kubeConfig);
    api = await KubeClient.create(cp.kubeConfig);
  });
  after(() => api?.close());

  const orgName = `durable-${sfx}`;
  const ns = `org-${orgName}`;
  const vdcNames = ['a', 'b', 'c'];

  async function occurrences(namespace: string, kind: string, name: string, reason: string): Promise<number> {
    const selector = `involvedObject.kind=${kind},involvedObject.name=${name},reason=${reason}`;
    const list = await api.list<CoreV1Event>(`/api/v1/namespaces/${namespace}/events`, { fieldSelector: selector });
    return list.items.reduce((n, e) => n + (e.count ?? 1), 0);
  }

  it('Created events given up at shutdown are recorded once by the next process, and the marker is cleared', async () => {
    const logger = createLogger('error', true);
    const eventsClient = await KubeClient.create(cp.kubeConfig);
    const outage = new OutageApi(new ClientEventApi(eventsClient));
    const recorder = new EventRecorder(outage, { component: 'ovim-controller', sink: { backoff: { initialMs: 20, maxMs: 100 }, maxTries: 1_000_000 } });
    const first = await startOperator(cp.kubeConfig, config, logger, { recorder });
    try {
      await api.create('/apis/ovim.io/v1/organizations', {
        apiVersion: 'ovim.io/v1',
        kind: 'Organization',
        metadata: { name: orgName, annotations: { 'ovim.io/requested-by': 'a-user' } },
        spec: { displayName: 'Durable', admins: ['durable-admins'] },
      });
      for (const name of vdcNames) {
        await waitFor(`namespace ${ns}`, async () => (await api.get(`/api/v1/namespaces/${ns}`)) !== undefined);
        await api.create(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters`, {
          apiVersion: 'ovim.io/v1',
          kind: 'VirtualDataCenter',
          metadata: { name, namespace: ns, annotations: { 'ovim.io/requested-by': 'a-user' } },
          spec: { organizationRef: orgName, displayName: name, quota: { cpu: '1', memory: '1Gi', storage: '1Gi' } },
        });
      }
      for (const name of vdcNames) {
        await waitFor(`VDC ${name} Active`, async () => (await api.get<VirtualDataCenter>(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters/${name}`)).status?.phase === 'Active');
      }
      const vdc = await api.get<VirtualDataCenter>(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters/a`);
      expect(vdc.status?.pendingEvents, 'the marker is in status while the event is not written').to.deep.equal(['VDCCreated']);
    } finally {
      await first.stop();
      await recorder.stop(100);
      eventsClient.close();
    }
    expect(outage.failed, 'event writes failed during the outage').to.be.greaterThan(0);
    expect(recorder.stats().dropped.find((d) => d.cause === 'shutdown')?.count ?? 0, 'records given up at shutdown').to.be.greaterThan(0);
    expect(await occurrences('default', 'Organization', orgName, 'OrganizationCreated'), 'nothing written by the first process').to.equal(0);

    const second = await startOperator(cp.kubeConfig, config, logger);
    try {
      await waitFor('every owed Created event written and every marker settled', async () => {
        const ledger = await readLedgerData(api, 'default');
        const org = await api.get<Organization>(`/apis/ovim.io/v1/organizations/${orgName}`);
        if (!markerSettled(org.status, ledger)) return false;
        for (const name of vdcNames) {
          const v = await api.get<VirtualDataCenter>(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters/${name}`);
          if (!markerSettled(v.status, ledger)) return false;
        }
        return true;
      }, { timeoutMs: 60_000 });
      expect(await second.waitIdle(60_000)).to.equal(true);
      expect(await (second.recorder as EventRecorder).flush(20_000)).to.equal(true);
      expect(await occurrences('default', 'Organization', orgName, 'OrganizationCreated')).to.equal(1);
      for (const name of vdcNames) expect(await occurrences(ns, 'VirtualDataCenter', name, 'VDCCreated'), `VDCCreated of ${name}`).to.equal(1);
      // A resync finds nothing owed: no second Created event, no status write.
      second.resync();
      expect(await second.waitIdle(60_000)).to.equal(true);
      expect(await (second.recorder as EventRecorder).flush(20_000)).to.equal(true);
      for (const name of vdcNames) expect(await occurrences(ns, 'VirtualDataCenter', name, 'VDCCreated'), `VDCCreated of ${name} after a resync`).to.equal(1);
    } finally {
      await second.stop();
    }
  });

  it('a delivered Created event is not recorded again after its Event expired, and costs one status write', async () => {
    const logger = createLogger('error', true);
    const org2 = `durable2-${sfx}`;
    const ns2 = `org-${org2}`;
    const first = await startOperator(cp.kubeConfig, config, logger);
    let statusWrites = 0;
    try {
      await api.create('/apis/ovim.io/v1/organizations', {
        apiVersion: 'ovim.io/v1',
        kind: 'Organization',
        metadata: { name: org2 },
        spec: { displayName: 'Durable 2', admins: ['durable-admins'] },
      });
      await waitFor(`namespace ${ns2}`, async () => first.informers.namespaces.get(ns2) !== undefined);
      await api.create(`/apis/ovim.io/v1/namespaces/${ns2}/virtualdatacenters`, {
        apiVersion: 'ovim.io/v1',
        kind: 'VirtualDataCenter',
        metadata: { name: 'x', namespace: ns2 },
        spec: { organizationRef: org2, displayName: 'x', quota: { cpu: '1', memory: '1Gi', storage: '1Gi' } },
      });
      await waitFor('VDC x Active', async () => first.informers.vdcs.get('x', ns2)?.status?.phase === 'Active');
      await settleOperator(first);
      await first.deliveries.flush();
      statusWrites = first.client.stats.writesByResource['patch virtualdatacenters/status'] ?? 0;
    } finally {
      await first.stop();
    }
    const vdc = await api.get<VirtualDataCenter>(`/apis/ovim.io/v1/namespaces/${ns2}/virtualdatacenters/x`);
    expect(await occurrences(ns2, 'VirtualDataCenter', 'x', 'VDCCreated')).to.equal(1);
    expect(markerSettled(vdc.status, await readLedgerData(api, 'default')), `marker ${JSON.stringify(vdc.status?.pendingEvents)} ${vdc.status?.pendingEventsTicket} settled in ${LEDGER_NAME}`).to.equal(true);
    expect(statusWrites, 'one VDC status write: Active with the marker; the confirmation wrote no status').to.equal(1);

    // The Events expire (the API server's --event-ttl): delete them, then start again.
    for (const [namespace, selector] of [[ns2, 'involvedObject.name=x'], ['default', `involvedObject.name=${org2}`]] as const) {
      const list = await api.list<CoreV1Event>(`/api/v1/namespaces/${namespace}/events`, { fieldSelector: selector });
      for (const e of list.items) await api.delete(`/api/v1/namespaces/${namespace}/events/${e.metadata?.name}`);
    }
    const second = await startOperator(cp.kubeConfig, config, logger);
    try {
      second.resync();
      await settleOperator(second);
      expect(await occurrences(ns2, 'VirtualDataCenter', 'x', 'VDCCreated'), 'VDCCreated recorded again').to.equal(0);
      expect(await occurrences('default', 'Organization', org2, 'OrganizationCreated'), 'OrganizationCreated recorded again').to.equal(0);
    } finally {
      await second.stop();
    }
  });
});
