// Slow Event writes against a real kube-apiserver: an admission webhook (served here, called by
// the API server) holds chosen Event creates, so that one write is slow for real. Other
// objects' events must not wait for it, and a write that outlives the request timeout is
// aborted, retried and still lands exactly once.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { AdmissionregistrationV1Api, CoreV1Api, type CoreV1Event, type KubernetesObject } from '@kubernetes/client-node';
import { EventRecorder, Reasons } from '../../src/events/recorder.js';
import { controlPlane } from '../support/hooks.js';
import { CertificateAuthority } from '../support/pki.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const SLOW_NS = 'evrec-slow';
const FAST_NS = 'evrec-fast';
const WEBHOOK = 'evrec-slow-events';

interface AdmissionReview {
  request: { uid: string; object?: CoreV1Event };
}

function vdcIn(namespace: string, name: string): KubernetesObject {
  return { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', metadata: { name, namespace, uid: randomUUID() } };
}

describe('EventRecorder with slow writes (admission webhook delays)', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let server: Server;
  let certDir: string;
  /** Delay per involved object name, applied to the first `times` admissions of it. */
  const holds = new Map<string, { delayMs: number; times: number }>();
  const admissions = new Map<string, number>();
  /** Held admissions answered so far, per involved object name. */
  const released = new Map<string, number>();
  const recorders: EventRecorder[] = [];

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);

    certDir = await mkdtemp(join(tmpdir(), 'evrec-webhook-'));
    const ca = await CertificateAuthority.open(certDir);
    const pair = await ca.issue('webhook', { commonName: 'evrec-webhook', usage: 'server', altNames: ['IP:127.0.0.1'] });
    server = createServer({ cert: await readFile(pair.certFile), key: await readFile(pair.keyFile) }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const review = JSON.parse(body) as AdmissionReview;
        const name = review.request.object?.involvedObject?.name ?? '';
        const seen = (admissions.get(name) ?? 0) + 1;
        admissions.set(name, seen);
        const hold = holds.get(name);
        const delay = hold && seen <= hold.times ? hold.delayMs : 0;
        setTimeout(() => {
          if (delay > 0) released.set(name, (released.get(name) ?? 0) + 1);
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: { uid: review.request.uid, allowed: true },
            }),
          );
        }, delay);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;

    for (const ns of [SLOW_NS, FAST_NS]) {
      await core.createNamespace({ body: { metadata: { name: ns, labels: ns === SLOW_NS ? { 'evrec-slow': 'true' } : {} } } });
    }
    await cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createValidatingWebhookConfiguration({
      body: {
        metadata: { name: WEBHOOK },
        webhooks: [
          {
            name: 'slow-events.evrec.test',
            clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle: Buffer.from(await ca.caPem()).toString('base64') },
            rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['events'] }],
            namespaceSelector: { matchLabels: { 'evrec-slow': 'true' } },
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 15,
            failurePolicy: 'Ignore',
          },
        ],
      },
    });
    // The webhook is in force once a probe event reaches it.
    const probe = EventRecorder.create(cp.kubeConfig, { component: 'ovim-controller', reportingInstance: 'probe' });
    recorders.push(probe);
    await waitFor('the webhook to see events', async () => {
      probe.record(vdcIn(SLOW_NS, `probe-${randomUUID().slice(0, 8)}`), 'Normal', Reasons.VDCCreated, 'probe');
      await probe.flush(5_000);
      return [...admissions.keys()].some((n) => n.startsWith('probe-'));
    });
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(recorders.map((r) => r.stop(5_000)));
    await cp.kubeConfig
      .makeApiClient(AdmissionregistrationV1Api)
      .deleteValidatingWebhookConfiguration({ name: WEBHOOK })
      .catch(() => undefined);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(certDir, { recursive: true, force: true });
  });

  it("delivers other objects' events while one write is held", async function () {
    this.timeout(60_000);
    const recorder = EventRecorder.create(cp.kubeConfig, { component: 'ovim-controller', reportingInstance: 'slow-test' });
    recorders.push(recorder);
    holds.set('held', { delayMs: 6_000, times: 1 });
    const held = vdcIn(SLOW_NS, 'held');
    const others = Array.from({ length: 30 }, (_, i) => vdcIn(FAST_NS, `fast-${i}`));

    const started = Date.now();
    recorder.record(held, 'Warning', Reasons.QuotaExceeded, 'held by the webhook');
    await new Promise((r) => setTimeout(r, 100)); // the held write is in flight first
    for (const o of others) recorder.record(o, 'Warning', Reasons.QuotaExceeded, 'not held');

    await waitFor('the other objects\' events', async () => {
      const list = await core.listNamespacedEvent({ namespace: FAST_NS });
      return list.items.length === others.length;
    });
    const othersDoneAfter = Date.now() - started;
    expect(othersDoneAfter, 'the others did not wait for the held write').to.be.below(5_000);
    expect((await core.listNamespacedEvent({ namespace: SLOW_NS, fieldSelector: `involvedObject.uid=${held.metadata?.uid}` })).items)
      .to.have.length(0);

    expect(await recorder.flush(30_000)).to.equal(true);
    expect(Date.now() - started).to.be.at.least(5_000); // the held write really was slow
    const heldEvents = await core.listNamespacedEvent({ namespace: SLOW_NS, fieldSelector: `involvedObject.uid=${held.metadata?.uid}` });
    expect(heldEvents.items).to.have.length(1);
  });

  it('aborts a write that outlives the request timeout, retries it, and writes it once', async function () {
    this.timeout(60_000);
    const recorder = EventRecorder.create(cp.kubeConfig, {
      component: 'ovim-controller',
      reportingInstance: 'timeout-test',
      sink: { requestTimeoutMs: 1_000 },
    });
    recorders.push(recorder);
    holds.set('stuck', { delayMs: 4_000, times: 1 });
    const stuck = vdcIn(SLOW_NS, 'stuck');

    recorder.record(stuck, 'Warning', Reasons.QuotaExceeded, 'first try held past the timeout');
    expect(await recorder.flush(30_000)).to.equal(true);

    const stats = recorder.stats();
    expect(stats.writeFailures, 'the first try timed out').to.be.at.least(1);
    expect(admissions.get('stuck')).to.be.at.least(2);
    // Whether or not the aborted try lands once the webhook lets it go, there is one Event
    // with count 1. (Half a second covers the API server finishing the released request.)
    await waitFor('the webhook to release the held try', async () => (released.get('stuck') ?? 0) >= 1, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    const events = await core.listNamespacedEvent({ namespace: SLOW_NS, fieldSelector: `involvedObject.uid=${stuck.metadata?.uid}` });
    expect(events.items).to.have.length(1);
    expect(events.items[0]?.count).to.equal(1);
  });
});
