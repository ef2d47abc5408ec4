// Per-namespace counts kept from an informer's events (src/controllers/namespace-counts.ts) and
// the slim VMs the watcher caches (src/controllers/vm-watcher.ts).
import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { COUNTED, NOT_COUNTED, NamespaceCounts, RUNNING } from '../../../src/controllers/namespace-counts.js';
import { slimVm, type VirtualMachine } from '../../../src/controllers/vm-watcher.js';
import { podStanding, type SlimPod } from '../../../src/controllers/workload.js';

const pod = (namespace: string, name: string, phase?: string): SlimPod => ({ metadata: { namespace, name }, status: { phase } });

describe('NamespaceCounts', () => {
  it('follows add, update and delete per namespace; finished pods are not counted', () => {
    const feed = new EventEmitter();
    const counts = new NamespaceCounts(podStanding).follow(feed as never);
    feed.emit('add', pod('a', 'p1', 'Pending'));
    feed.emit('add', pod('a', 'p2', 'Running'));
    feed.emit('add', pod('a', 'p3', 'Succeeded'));
    feed.emit('add', pod('b', 'p1', 'Running'));
    expect(counts.counts('a')).to.deep.equal({ total: 2, running: 1 });
    expect(counts.counts('b')).to.deep.equal({ total: 1, running: 1 });
    feed.emit('update', pod('a', 'p1', 'Running'));
    expect(counts.counts('a')).to.deep.equal({ total: 2, running: 2 });
    feed.emit('update', pod('a', 'p2', 'Failed'));
    expect(counts.counts('a')).to.deep.equal({ total: 1, running: 1 });
    feed.emit('delete', pod('a', 'p1', 'Running'));
    feed.emit('delete', pod('a', 'gone-already'));
    expect(counts.counts('a')).to.deep.equal({ total: 0, running: 0 });
    expect([...counts.names('a')].sort()).to.deep.equal(['p2', 'p3']);
    feed.emit('delete', pod('b', 'p1'));
    expect(counts.counts('b')).to.deep.equal({ total: 0, running: 0 });
    expect([...counts.names('b')]).to.deep.equal([]);
    expect(counts.counts('nowhere')).to.deep.equal({ total: 0, running: 0 });
  });

  it('an update to the same standing changes nothing; standings are 0, 1, 2', () => {
    const counts = new NamespaceCounts<SlimPod>(podStanding);
    counts.set(pod('a', 'p', 'Running'));
    counts.set(pod('a', 'p', 'Running'));
    expect(counts.counts('a')).to.deep.equal({ total: 1, running: 1 });
    expect([podStanding(pod('a', 'x', 'Succeeded')), podStanding(pod('a', 'x', 'Pending')), podStanding(pod('a', 'x', 'Running'))]).to.deep.equal([NOT_COUNTED, COUNTED, RUNNING]);
  });
});

describe('slimVm', () => {
  const vm = (status: Record<string, unknown>, annotations: Record<string, string> = {}): VirtualMachine =>
    ({
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: 'v', namespace: 'vdc-a-dev', uid: 'u1', resourceVersion: '7', generation: 2, labels: { big: 'x'.repeat(100) }, managedFields: [{}], annotations: { 'ovim.io/requested-by': 'alice', 'kubectl.kubernetes.io/last-applied-configuration': '{}', ...annotations } },
      spec: { template: { spec: { domain: {} } } },
      status,
    }) as VirtualMachine;

  it('keeps what the decisions and the actor proof read, drops the rest', () => {
    const slim = slimVm(vm({ printableStatus: 'Starting', ready: false, created: true, conditions: [{ type: 'Ready', status: 'False', message: 'x' }, { type: 'Failure', status: 'True', reason: 'Boom', message: 'it failed' }], startFailure: { consecutiveFailCount: 2, retryAfterTimestamp: 'later' }, volumeSnapshotStatuses: [{}] }));
    expect(slim).to.deep.equal({
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: 'v', namespace: 'vdc-a-dev', uid: 'u1', resourceVersion: '7', generation: 2, annotations: { 'ovim.io/requested-by': 'alice' } },
      status: { printableStatus: 'Starting', conditions: [{ type: 'Failure', status: 'True', reason: 'Boom', message: 'it failed' }], startFailure: { consecutiveFailCount: 2 } },
    });
  });

  it('no True Failure condition, no startFailure, no ovim.io annotation, no status: none kept', () => {
    const one = slimVm(vm({ printableStatus: 'Running', conditions: [{ type: 'Failure', status: 'False' }] }));
    expect(one.status).to.deep.equal({ printableStatus: 'Running' });
    const bare = slimVm({ metadata: { name: 'w', namespace: 'vdc-a-dev', uid: 'u2', resourceVersion: '1' } } as VirtualMachine);
    expect(bare.metadata).to.deep.equal({ name: 'w', namespace: 'vdc-a-dev', uid: 'u2', resourceVersion: '1' });
    expect(bare.status).to.equal(undefined);
  });
});
