// ResilientInformer's stale-watch relist, with list and watch functions standing in for the API
// server (the 410 and outage paths run against the real one in test/integration/informer.test.ts).
import { expect } from 'chai';
import { ResilientInformer, type ListOptions, type WatchOptions } from '../../../src/kube/informer.js';
import type { AnyKubeObject, ListObject } from '../../../src/kube/meta.js';
import type { WatchCallbacks } from '../../../src/kube/rest.js';
import { waitFor } from '../../support/wait.js';

const object = (name: string, resourceVersion: string): AnyKubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, resourceVersion } });

describe('ResilientInformer', function () {
  it('relists when its watch stays silent past staleAfterMs (cause "stale"), and the relist brings what the watch missed', async function () {
    // The server's state changes while the watch delivers nothing at all (a half-dead connection).
    const lists: ListObject<AnyKubeObject>[] = [
      { items: [object('a', '1')], metadata: { resourceVersion: '1' } },
      { items: [object('b', '2')], metadata: { resourceVersion: '2' } },
    ];
    let listed = 0;
    const watchedFrom: string[] = [];
    const informer = new ResilientInformer<AnyKubeObject>({
      path: '/api/v1/configmaps',
      staleAfterMs: 50,
      list: async (_options: ListOptions) => lists[Math.min(listed++, lists.length - 1)] as ListObject<AnyKubeObject>,
      watch: (options: WatchOptions, callbacks: WatchCallbacks<AnyKubeObject>, signal: AbortSignal) => {
        watchedFrom.push(options.resourceVersion);
        callbacks.onOpen?.();
        // Silent until aborted (by the stale check or by stop()).
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    });
    informer.start();
    try {
      await waitFor('a relist after a silent watch', async () => informer.stats.staleRelists >= 1 && informer.stats.lists >= 2, { timeoutMs: 30_000, intervalMs: 10 });
      await waitFor('the second watch', async () => watchedFrom.length >= 2, { timeoutMs: 30_000, intervalMs: 10 });
      expect(informer.stats.relistsOn410, 'not a 410').to.equal(0);
      expect(informer.list().map((o) => o.metadata?.name), 'the cache after the relist').to.deep.equal(['b']);
      expect(watchedFrom.slice(0, 2), 'watched from each list').to.deep.equal(['1', '2']);
    } finally {
      informer.stop();
    }
  });
});
