// Slow Event writes against a real kube-apiserver: an admission webhook (served here, called by
// the API server) holds chosen Event creates until the test releases them, so that one write is
// slow for real. Other objects' events must not wait for it, and a write that outlives the
// request timeout is aborted, retried and lands exactly once.
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
  /**
   * Holds per involved object name: the first `times` admissions of it wait for `release`, then
   * are answered `allowed` (default true).
   */
  const holds = new Map<string, { times: number; release: Promise<void>; allowed?: boolean }>();
  const hold = (name: string, times: number, allowed = true) => {
    let release!: () => void;
    holds.set(name, { times, release: new Promise<void>((r) => (release = r)), allowed });
    return release;
  };
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
        const held = holds.get(name);
        const holding = held !== undefined && seen <= held.times;
        void (holding ? held.release : Promise.resolve()).then(() => {
          if (holding) released.set(name, (released.get(name) ?? 0) + 1);
          const allowed = holding ? held.allowed !== false : true;
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: { uid: review.request.uid, allowed, ...(allowed ? {} : { status: { code: 403, message: 'denied after the hold' } }) },
            }),
          );
        });
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
            // The longest hold the API server allows; a webhook call it gives up on (or cancels
            // with the client's request) fails the create rather than letting it through.
            timeoutSeconds: 30,
            failurePolicy: 'Fail',
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

  it("delivers other objects' events while one write is held at the webhook", async function () {
    this.timeout(60_000);
    // No client-side timeout during the hold: the write stays one request, in flight.
    const recorder = EventRecorder.create(cp.kubeConfig, { component: 'ovim-controller', reportingInstance: 'slow-test', sink: { requestTimeoutMs: 60_000 } });
    recorders.push(recorder);
    const release = hold('held', 1);
    const held = vdcIn(SLOW_NS, 'held');
    const heldEvents = async () =>
      (await core.listNamespacedEvent({ namespace: SLOW_NS, fieldSelector: `involvedObject.uid=${held.metadata?.uid}` })).items;
    const others = Array.from({ length: 30 }, (_, i) => vdcIn(FAST_NS, `fast-${i}`));

    try {
      recorder.record(held, 'Warning', Reasons.QuotaExceeded, 'held by the webhook');
      // The held write is in flight first: the API server has asked the webhook about it.
      await waitFor('the held write at the webhook', async () => admissions.get('held') === 1);
      for (const o of others) recorder.record(o, 'Warning', Reasons.QuotaExceeded, 'not held');

      await waitFor('the other objects\' events', async () => {
        const list = await core.listNamespacedEvent({ namespace: FAST_NS });
        return list.items.length === others.length;
      });
      // ...all written while the held one is still held: not answered, not stored, still queued.
      expect(released.get('held') ?? 0, 'the held write is still held').to.equal(0);
      expect(await heldEvents()).to.have.length(0);
      expect(recorder.stats().queueDepth).to.equal(1);
    } finally {
      release();
    }
    expect(await recorder.flush(30_000)).to.equal(true);
    expect(released.get('held')).to.equal(1);
    expect(admissions.get('held'), 'one try').to.equal(1);
    expect(await heldEvents()).to.have.length(1);
  });

  it('aborts a write that outlives the request timeout, retries it, and writes it once', async function () {
    this.timeout(60_000);
    const recorder = EventRecorder.create(cp.kubeConfig, {
      component: 'ovim-controller',
      reportingInstance: 'timeout-test',
      sink: { requestTimeoutMs: 1_000 },
    });
    recorders.push(recorder);
    // The first try is held until the recorder has given up on it, then denied: it can never
    // land late, so the one Event below is the retry's, with nothing still on its way.
    const release = hold('stuck', 1, false);
    const stuck = vdcIn(SLOW_NS, 'stuck');

    recorder.record(stuck, 'Warning', Reasons.QuotaExceeded, 'first try held past the timeout');
    try {
      await waitFor('the first try to time out', async () => recorder.stats().writeFailures >= 1, { timeoutMs: 20_000 });
    } finally {
      release();
    }
    expect(await recorder.flush(30_000)).to.equal(true);

    const stats = recorder.stats();
    expect(stats.writeFailures, 'the first try timed out').to.be.at.least(1);
    expect(admissions.get('stuck'), 'retried').to.be.at.least(2);
    await waitFor('the webhook to answer the held try', async () => released.get('stuck') === 1);
    const events = await core.listNamespacedEvent({ namespace: SLOW_NS, fieldSelector: `involvedObject.uid=${stuck.metadata?.uid}` });
    expect(events.items).to.have.length(1);
    expect(events.items[0]?.count).to.equal(1);
  });
});
