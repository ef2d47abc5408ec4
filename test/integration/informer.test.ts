// ResilientInformer against the real API server: it follows changes, survives kube-apiserver
// going away, and keeps watching across server-side watch timeouts without relisting.
import { expect } from 'chai';
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { InformerFactory } from '../../src/kube/factory.js';
import { ResilientInformer } from '../../src/kube/informer.js';
import { KubeClient } from '../../src/kube/rest.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

describe('ResilientInformer on a real kube-apiserver', function () {
  const namespace = 'informer-test';
  let cp: ControlPlane;
  let core: CoreV1Api;
  let client: KubeClient;
  const started: ResilientInformer<V1ConfigMap>[] = [];

  function configMapInformer(options: { watchTimeoutSeconds?: number; backoff?: { initialMs: number; maxMs: number } } = {}) {
    const path = `/api/v1/namespaces/${namespace}/configmaps`;
    const informer = new ResilientInformer<V1ConfigMap>({
      path,
      list: async (o) => {
        const page = await client.list<V1ConfigMap>(path, { limit: o.limit, continue: o._continue });
        return { metadata: { resourceVersion: page.metadata?.resourceVersion, _continue: page.metadata?.continue }, items: page.items };
      },
      watch: (o, callbacks, signal) => client.watch<V1ConfigMap>(path, { ...o }, callbacks, signal),
      ...options,
    });
    const seen: string[] = [];
    informer.on('add', (cm) => seen.push(`add ${cm.metadata?.name}`));
    informer.on('update', (cm) => seen.push(`update ${cm.metadata?.name}=${cm.data?.v}`));
    informer.on('delete', (cm) => seen.push(`delete ${cm.metadata?.name}`));
    started.push(informer);
    return { informer, seen };
  }

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    client = await KubeClient.create(cp.kubeConfig);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });

  afterEach(function () {
    for (const i of started.splice(0)) i.stop();
  });
  after(() => client?.close());

  it('lists, syncs, then delivers add, update and delete', async function () {
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'before' }, data: { v: '0' } } });
    const { informer, seen } = configMapInformer();
    informer.start();
    await informer.waitForSync();
    expect(informer.hasSynced()).to.equal(true);
    expect(informer.get('before', namespace)?.data?.v).to.equal('0');

    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after' }, data: { v: '1' } } });
    await core.patchNamespacedConfigMap(
      { namespace, name: 'after', body: [{ op: 'replace', path: '/data/v', value: '2' }] },
    );
    await core.deleteNamespacedConfigMap({ namespace, name: 'before' });
    await waitFor('the three changes', async () => seen.length >= 4);
    expect(seen).to.deep.equal(['add before', 'add after', 'update after=2', 'delete before']);
    expect(informer.list().map((c) => c.metadata?.name)).to.deep.equal(['after']);
  });

  it('keeps watching across server-side watch timeouts without relisting', async function () {
    this.timeout(30_000);
    const { informer, seen } = configMapInformer({ watchTimeoutSeconds: 1 });
    informer.start();
    await informer.waitForSync();
    await waitFor('three watch rounds', async () => informer.stats.watches >= 3, { timeoutMs: 15_000 });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'late' }, data: { v: 'x' } } });
    await waitFor('the late object', async () => seen.includes('add late'));
    expect(informer.stats.lists).to.equal(1);
  });

  it('recovers after kube-apiserver is stopped and started again', async function () {
    this.timeout(120_000);
    const { informer, seen } = configMapInformer({ backoff: { initialMs: 200, maxMs: 2_000 } });
    informer.start();
    await informer.waitForSync();
    await cp.stopApiServer();
    await waitFor('a failed watch or list', async () => informer.stats.restarts >= 1, { timeoutMs: 30_000 });
    await cp.startApiServer();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-restart' }, data: { v: 'r' } } });
    await waitFor('the object created after the restart', async () => seen.includes('add after-restart'), {
      timeoutMs: 30_000,
    });
    expect(informer.get('after-restart', namespace)?.data?.v).to.equal('r');
  });

  it('relists on 410 Gone when etcd was compacted past its resourceVersion while kube-apiserver was away', async function () {
    this.timeout(120_000);
    const { informer, seen } = configMapInformer({ backoff: { initialMs: 200, maxMs: 2_000 } });
    informer.start();
    await informer.waitForSync();
    await cp.stopApiServer();
    await waitFor('the watch to fail', async () => informer.stats.restarts >= 1, { timeoutMs: 30_000 });
    await cp.compactEtcd();
    await cp.startApiServer();
    // Created before the informer can watch again: only a relist can show it.
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-compaction' }, data: { v: 'c' } } });
    await waitFor('the object created after the compaction', async () => seen.includes('add after-compaction'), { timeoutMs: 30_000 });
    expect(informer.stats.relistsOn410, 'relists on 410 Gone').to.be.at.least(1);
    expect(seen.filter((s) => s.startsWith('add ')).length, 'adds (nothing repeated)').to.equal(new Set(seen.filter((s) => s.startsWith('add '))).size);
  });

  it('caches objects from the factory without managedFields, listed or watched', async function () {
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'mf-listed' }, data: { v: 'l' } } });
    const raw = await core.readNamespacedConfigMap({ namespace, name: 'mf-listed' });
    expect(raw.metadata?.managedFields, 'the server sends them').to.have.length.above(0);
    const client = await KubeClient.create(cp.kubeConfig);
    const factory = new InformerFactory(client);
    try {
      const informer = factory.informer<V1ConfigMap & { metadata: { name: string } }>({ apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' });
      factory.start();
      await informer.waitForSync();
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'mf-watched' }, data: { v: 'w' } } });
      await waitFor('the watched ConfigMap', async () => informer.get('mf-watched', namespace) !== undefined);
      for (const name of ['mf-listed', 'mf-watched']) {
        const cached = informer.get(name, namespace);
        expect(cached?.data?.v, name).to.equal(name === 'mf-listed' ? 'l' : 'w');
        expect(cached?.metadata, name).to.not.have.property('managedFields');
      }
    } finally {
      factory.stop();
      client.close();
    }
  });
});
