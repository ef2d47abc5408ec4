// The informer's secondary indexes must answer exactly what a scan of the cache answers, through
// adds, updates that move an object between index values, deletes and relists (a 410 that lists
// the server's state again). Random operations from a fixed seed, compared after every step.
import { expect } from 'chai';
import { ResilientInformer, objectKey } from '../../../src/kube/informer.js';
import type { KubeObject, ListObject } from '../../../src/kube/meta.js';
import type { WatchCallbacks } from '../../../src/kube/rest.js';

/** A small deterministic generator (mulberry32), so that a failing sequence can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMESPACES = ['org-a', 'org-b', 'org-c', 'vdc-a-x', 'vdc-b-y'];
const TEAMS = ['red', 'green', 'blue'];
const byTeam = (o: KubeObject) => {
  const team = o.metadata?.labels?.team;
  return team ? [team, 'any-team'] : [];
};

/** Lets the informer's run loop take its next step (list, watch): no timers involved. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await new Promise((r) => setImmediate(r));
  expect(condition(), 'the informer did not get there').to.equal(true);
}

/** The "server": the objects it holds, a resourceVersion counter, and the one open watch. */
class Server {
  readonly objects = new Map<string, KubeObject>();
  private rv = 0;
  watch: { callbacks: WatchCallbacks<KubeObject>; end: () => void } | undefined;

  write(obj: KubeObject, type: 'ADDED' | 'MODIFIED' | 'DELETED'): void {
    const object = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    if (type === 'DELETED') this.objects.delete(objectKey(object));
    else this.objects.set(objectKey(object), object);
    this.watch?.callbacks.onEvent({ type, object });
  }

  /** Writes without telling the watch (what a relist must catch up with). */
  writeQuietly(obj: KubeObject, deleted: boolean): void {
    if (deleted) this.objects.delete(objectKey(obj));
    else this.objects.set(objectKey(obj), { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } });
  }

  /** Ends the watch with 410 Gone: the informer lists again. */
  expire(): void {
    const watch = this.watch;
    this.watch = undefined;
    watch?.callbacks.onEvent({ type: 'ERROR', object: { code: 410 } as unknown as KubeObject });
    watch?.end();
  }

  list(): ListObject<KubeObject> {
    return { metadata: { resourceVersion: String(this.rv) }, items: [...this.objects.values()] };
  }
}

function informerOn(server: Server): ResilientInformer<KubeObject> {
  return new ResilientInformer<KubeObject>({
    path: '/test/objects',
    list: async () => server.list(),
    watch: (_options, callbacks, signal) =>
      new Promise<void>((resolve) => {
        const end = () => resolve();
        server.watch = { callbacks, end };
        signal.addEventListener('abort', end, { once: true });
      }),
  });
}

const keys = (objects: KubeObject[]) => objects.map(objectKey).sort();

function expectIndexesMatchScans(informer: ResilientInformer<KubeObject>): void {
  const all = informer.list();
  for (const ns of [...NAMESPACES, 'nowhere']) {
    expect(keys(informer.inNamespace(ns)), `namespace ${ns}`).to.deep.equal(keys(all.filter((o) => o.metadata?.namespace === ns)));
  }
  for (const value of [...TEAMS, 'any-team', 'nobody']) {
    expect(keys(informer.byIndex('team', value)), `team ${value}`).to.deep.equal(keys(all.filter((o) => byTeam(o).includes(value))));
  }
}

describe('ResilientInformer indexes', () => {
  for (const seed of [1, 2, 3]) {
    it(`answer what a scan of the cache answers through random adds, label moves, deletes and relists (seed ${seed})`, async () => {
      const next = random(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
      const server = new Server();
      const make = (i: number): KubeObject => ({
        metadata: { name: `o${i}`, namespace: pick(NAMESPACES), labels: next() < 0.8 ? { team: pick(TEAMS) } : {} },
      });
      for (let i = 0; i < 40; i++) server.writeQuietly(make(i), false);
      const informer = informerOn(server);
      informer.start();
      try {
        await until(() => informer.hasSynced() && server.watch !== undefined);
        // One index added after the first list (built from the cache), one lazily by inNamespace().
        informer.addIndex('team', byTeam);
        expectIndexesMatchScans(informer);
        for (let step = 0; step < 400; step++) {
          const existing = [...server.objects.values()];
          const roll = next();
          if (roll < 0.3 || existing.length === 0) {
            server.write(make(100 + step), 'ADDED');
          } else if (roll < 0.65) {
            // An update that may move the object to another team (or none): a label index changes.
            const o = pick(existing);
            server.write({ ...o, metadata: { ...o.metadata, labels: next() < 0.8 ? { team: pick(TEAMS) } : {} } }, 'MODIFIED');
          } else if (roll < 0.85) {
            server.write(pick(existing), 'DELETED');
          } else {
            // Changes the watch never showed, then a relist: deletes, adds and updates at once.
            for (let k = 0; k < 5; k++) {
              const current = [...server.objects.values()];
              if (next() < 0.4 && current.length > 0) server.writeQuietly(pick(current), true);
              else if (next() < 0.5 && current.length > 0) {
                const o = pick(current);
                server.writeQuietly({ ...o, metadata: { ...o.metadata, labels: { team: pick(TEAMS) } } }, false);
              } else server.writeQuietly(make(1000 + step * 10 + k), false);
            }
            const lists = informer.stats.lists;
            server.expire();
            await until(() => informer.stats.lists > lists && server.watch !== undefined);
          }
          expect(keys(informer.list())).to.deep.equal([...server.objects.keys()].sort());
          expectIndexesMatchScans(informer);
        }
      } finally {
        informer.stop();
      }
    });
  }

  it('hands out the cached objects themselves, and refuses an index it does not have', async () => {
    const server = new Server();
    server.writeQuietly({ metadata: { name: 'a', namespace: 'org-a' } }, false);
    const informer = informerOn(server);
    informer.start();
    try {
      await until(() => informer.hasSynced());
      expect(informer.inNamespace('org-a')[0]).to.equal(informer.get('a', 'org-a'));
      expect(() => informer.byIndex('team', 'red')).to.throw(/no index 'team'/);
    } finally {
      informer.stop();
    }
  });
});
