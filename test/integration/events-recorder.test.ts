// The event recording pipeline against a real kube-apiserver: what kubectl shows, dedup by
// count patches, aggregation, the spam filter counted on the server's watch, an API server
// outage, flush on shutdown, and namespaces that are gone or terminating.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type CoreV1Event,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { AGGREGATE_PREFIX } from '../../src/events/correlator.js';
import { EventRecorder, Reasons } from '../../src/events/recorder.js';
import { installCrds } from '../../src/kube/crds.js';
import { isNotFound } from '../../src/kube/errors.js';
import {
  OVIM_GROUP,
  OVIM_VERSION,
  ORGANIZATION_PLURAL,
  VDC_PLURAL,
  type Organization,
  type VirtualDataCenter,
} from '../../src/resources/types.js';
import { controlPlane } from '../support/hooks.js';
import { kubectlOk } from '../support/kubectl.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const INSTANCE = 'events-recorder-test-0';
const DELETED_NAMESPACE = 'evrec-deleted';

/** A VDC-shaped object that only needs to exist as a reference (Events do not check). */
function fakeVdc(namespace: string, name: string): KubernetesObject {
  return {
    apiVersion: 'ovim.io/v1',
    kind: 'VirtualDataCenter',
    metadata: { name, namespace, uid: randomUUID(), resourceVersion: '1' },
  };
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('EventRecorder against a real API server', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const recorders: EventRecorder[] = [];

  function newRecorder(options: Partial<Parameters<typeof EventRecorder.create>[1]> = {}): EventRecorder {
    const recorder = EventRecorder.create(cp.kubeConfig, { component: 'ovim-controller', reportingInstance: INSTANCE, ...options });
    recorders.push(recorder);
    return recorder;
  }

  async function ensureNamespace(name: string): Promise<void> {
    try {
      await core.createNamespace({ body: { metadata: { name } } });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }

  async function eventsOf(namespace: string, uid: string): Promise<CoreV1Event[]> {
    const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.uid=${uid}` });
    return list.items;
  }

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await installCrds(cp.kubeConfig);
    // Deleted now, so that the namespace controller has finished by the time a test needs it gone.
    await ensureNamespace(DELETED_NAMESPACE);
    await core.deleteNamespace({ name: DELETED_NAMESPACE });
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(recorders.map((r) => r.stop(5_000)));
  });

  describe('what kubectl shows', function () {
    let org: Organization;
    let vdc: VirtualDataCenter;

    before(async function () {
      org = (await custom.createClusterCustomObject({
        group: OVIM_GROUP,
        version: OVIM_VERSION,
        plural: ORGANIZATION_PLURAL,
        body: {
          apiVersion: 'ovim.io/v1',
          kind: 'Organization',
          metadata: {
            name: 'evrec-acme',
            annotations: {
              'ovim.io/requested-by': 'a-user',
              'ovim.io/owner': 'an-owner',
              'ovim.io/force-reconcile-by': 'another-user',
            },
          },
          spec: { displayName: 'Acme', admins: ['acme-admins'] },
        },
      })) as Organization;
      await ensureNamespace('org-evrec-acme');
      vdc = (await custom.createNamespacedCustomObject({
        group: OVIM_GROUP,
        version: OVIM_VERSION,
        plural: VDC_PLURAL,
        namespace: 'org-evrec-acme',
        body: {
          apiVersion: 'ovim.io/v1',
          kind: 'VirtualDataCenter',
          metadata: { name: 'evrec-dev', namespace: 'org-evrec-acme', annotations: { 'ovim.io/requested-by': 'a-user' } },
          spec: { organizationRef: 'evrec-acme', displayName: 'Dev', quota: { cpu: '4', memory: '8Gi', storage: '100Gi' } },
        },
      })) as VirtualDataCenter;
    });

    after(async function () {
      // Other suites of the run may count Organizations: leave none behind.
      await custom
        .deleteNamespacedCustomObject({ group: OVIM_GROUP, version: OVIM_VERSION, plural: VDC_PLURAL, namespace: 'org-evrec-acme', name: 'evrec-dev' })
        .catch(() => undefined);
      await custom
        .deleteClusterCustomObject({ group: OVIM_GROUP, version: OVIM_VERSION, plural: ORGANIZATION_PLURAL, name: 'evrec-acme' })
        .catch(() => undefined);
    });

    it('shows an event on a cluster-scoped Organization in kubectl describe (Event in default)', async function () {
      const recorder = newRecorder();
      recorder.recordOrganizationCreated(org);
      recorder.recordOrganizationReconcileForced(org);
      expect(await recorder.flush(30_000)).to.equal(true);

      const out = await kubectlOk(cp.kubeconfigPath, ['describe', 'organization', 'evrec-acme']);
      expect(out).to.match(/Normal\s+OrganizationCreated\s+\S+\s+ovim-controller\s+Organization 'evrec-acme' created by a-user/);
      expect(out).to.match(
        /Normal\s+ReconcileForced\s+\S+\s+ovim-controller\s+Manual reconciliation triggered for organization 'evrec-acme' by another-user/,
      );

      const events = await eventsOf('default', org.metadata.uid as string);
      const created = events.find((e) => e.reason === 'OrganizationCreated') as CoreV1Event;
      expect(created.metadata.namespace).to.equal('default');
      expect(created.involvedObject).to.deep.include({
        apiVersion: 'ovim.io/v1',
        kind: 'Organization',
        name: 'evrec-acme',
        uid: org.metadata.uid,
        resourceVersion: org.metadata.resourceVersion,
      });
      expect(created.involvedObject.namespace).to.equal(undefined);
      expect(created.type).to.equal('Normal');
      expect(created.count).to.equal(1);
      expect(created.source?.component).to.equal('ovim-controller');
      expect(created.reportingComponent).to.equal('ovim-controller');
      expect(created.reportingInstance).to.equal(INSTANCE);
      expect(created.metadata.annotations).to.deep.equal({
        'ovim.io/organization': 'evrec-acme',
        'ovim.io/actor': 'a-user',
        'ovim.io/owner': 'an-owner',
        // No admission webhook stamped them (no verifier): recorded as unverified.
        'ovim.io/actor-verified': 'false',
        'ovim.io/owner-verified': 'false',
      });
      expect(created.firstTimestamp).to.be.instanceOf(Date);
      expect(Date.now() - (created.lastTimestamp as Date).getTime()).to.be.below(60_000);
      const forced = events.find((e) => e.reason === 'ReconcileForced') as CoreV1Event;
      expect(forced.metadata.annotations?.['ovim.io/actor']).to.equal('another-user');
    });

    it('shows an event on a namespaced VDC in kubectl describe (Event in its namespace)', async function () {
      const recorder = newRecorder();
      recorder.recordVdcCreated(vdc, org);
      recorder.record(vdc, 'Warning', Reasons.QuotaExceeded, 'requests.cpu used 4 of 4 cores');
      expect(await recorder.flush(30_000)).to.equal(true);

      const out = await kubectlOk(cp.kubeconfigPath, ['describe', 'vdc', 'evrec-dev', '-n', 'org-evrec-acme']);
      expect(out).to.match(/Normal\s+VDCCreated\s+\S+\s+ovim-controller\s+VDC 'evrec-dev' created in organization 'evrec-acme' by a-user/);
      expect(out).to.match(/Warning\s+QuotaExceeded\s+\S+\s+ovim-controller\s+requests\.cpu used 4 of 4 cores/);

      const events = await eventsOf('org-evrec-acme', vdc.metadata.uid as string);
      expect(events).to.have.length(2);
      for (const e of events) {
        expect(e.metadata.namespace).to.equal('org-evrec-acme');
        expect(e.involvedObject.namespace).to.equal('org-evrec-acme');
        expect(e.metadata.annotations).to.include({ 'ovim.io/organization': 'evrec-acme', 'ovim.io/vdc': 'evrec-dev' });
      }
    });

    it('never lets a credential reach the API server', async function () {
      const recorder = newRecorder();
      recorder.record(vdc, 'Warning', Reasons.ReconcileFailed, 'sync failed: password=hunter2 and Authorization: Bearer sk-0123456789abcdef');
      expect(await recorder.flush(30_000)).to.equal(true);
      const failed = (await eventsOf('org-evrec-acme', vdc.metadata.uid as string)).find((e) => e.reason === 'ReconcileFailed');
      expect(failed?.message).to.equal('sync failed: password=[REDACTED] and Authorization: Bearer [REDACTED]');
    });
  });

  it('records nothing, and throws nothing, without an object', async function () {
    const recorder = newRecorder();
    expect(() => recorder.record(null, 'Normal', Reasons.VDCCreated, 'x')).to.not.throw();
    expect(() => recorder.record(undefined, 'Normal', Reasons.VDCCreated, 'x')).to.not.throw();
    expect(() => recorder.recordOrganizationCreated(undefined)).to.not.throw();
    expect(() => recorder.recordVdcDeleted(null, 'acme')).to.not.throw();
    expect(() => recorder.record({ metadata: {} }, 'Normal', Reasons.VDCCreated, 'x')).to.not.throw();
    expect(await recorder.flush(1_000)).to.equal(true);
    const stats = recorder.stats();
    expect(stats.dropped.find((d) => d.cause === 'no_object')?.count).to.equal(5);
    expect(stats.written).to.equal(0);
    expect(stats.recorded).to.deep.equal([]);
  });

  describe('correlation on the server', function () {
    const ns = 'evrec-correlation';

    before(async function () {
      await ensureNamespace(ns);
    });

    it('turns 50 identical records into one Event with count 50, bumped by patches', async function () {
      const recorder = newRecorder();
      const object = fakeVdc(ns, 'dedup');
      recorder.record(object, 'Warning', Reasons.QuotaExceeded, 'requests.memory used 8Gi of 8Gi');
      expect(await recorder.flush(30_000)).to.equal(true);
      const [first] = await eventsOf(ns, object.metadata?.uid as string);
      expect(first?.count).to.equal(1);

      for (let i = 1; i < 50; i += 1) {
        recorder.record(object, 'Warning', Reasons.QuotaExceeded, 'requests.memory used 8Gi of 8Gi');
        if (i % 7 === 0) await yieldToLoop(); // let some writes go out in between
      }
      expect(await recorder.flush(30_000)).to.equal(true);

      const events = await eventsOf(ns, object.metadata?.uid as string);
      expect(events).to.have.length(1);
      expect(events[0]?.count).to.equal(50);
      expect(events[0]?.metadata.uid).to.equal(first?.metadata.uid); // the same object, patched
      expect((events[0]?.lastTimestamp as Date).getTime()).to.be.at.least((first?.lastTimestamp as Date).getTime());
      const stats = recorder.stats();
      expect(stats.written).to.equal(1);
      expect(stats.patched).to.be.at.least(1);
      expect(stats.delivered).to.equal(50);
    });

    it('combines the 10th and later distinct messages of one reason into one Event', async function () {
      const recorder = newRecorder();
      const object = fakeVdc(ns, 'aggregation');
      for (let i = 1; i <= 12; i += 1) {
        recorder.record(object, 'Warning', Reasons.QuotaThresholdReached, `requests.cpu at ${90 + i / 10}% of quota`);
        await yieldToLoop();
      }
      expect(await recorder.flush(30_000)).to.equal(true);

      const events = await eventsOf(ns, object.metadata?.uid as string);
      expect(events).to.have.length(10);
      const combined = events.filter((e) => e.message?.startsWith(AGGREGATE_PREFIX));
      expect(combined).to.have.length(1);
      expect(combined[0]?.message).to.equal(`${AGGREGATE_PREFIX}requests.cpu at 91.2% of quota`);
      expect(combined[0]?.count).to.equal(3);
      expect(events.filter((e) => e.count === 1)).to.have.length(9);
      expect(recorder.stats().aggregated).to.equal(3);

      const out = await kubectlOk(cp.kubeconfigPath, [
        'get', 'events', '-n', ns, '--field-selector', `involvedObject.name=aggregation`,
      ]);
      expect(out).to.include('(combined from similar events): requests.cpu at 91.2% of quota');
    });

    it('lets a storm of 1000 events on one object cause at most 26 Event writes (counted on a watch)', async function () {
      this.timeout(60_000);
      const recorder = newRecorder();
      const object = fakeVdc(ns, 'storm');
      const uid = object.metadata?.uid as string;
      let writesSeen = 0;
      const watching = await new Watch(cp.kubeConfig).watch(
        `/api/v1/namespaces/${ns}/events`,
        { fieldSelector: `involvedObject.uid=${uid}` },
        (phase) => {
          if (phase === 'ADDED' || phase === 'MODIFIED') writesSeen += 1;
        },
        () => undefined,
      );
      try {
        for (let i = 0; i < 1000; i += 1) {
          // Distinct and repeated messages, a millisecond apart: far more than 25 write round
          // trips would fit, so only the token bucket keeps the writes down.
          recorder.record(object, 'Warning', Reasons.QuotaExceeded, `storm message ${i % 3 === 0 ? 'repeated' : i}`);
          await new Promise((r) => setTimeout(r, 1));
        }
        expect(await recorder.flush(30_000)).to.equal(true);
        const stats = recorder.stats();
        const writes = stats.written + stats.patched;
        await waitFor('the watch to see every write', async () => writesSeen >= writes, { timeoutMs: 10_000 });
        expect(writesSeen).to.equal(writes);
        expect(writesSeen).to.be.at.most(26);
        expect(stats.spamFiltered).to.be.greaterThan(0);
        expect(stats.delivered + stats.spamFiltered).to.equal(1000);
        // Even filtered records are counted on the Events that were written.
        const total = (await eventsOf(ns, uid)).reduce((sum, e) => sum + (e.count ?? 0), 0);
        expect(total).to.be.at.most(1000);
        expect(total).to.be.at.least(stats.delivered);
      } finally {
        watching.abort();
      }
    });

    it('creates the Event again when a patch finds it gone (404)', async function () {
      const recorder = newRecorder();
      const object = fakeVdc(ns, 'expired');
      recorder.record(object, 'Warning', Reasons.CreationFailed, 'organization evrec-missing does not exist');
      expect(await recorder.flush(30_000)).to.equal(true);
      const [first] = await eventsOf(ns, object.metadata?.uid as string);
      await core.deleteNamespacedEvent({ namespace: ns, name: first?.metadata.name as string });

      recorder.record(object, 'Warning', Reasons.CreationFailed, 'organization evrec-missing does not exist');
      expect(await recorder.flush(30_000)).to.equal(true);
      const events = await eventsOf(ns, object.metadata?.uid as string);
      expect(events).to.have.length(1);
      expect(events[0]?.count).to.equal(2);
      expect(events[0]?.metadata.uid).to.not.equal(first?.metadata.uid);
      const stats = recorder.stats();
      expect(stats.written).to.equal(2);
      expect(stats.writeFailures).to.equal(0); // the 404 is the expected path, not a failure
    });
  });

  it('flush on shutdown delivers everything queued, and later records are dropped', async function () {
    this.timeout(60_000);
    const ns = 'evrec-shutdown';
    await ensureNamespace(ns);
    const recorder = newRecorder();
    const objects = Array.from({ length: 100 }, (_, i) => fakeVdc(ns, `shutdown-${i}`));
    for (const o of objects) {
      recorder.record(o, 'Normal', Reasons.VDCCreated, `VDC '${o.metadata?.name}' created`);
      recorder.record(o, 'Warning', Reasons.QuotaThresholdReached, 'requests.cpu at 91% of quota');
    }
    expect(recorder.stats().queueDepth).to.equal(200);
    await recorder.stop(30_000);

    const stats = recorder.stats();
    expect(stats.written).to.equal(200);
    expect(stats.queueDepth).to.equal(0);
    const list = await core.listNamespacedEvent({ namespace: ns });
    expect(list.items).to.have.length(200);

    recorder.record(objects[0], 'Normal', Reasons.VDCUpdated, 'after stop');
    const after = recorder.stats();
    expect(after.dropped.find((d) => d.cause === 'shutdown')?.count).to.equal(1);
    expect(after.queueDepth).to.equal(0);
    expect(after.written).to.equal(200);
  });

  describe('namespaces that are gone or terminating', function () {
    const terminating = 'evrec-terminating';

    after(async function () {
      // Release the namespace held in Terminating by the test finalizer.
      await core
        .patchNamespace(
          { name: terminating, body: { metadata: { finalizers: null } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .catch(() => undefined);
    });

    it('drops an event for a deleted namespace after one try, without throwing', async function () {
      this.timeout(90_000);
      const ns = DELETED_NAMESPACE;
      await waitFor(
        'the namespace to be gone',
        async () => {
          try {
            await core.readNamespace({ name: ns });
            return false;
          } catch (err) {
            return isNotFound(err);
          }
        },
        { timeoutMs: 60_000 },
      );

      const recorder = newRecorder();
      const object = fakeVdc(ns, 'orphan');
      expect(() => recorder.record(object, 'Warning', Reasons.QuotaExceeded, 'late')).to.not.throw();
      expect(await recorder.flush(10_000), 'flush reports the event as not delivered').to.equal(false);
      let stats = recorder.stats();
      // One try, no retries (with retries the backoff alone would outlast the flush above).
      expect(stats.writeFailures).to.equal(1);
      expect(stats.dropped.find((d) => d.cause === 'namespace_terminating')?.count).to.equal(1);

      recorder.record(object, 'Warning', Reasons.QuotaExceeded, 'late');
      expect(await recorder.flush(10_000)).to.equal(false);
      expect(recorder.stats().queueDepth).to.equal(0);
      stats = recorder.stats();
      expect(stats.writeFailures).to.equal(2);
      expect(stats.dropped.find((d) => d.cause === 'namespace_terminating')?.count).to.equal(2);
      expect(stats.written).to.equal(0);
    });

    it('drops an event for a terminating namespace quietly', async function () {
      await core.createNamespace({ body: { metadata: { name: terminating, finalizers: ['ovim.io/test-hold'] } } });
      await core.deleteNamespace({ name: terminating });
      await waitFor('the namespace to be terminating', async () => {
        const n = await core.readNamespace({ name: terminating });
        return n.status?.phase === 'Terminating';
      });

      const recorder = newRecorder();
      recorder.record(fakeVdc(terminating, 'doomed'), 'Normal', Reasons.VDCDeleted, 'cleanup');
      expect(await recorder.flush(10_000)).to.equal(false);
      expect(recorder.stats().queueDepth).to.equal(0);
      const stats = recorder.stats();
      expect(stats.writeFailures).to.equal(1);
      expect(stats.dropped.find((d) => d.cause === 'namespace_terminating')?.count).to.equal(1);
      expect((await core.listNamespacedEvent({ namespace: terminating })).items).to.have.length(0);
    });
  });

  // Last: the outage also delays kube-controller-manager's work in flight, which other tests
  // of this file (a namespace deletion) would otherwise wait for.
  describe('an API server outage', function () {
    it('delivers every queued event exactly once across a 5 s kube-apiserver outage', async function () {
      this.timeout(180_000);
      const ns = 'evrec-outage';
      await ensureNamespace(ns);
      // Short backoff steps with more tries: the same bounded retry, paced for a test.
      const recorder = newRecorder({ sink: { backoff: { initialMs: 200, maxMs: 2_000 }, maxTries: 100 } });
      const objects = Array.from({ length: 20 }, (_, i) => fakeVdc(ns, `outage-${i}`));

      for (const o of objects) recorder.record(o, 'Warning', Reasons.QuotaExceeded, 'requests.cpu used 4 of 4');
      expect(await recorder.flush(30_000)).to.equal(true);

      // Records whose writes are in flight when the server goes away.
      for (const o of objects) {
        recorder.record(o, 'Warning', Reasons.QuotaExceeded, 'requests.cpu used 4 of 4');
        recorder.record(o, 'Normal', Reasons.VDCUpdated, 'updated during the outage');
      }
      await cp.stopApiServer();
      try {
        for (const o of objects) {
          recorder.record(o, 'Warning', Reasons.QuotaExceeded, 'requests.cpu used 4 of 4');
          recorder.record(o, 'Normal', Reasons.VDCUpdated, 'updated during the outage');
          recorder.record(o, 'Warning', Reasons.CreationFailed, 'recorded while the API server was down');
        }
        expect(recorder.stats().queueDepth).to.be.greaterThan(0);
        await new Promise((r) => setTimeout(r, 5_000));
      } finally {
        await cp.startApiServer();
      }
      expect(await recorder.flush(120_000)).to.equal(true);

      const stats = recorder.stats();
      expect(stats.writeFailures).to.be.greaterThan(0);
      expect(stats.dropped.filter((d) => d.count > 0)).to.deep.equal([]);
      expect(stats.delivered).to.equal(20 * 6);
      const expected = new Map([
        ['QuotaExceeded', 3],
        ['VDCUpdated', 2],
        ['CreationFailed', 1],
      ]);
      for (const o of objects) {
        const events = await eventsOf(ns, o.metadata?.uid as string);
        expect(events.map((e) => e.reason).sort(), o.metadata?.name).to.deep.equal([...expected.keys()].sort());
        for (const e of events) expect(e.count, `${o.metadata?.name} ${e.reason}`).to.equal(expected.get(e.reason as string));
      }
    });
  });
});
