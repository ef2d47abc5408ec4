// The engine's bookkeeping without a cluster: the event stream and the route informer are
// in-memory feeds, deliveries go to a loopback receiver. A full backlog is reported once; only
// the leader delivers; a new leader replays only what is newer than the route's mark.
import { expect } from 'chai';
import type { EventObject } from '../../../src/events/store.js';
import { NamespaceOwners } from '../../../src/events/owners.js';
import type { ResilientInformer } from '../../../src/kube/informer.js';
import type { KubeClient } from '../../../src/kube/rest.js';
import { RouteEngine, type EventStream } from '../../../src/routes/engine.js';
import type { EventRoute } from '../../../src/routes/types.js';
import { Receiver } from '../../support/receiver.js';
import { waitFor } from '../../support/wait.js';

type Handler<T> = (obj: T, old?: T) => void;

class Feed<T extends { metadata?: { name?: string; namespace?: string } }> {
  readonly items = new Map<string, T>();
  private readonly handlers: Record<string, Handler<T>[]> = { add: [], update: [], delete: [] };
  on(event: 'add' | 'update' | 'delete', h: Handler<T>): this {
    this.handlers[event]?.push(h);
    return this;
  }
  list(): T[] {
    return [...this.items.values()];
  }
  get(name: string, namespace?: string): T | undefined {
    return this.items.get(`${namespace ?? ''}/${name}`);
  }
  put(obj: T): void {
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const h of this.handlers[old ? 'update' : 'add'] ?? []) h(obj, old);
  }
  /** Like the informer's first list: every item already there is an add. */
  start(): void {
    for (const obj of this.items.values()) for (const h of this.handlers.add ?? []) h(obj);
  }
  stop(): void {}
  async waitForSync(): Promise<void> {}
}

interface Recorded {
  reason: string;
  message: string;
}

function event(i: number, at: number, reason = 'QuotaExceeded'): EventObject {
  const t = new Date(at).toISOString();
  return {
    metadata: { name: `e${i}`, namespace: 'org-a', uid: `uid-${i}` },
    involvedObject: { kind: 'VirtualDataCenter', name: 'dev' },
    type: 'Warning',
    reason,
    message: `m${i}`,
    firstTimestamp: t,
    lastTimestamp: t,
    count: 1,
  };
}

describe('route engine', function () {
  const receiver = new Receiver();
  before(() => receiver.listen(0));
  after(() => receiver.close());

  function setup(options: { leader: () => boolean; maxBacklog?: number; route?: Partial<EventRoute> }) {
    const routes = new Feed<EventRoute>();
    const events = new Feed<EventObject>();
    const recorded: Recorded[] = [];
    const patches: unknown[] = [];
    const client = { patch: async (_p: string, body: unknown) => (patches.push(body), {}), get: async () => ({}) } as unknown as KubeClient;
    const route: EventRoute = {
      apiVersion: 'ovim.io/v1',
      kind: 'EventRoute',
      metadata: { name: 'r', namespace: 'org-a', generation: 1, creationTimestamp: new Date(1_000_000) },
      spec: { sink: { webhook: { url: receiver.url('/engine') } } },
      ...options.route,
    };
    routes.put(route);
    const engine = new RouteEngine(routes as unknown as ResilientInformer<EventRoute>, {
      client,
      recorder: { record: (_o, _t, reason, message) => void recorded.push({ reason, message }) },
      events: events as unknown as EventStream,
      // org-a is organization a's by its labels (an unlabelled org-a would be nobody's).
      owners: (() => { const o = new NamespaceOwners(); o.set('org-a', 'a'); return o; })(),
      operatorNamespace: 'ovim-system',
      isLeader: options.leader,
      allowHttp: true,
      allowCidrs: ['127.0.0.1/32'],
      maxBacklog: options.maxBacklog,
      retry: { maxAttempts: 1, baseMs: 1, capMs: 1 },
      statusIntervalMs: 50,
      leadershipPollMs: 20,
    });
    return { engine, routes, events, recorded, patches };
  }

  it('reports a full backlog once as DeliveryFailed and counts every drop', async function () {
    receiver.requests.length = 0;
    const { engine, events, recorded, patches } = setup({ leader: () => true, maxBacklog: 2 });
    await engine.start();
    // Ten events at once: one in flight, two waiting, seven dropped.
    for (let i = 0; i < 10; i++) events.put(event(i, 2_000_000 + i));
    await waitFor('idle', async () => engine.waitIdle(1_000));
    const dropped = recorded.filter((r) => r.reason === 'DeliveryFailed' && r.message.includes('backlog'));
    expect(dropped, 'one Warning for the overflow').to.have.length(1);
    expect(receiver.at('/engine')).to.have.length(3);
    await waitFor('status with the drops', async () =>
      patches.some((p) => (p as { status?: { droppedCount?: number; deliveredCount?: number } }).status?.droppedCount === 7),
    );
    await engine.stop();
  });

  it('a route the leader sees after its first events still delivers them, once', async function () {
    receiver.requests.length = 0;
    const { engine, routes, events } = setup({ leader: () => true });
    const late = routes.list()[0] as EventRoute;
    routes.items.clear();
    await engine.start();
    // The events watch ran ahead of the routes watch: three events after the route's creation,
    // one before it.
    events.put(event(0, 500_000));
    for (let i = 1; i <= 3; i++) events.put(event(i, 2_000_000 + i));
    routes.put(late);
    await waitFor('three delivered', async () => receiver.at('/engine').length === 3);
    events.put(event(4, 2_000_010));
    await waitFor('the next one live', async () => receiver.at('/engine').length === 4);
    expect(await engine.waitIdle(1_000)).to.equal(true);
    expect(receiver.at('/engine').map((r) => r.headers['idempotency-key']).sort()).to.deep.equal(['uid-1:1', 'uid-2:1', 'uid-3:1', 'uid-4:1']);
    await engine.stop();
  });

  it('a follower delivers nothing; a new leader replays only occurrences newer than deliveredThrough', async function () {
    let leader = false;
    receiver.requests.length = 0;
    const mark = new Date(2_000_005).toISOString();
    const { engine, events } = setup({ leader: () => leader, route: { status: { deliveredThrough: mark, deliveredCount: 6 } } });
    await engine.start();
    for (let i = 0; i < 10; i++) events.put(event(i, 2_000_000 + i)); // e0..e5 were delivered by the old leader
    expect(engine.isLeading()).to.equal(false);
    // A follower queues nothing (it returns before enqueueing), so nothing can be in flight.
    expect(await engine.waitIdle(1)).to.equal(true);
    expect(receiver.at('/engine')).to.have.length(0);
    leader = true;
    await waitFor('leading', async () => engine.isLeading());
    await waitFor('four delivered', async () => receiver.at('/engine').length === 4);
    expect(receiver.at('/engine').map((r) => r.headers['idempotency-key']).sort()).to.deep.equal(['uid-6:1', 'uid-7:1', 'uid-8:1', 'uid-9:1']);
    await engine.stop();
  });
});
