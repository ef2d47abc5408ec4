// Recorder back-pressure against the real kube-apiserver, reached through a TCP gate so that
// only this recorder sees the outage: a full queue drops new records (queue_full) without
// record() waiting, and a write that runs out of tries is dropped (retries_exhausted); both are
// counted in the recorder's stats and exported on /metrics.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { EventRecorder, Reasons } from '../../src/events/recorder.js';
import { createMetrics, registerRecorderMetrics } from '../../src/metrics.js';
import { ApiGate } from '../support/gate.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const vdc = (namespace: string, name: string): KubernetesObject => ({
  apiVersion: 'ovim.io/v1',
  kind: 'VirtualDataCenter',
  metadata: { name, namespace, uid: randomUUID(), resourceVersion: '1' },
});

describe('EventRecorder back-pressure', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let gate: ApiGate;
  const recorders: EventRecorder[] = [];

  const exported = async (recorder: EventRecorder) => {
    const metrics = createMetrics();
    registerRecorderMetrics(metrics, () => recorder.stats());
    return metrics.registry.metrics();
  };
  const dropped = (recorder: EventRecorder, cause: string) => recorder.stats().dropped.find((d) => d.cause === cause)?.count ?? 0;
  const eventsIn = async (namespace: string) => (await core.listNamespacedEvent({ namespace })).items;

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    for (const name of ['evbp-full', 'evbp-retries']) {
      await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
    }
  });

  afterEach(async () => {
    for (const r of recorders.splice(0)) await r.stop(1_000);
    await gate?.close();
  });

  it('a full queue: record() returns at once, the overflow is counted as queue_full and exported', async () => {
    gate = await ApiGate.start(cp.apiServerUrl, 'hold');
    const recorder = EventRecorder.create(gate.kubeConfig(cp.kubeconfigPath), {
      component: 'ovim-controller',
      queueSize: 3,
      sink: { requestTimeoutMs: 60_000 },
    });
    recorders.push(recorder);
    const objects = Array.from({ length: 10 }, (_, i) => vdc('evbp-full', `full-${i}`));
    // The API server holds every connection: nothing can be delivered while these run.
    for (const o of objects) {
      const returned = recorder.record(o, 'Normal', Reasons.VDCCreated, `VDC '${o.metadata?.name}' created`);
      expect(returned).to.equal(undefined);
    }
    // Synchronously after the loop: nothing awaited, three queued, seven dropped.
    expect(recorder.stats().queueDepth).to.equal(3);
    expect(dropped(recorder, 'queue_full')).to.equal(7);
    await waitFor('the writes to be held at the gate', async () => gate.heldCount > 0);
    expect(recorder.stats().written).to.equal(0);
    expect(await exported(recorder)).to.match(/^ovim_events_dropped_total\{cause="queue_full"\} 7$/m);
    expect(await exported(recorder)).to.match(/^ovim_events_queue_depth 3$/m);

    // The network comes back: the three queued events are written, the seven dropped are not.
    gate.set('open');
    expect(await recorder.flush(60_000)).to.equal(true);
    const names = (await eventsIn('evbp-full')).map((e) => e.involvedObject.name).sort();
    expect(names).to.deep.equal(['full-0', 'full-1', 'full-2']);
    expect(recorder.stats().written).to.equal(3);
  });

  it('an outage longer than the retry budget: the write is dropped as retries_exhausted and exported', async () => {
    gate = await ApiGate.start(cp.apiServerUrl, 'refuse');
    const recorder = EventRecorder.create(gate.kubeConfig(cp.kubeconfigPath), {
      component: 'ovim-controller',
      sink: { maxTries: 3, backoff: { initialMs: 20, maxMs: 50 }, requestTimeoutMs: 10_000 },
    });
    recorders.push(recorder);
    recorder.record(vdc('evbp-retries', 'r-0'), 'Warning', Reasons.QuotaExceeded, 'requests.cpu used 4 of 4');
    recorder.record(vdc('evbp-retries', 'r-1'), 'Warning', Reasons.QuotaExceeded, 'requests.cpu used 4 of 4');
    expect(await recorder.flush(60_000), 'flush says not everything was delivered').to.equal(false);
    const stats = recorder.stats();
    expect(dropped(recorder, 'retries_exhausted')).to.equal(2);
    expect(stats.writeFailures, 'three tries each').to.equal(6);
    expect(stats.queueDepth).to.equal(0);
    const text = await exported(recorder);
    expect(text).to.match(/^ovim_events_dropped_total\{cause="retries_exhausted"\} 2$/m);
    expect(text).to.match(/^ovim_events_write_failures_total 6$/m);

    // Nothing reached the server, and the recorder works again once the server is back.
    gate.set('open');
    expect(await eventsIn('evbp-retries')).to.have.length(0);
    recorder.record(vdc('evbp-retries', 'r-2'), 'Warning', Reasons.QuotaExceeded, 'requests.cpu used 4 of 4');
    expect(await recorder.flush(30_000)).to.equal(true);
    expect((await eventsIn('evbp-retries')).map((e) => e.involvedObject.name)).to.deep.equal(['r-2']);
  });
});
