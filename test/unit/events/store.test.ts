// The EventStore: compact records from Events as JSON (string timestamps), in-place updates, deletions,
// bounded size with oldest-first eviction, and indexed queries that agree with the reference.
import { expect } from 'chai';
import type { V1Namespace } from '@kubernetes/client-node';
import { LIMITS, compareEvents, runQuery, type EventFilters, type PageRequest, type Scope } from '../../../src/events/query.js';
import { NamespaceOwners } from '../../../src/events/owners.js';
import { EventStore, OrderedList, compactEvent, type EventObject } from '../../../src/events/store.js';
import { rawEvent } from '../http/support.js';
import { seededRandom as random } from '../../support/random.js';


describe('EventStore', () => {
  describe('compact records', () => {
    it('reads raw watch objects (string timestamps) and keeps only what the API uses', () => {
      const raw = rawEvent({
        name: 'vdc-dev.1',
        namespace: 'org-acme',
        uid: 'u-1',
        type: 'Warning',
        reason: 'QuotaExceeded',
        message: 'quota exceeded',
        kind: 'VirtualDataCenter',
        objectName: 'dev',
        first: '2025-01-01T00:00:00Z',
        last: '2025-01-01T00:05:00Z',
        count: 4,
        annotations: { 'ovim.io/actor': 'alex', 'ovim.io/owner': 'sam', 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev' },
      });
      const record = compactEvent(raw);
      expect(record).to.deep.equal({
        uid: 'u-1',
        name: 'vdc-dev.1',
        namespace: 'org-acme',
        type: 'Warning',
        reason: 'QuotaExceeded',
        message: 'quota exceeded',
        component: 'ovim-controller',
        kind: 'VirtualDataCenter',
        objectName: 'dev',
        firstTimestamp: Date.parse('2025-01-01T00:00:00Z'),
        lastTimestamp: Date.parse('2025-01-01T00:05:00Z'),
        count: 4,
        organization: 'acme',
        vdc: 'dev',
        actor: 'alex',
        owner: 'sam',
        actorVerified: false,
        ownerVerified: false,
      });
    });

    it('falls back to series, eventTime and creationTimestamp like kubectl, and derives organization and vdc', () => {
      const event: EventObject = {
        metadata: { name: 'x', namespace: 'default', uid: 'u', creationTimestamp: '2025-01-01T00:00:00Z' },
        involvedObject: { kind: 'Organization', name: 'acme' },
        eventTime: '2025-01-01T00:00:01.500Z',
        series: { count: 9, lastObservedTime: '2025-01-01T00:10:00Z' },
        reportingComponent: 'ovim-api',
        type: 'Normal',
        reason: 'OrganizationCreated',
      };
      const record = compactEvent(event);
      expect(record?.lastTimestamp).to.equal(Date.parse('2025-01-01T00:10:00Z'));
      expect(record?.firstTimestamp).to.equal(Date.parse('2025-01-01T00:00:01.500Z'));
      expect(record?.count).to.equal(9);
      expect(record?.component).to.equal('ovim-api');
      expect(record?.organization).to.equal('acme');
      expect(compactEvent(rawEvent({ name: 'v', namespace: 'org-acme', kind: 'VirtualDataCenter', objectName: 'dev' }))?.vdc).to.equal('dev');
      expect(compactEvent(rawEvent({ name: 'p', namespace: 'org-acme' }))?.organization).to.equal('acme');
      expect(compactEvent(rawEvent({ name: 'p', namespace: 'vdc-acme-dev' }))?.organization).to.equal(undefined);
    });

    it('ignores objects without a name', () => {
      expect(compactEvent({ metadata: {}, involvedObject: {} })).to.equal(undefined);
    });
  });

  describe('updates', () => {
    it('updates in place on a count bump and moves the event to the top', () => {
      const store = new EventStore();
      store.upsert(rawEvent({ name: 'a', namespace: 'ns', uid: 'A', at: 10 }));
      store.upsert(rawEvent({ name: 'b', namespace: 'ns', uid: 'B', at: 20 }));
      const before = store.get('A');
      store.upsert(rawEvent({ name: 'a', namespace: 'ns', uid: 'A', at: 30, count: 2, message: 'again' }));
      expect(store.size).to.equal(2);
      expect(store.get('A')?.count).to.equal(2);
      expect(before?.count).to.equal(1, 'records are immutable: the old one is replaced, not changed');
      expect(store.get('A')?.message).to.equal('again');
      const page = store.query({}, { kind: 'all' }, { page: 1, limit: 10 });
      expect(page.items.map((r) => r.uid)).to.deep.equal(['A', 'B']);
      expect(store.query({ namespace: 'ns' }, { kind: 'all' }, { page: 1, limit: 10 }).items.map((r) => r.uid)).to.deep.equal(['A', 'B']);
    });

    it('re-indexes when an indexed field changes', () => {
      const store = new EventStore();
      store.upsert(rawEvent({ name: 'a', namespace: 'ns', uid: 'A', reason: 'One' }));
      store.upsert(rawEvent({ name: 'a', namespace: 'ns', uid: 'A', reason: 'Two' }));
      expect(store.query({ reason: 'One' }, { kind: 'all' }, { page: 1, limit: 10 }).total).to.equal(0);
      expect(store.query({ reason: 'Two' }, { kind: 'all' }, { page: 1, limit: 10 }).total).to.equal(1);
    });

    it('removes deleted events from every index', () => {
      const store = new EventStore();
      const e = rawEvent({ name: 'a', namespace: 'ns', uid: 'A', reason: 'R', type: 'Warning' });
      store.upsert(e);
      store.upsert(rawEvent({ name: 'b', namespace: 'ns', uid: 'B' }));
      expect(store.remove(e)).to.equal(true);
      expect(store.remove(e)).to.equal(false);
      expect(store.size).to.equal(1);
      for (const filters of [{}, { namespace: 'ns' }, { reason: 'R' }, { type: 'Warning' as const }]) {
        const uids = store.query(filters, { kind: 'all' }, { page: 1, limit: 10 }).items.map((r) => r.uid);
        expect(uids).to.not.include('A');
      }
    });
  });

  it('follows an informer, including a recreated Event reported as an update by a relist', () => {
    type Handler = (obj: EventObject, old?: EventObject) => void;
    const handlers: Record<string, Handler[]> = { add: [], update: [], delete: [] };
    const feed = { on: (event: 'add' | 'update' | 'delete', h: Handler) => handlers[event]?.push(h) };
    const emit = (event: string, obj: EventObject, old?: EventObject) => handlers[event]?.forEach((h) => h(obj, old));
    const store = new EventStore().follow(feed);
    const first = rawEvent({ name: 'e', namespace: 'ns', uid: 'OLD', at: 1 });
    emit('add', first);
    expect(store.size).to.equal(1);
    const bumped = rawEvent({ name: 'e', namespace: 'ns', uid: 'OLD', at: 2, count: 2 });
    emit('update', bumped, first);
    expect(store.get('OLD')?.count).to.equal(2);
    const recreated = rawEvent({ name: 'e', namespace: 'ns', uid: 'NEW', at: 3 });
    emit('update', recreated, bumped);
    expect(store.size).to.equal(1);
    expect(store.get('OLD')).to.equal(undefined);
    expect(store.get('NEW')?.count).to.equal(1);
    emit('delete', recreated);
    expect(store.size).to.equal(0);
  });

  it("an organization admin's query follows VDC namespaces appearing and emptying", () => {
    const store = new EventStore();
    const owners = store.namespaceOwners;
    owners.set('org-acme', 'acme');
    owners.set('vdc-acme-one', 'acme');
    owners.set('vdc-acme-two', 'acme');
    const scope = { kind: 'organization' as const, organization: 'acme' };
    const page = { page: 1, limit: 50 };
    const total = () => store.query({}, scope, page).total;
    store.upsert(rawEvent({ name: 'a', namespace: 'org-acme', uid: 'A' }));
    store.upsert(rawEvent({ name: 'b', namespace: 'vdc-acme-one', uid: 'B' }));
    expect(total()).to.equal(2);
    const fresh = rawEvent({ name: 'c', namespace: 'vdc-acme-two', uid: 'C' });
    store.upsert(fresh);
    expect(total()).to.equal(3, 'a new VDC namespace is seen');
    store.remove(fresh);
    expect(total()).to.equal(2);
    store.upsert(rawEvent({ name: 'd', namespace: 'vdc-acme-two', uid: 'D' }));
    expect(total()).to.equal(3, 'and again after it emptied');
    // vdc-acme-two-x: VDC "two-x" of acme, or VDC "x" of organization "acme-two"; its label says
    // the latter. The event carries no annotation (a kubelet event): the label alone decides.
    owners.set('vdc-acme-two-x', 'acme-two');
    store.upsert(rawEvent({ name: 'e', namespace: 'vdc-acme-two-x', uid: 'E', component: 'kubelet' }));
    expect(total()).to.equal(3);
    const acmeTwo = { kind: 'organization' as const, organization: 'acme-two' };
    expect(store.query({}, acmeTwo, page).items.map((r) => r.uid)).to.deep.equal(['E']);
    // Owners change after the answer was cached: the next query follows them.
    owners.delete('vdc-acme-two-x');
    expect(store.query({}, acmeTwo, page).total).to.equal(0, 'unknown owner: nobody but system admins');
    expect(total()).to.equal(3);
    owners.set('vdc-acme-two-x', 'acme');
    expect(total()).to.equal(4, 'relabelled as acme\'s');
    owners.delete('vdc-acme-one');
    expect(total()).to.equal(3, 'a namespace that is no longer known');
    expect(store.query({}, { kind: 'all' }, page).total).to.equal(4);
  });

  it('follows a namespace informer (only namespaces the operator manages)', () => {
    const handlers: Record<string, ((ns: V1Namespace) => void)[]> = { add: [], update: [], delete: [] };
    const owners = new NamespaceOwners().follow({
      on: (event: 'add' | 'update' | 'delete', handler: (ns: V1Namespace) => void) => handlers[event]?.push(handler),
    });
    const emit = (event: string, ns: V1Namespace) => handlers[event]?.forEach((h) => h(ns));
    const ns = (name: string, labels: Record<string, string>): V1Namespace => ({ metadata: { name, labels } });
    const managed = { 'app.kubernetes.io/managed-by': 'ovim-operator' };
    emit('add', ns('vdc-acme-corp-x', { ...managed, 'ovim.io/organization': 'acme-corp', 'ovim.io/vdc': 'x' }));
    emit('add', ns('vdc-acme-fake', { 'ovim.io/organization': 'acme' }));
    expect(owners.ownerOf('vdc-acme-corp-x')).to.equal('acme-corp');
    expect(owners.ownerOf('vdc-acme-fake')).to.equal(undefined);
    const before = owners.generation;
    emit('update', ns('vdc-acme-corp-x', { ...managed, 'ovim.io/organization': 'acme-corp', 'ovim.io/vdc': 'x' }));
    expect(owners.generation).to.equal(before, 'no change, no new generation');
    emit('update', ns('vdc-acme-corp-x', { 'ovim.io/organization': 'acme-corp' }));
    expect(owners.ownerOf('vdc-acme-corp-x')).to.equal(undefined);
    emit('update', ns('vdc-acme-corp-x', { ...managed, 'ovim.io/organization': 'acme-corp' }));
    expect([...owners.namespacesOf('acme-corp')]).to.deep.equal(['vdc-acme-corp-x']);
    emit('delete', ns('vdc-acme-corp-x', {}));
    expect(owners.ownerOf('vdc-acme-corp-x')).to.equal(undefined);
    expect(owners.size).to.equal(0);
  });

  describe('bounded size', () => {
    it('evicts the oldest by last timestamp first and counts evictions', () => {
      const store = new EventStore({ maxEvents: 3, namespaceShare: 1 });
      store.upsert(rawEvent({ name: 'mid', namespace: 'ns', uid: 'M', at: 50 }));
      store.upsert(rawEvent({ name: 'old', namespace: 'ns', uid: 'O', at: 10 }));
      store.upsert(rawEvent({ name: 'new', namespace: 'ns', uid: 'N', at: 90 }));
      store.upsert(rawEvent({ name: 'newer', namespace: 'ns', uid: 'N2', at: 95 }));
      expect(store.size).to.equal(3);
      expect(store.get('O')).to.equal(undefined);
      expect(store.stats()).to.deep.equal({ size: 3, maxEvents: 3, evictions: 1, namespaceEvictions: 0 });
      // An event older than everything kept is itself the one evicted.
      store.upsert(rawEvent({ name: 'ancient', namespace: 'ns', uid: 'A', at: 1 }));
      expect(store.get('A')).to.equal(undefined);
      expect(store.stats().evictions).to.equal(2);
      expect([...store.records()].map((r) => r.uid)).to.deep.equal(['N2', 'N', 'M']);
      expect(store.query({ namespace: 'ns' }, { kind: 'all' }, { page: 1, limit: 10 }).total).to.equal(3);
    });

    // Regression (issue 10, M1): 1 MB messages dated in year 9999 were stored whole, sorted
    // first, were served whole and pushed the real events out of the store.
    it('cuts messages and every other text field, so a record stays small', () => {
      const store = new EventStore();
      const huge = 'm'.repeat(1024 * 1024);
      const long = 'x'.repeat(100_000);
      store.upsert(
        rawEvent({
          name: 'big', namespace: 'ns', uid: 'B', message: huge, reason: long, component: long, kind: long, objectName: long,
          annotations: { 'ovim.io/actor': long, 'ovim.io/owner': long, 'ovim.io/organization': long, 'ovim.io/vdc': long },
        }),
      );
      const r = store.get('B');
      expect(r?.message.length).to.equal(1024);
      for (const field of ['reason', 'component', 'kind', 'objectName', 'actor', 'owner', 'organization', 'vdc'] as const) {
        expect(r?.[field]?.length, field).to.be.at.most(253);
      }
      expect(JSON.stringify(r).length).to.be.below(4096);
    });

    it('clamps timestamps more than 30 s in the future to now', () => {
      const now = Date.now();
      const far = compactEvent(rawEvent({ name: 'f', namespace: 'ns', first: '9999-12-31T23:59:59Z', last: '9999-12-31T23:59:59Z' }), now);
      expect(far?.lastTimestamp).to.equal(now);
      expect(far?.firstTimestamp).to.equal(now);
      // Clock skew of up to 30 s is left alone.
      const soon = new Date(now + 20_000).toISOString();
      const skewed = compactEvent(rawEvent({ name: 's', namespace: 'ns', first: soon, last: soon }), now);
      expect(skewed?.lastTimestamp).to.equal(Date.parse(soon));
      // A future-dated event does not outrank real, newer ones for long: it is "now" when seen.
      const store = new EventStore();
      store.upsert(rawEvent({ name: 'planted', namespace: 'ns', uid: 'P', last: '9999-01-01T00:00:00Z' }));
      expect(store.get('P')?.lastTimestamp).to.be.at.most(Date.now());
    });

    it('caps one namespace at 10% of the capacity: its own oldest go first, counted', () => {
      const store = new EventStore({ maxEvents: 100 });
      for (let i = 0; i < 5; i++) store.upsert(rawEvent({ name: `real${i}`, namespace: 'org-acme', uid: `R${i}`, at: i }));
      for (let i = 0; i < 500; i++) store.upsert(rawEvent({ name: `flood${i}`, namespace: 'attacker', uid: `F${i}`, at: 1000 + i }));
      expect(store.query({ namespace: 'attacker' }, { kind: 'all' }, { page: 1, limit: 200 }).total).to.equal(10);
      expect(store.query({ namespace: 'org-acme' }, { kind: 'all' }, { page: 1, limit: 200 }).total).to.equal(5);
      expect(store.get('F499')).to.not.equal(undefined, 'the newest flood events are kept');
      expect(store.get('F0')).to.equal(undefined);
      expect(store.stats()).to.deep.equal({ size: 15, maxEvents: 100, evictions: 490, namespaceEvictions: 490 });
      // An update of an event already stored is no new event: nothing is evicted for it.
      store.upsert(rawEvent({ name: 'flood499', namespace: 'attacker', uid: 'F499', at: 5000, count: 2 }));
      expect(store.stats().namespaceEvictions).to.equal(490);
    });

    it('defaults to 100k events', () => {
      expect(new EventStore().maxEvents).to.equal(100_000);
    });

    it('keeps its order through many head removals (compaction)', () => {
      const store = new EventStore({ maxEvents: 500, namespaceShare: 1 });
      for (let i = 0; i < 5000; i++) store.upsert(rawEvent({ name: `e${i}`, namespace: `ns${i % 3}`, uid: `u${i}`, at: i }));
      expect(store.size).to.equal(500);
      expect(store.stats().evictions).to.equal(4500);
      const uids = [...store.records()].map((r) => r.uid);
      expect(uids[0]).to.equal('u4999');
      expect(uids[499]).to.equal('u4500');
      for (let i = 1; i < uids.length; i++) expect(uids[i]).to.equal(`u${4999 - i}`);
    });

    it('an ordered list stays sorted under random inserts and removals', () => {
      const rnd = random(42);
      const list = new OrderedList();
      const kept: ReturnType<typeof compactEvent>[] = [];
      for (let i = 0; i < 3000; i++) {
        if (rnd() < 0.35 && kept.length > 0) {
          const at = rnd() < 0.5 ? 0 : Math.floor(rnd() * kept.length);
          const victim = kept.splice(at, 1)[0];
          expect(list.remove(victim as NonNullable<typeof victim>)).to.equal(true);
        } else {
          const r = compactEvent(rawEvent({ name: `e${Math.floor(rnd() * 100)}`, namespace: 'ns', uid: `u${i}`, at: Math.floor(rnd() * 30) }));
          list.insert(r as NonNullable<typeof r>);
          kept.push(r);
        }
      }
      const inList = Array.from({ length: list.size }, (_, i) => list.nth(i));
      const expected = (kept as NonNullable<(typeof kept)[number]>[]).sort(compareEvents);
      expect(inList.map((r) => r.uid)).to.deep.equal(expected.map((r) => r.uid));
    });
  });

  describe('indexed queries agree with the reference', () => {
    const namespaces = ['default', 'kube-system', 'org-acme', 'org-acme-corp', 'vdc-acme-dev', 'vdc-acme-prod', 'vdc-acme-corp-x', 'org-globex', 'vdc-globex-a', 'vdc-nobody-z'];
    // The owners the namespace labels give; some change during the run (relabelled, deleted).
    const ownerChoices: [string, (string | undefined)[]][] = [
      ['vdc-acme-dev', ['acme', undefined]],
      ['vdc-acme-prod', ['acme', 'globex', undefined]],
      ['vdc-acme-corp-x', ['acme-corp', 'acme', undefined]],
      ['vdc-globex-a', ['globex', 'acme']],
      ['org-acme', ['acme']],
    ];
    const reasons = ['VDCCreated', 'QuotaExceeded', 'VMStarted', 'OrganizationCreated', 'Pulled'];
    const kinds = ['Organization', 'VirtualDataCenter', 'VirtualMachine', 'Pod'];
    const objectNames = ['acme', 'acme-corp', 'globex', 'dev', 'x', 'vm1'];
    const users = ['alex', 'sam', 'kim'];
    const orgs = ['acme', 'acme-corp', 'globex'];
    const scopes: Scope[] = [
      { kind: 'all' },
      ...orgs.map((organization): Scope => ({ kind: 'organization', organization })),
      ...orgs.flatMap((organization) => users.map((username): Scope => ({ kind: 'own', organization, username }))),
    ];

    for (const seed of [1, 2, 3, 4, 5]) {
      it(`random events, filters, scopes and pages (seed ${seed})`, () => {
        const rnd = random(seed);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
        const maybe = <T>(p: number, v: () => T): T | undefined => (rnd() < p ? v() : undefined);
        const owners = new NamespaceOwners();
        for (const [ns, choices] of ownerChoices) owners.set(ns, choices[0]);
        const store = new EventStore({ maxEvents: 400, namespaceOwners: owners });
        const live = new Map<string, EventObject>();
        const check = (queries: number) => {
          const records = [...store.records()];
          expect(records.length).to.equal(store.size);
          for (let q = 0; q < queries; q++) {
            const filters: EventFilters = {};
            if (rnd() < 0.3) filters.type = pick(['Normal', 'Warning'] as const);
            if (rnd() < 0.3) filters.namespace = pick(namespaces);
            if (rnd() < 0.2) filters.reason = pick(reasons);
            if (rnd() < 0.2) filters.kind = pick(kinds);
            if (rnd() < 0.2) filters.name = pick(objectNames);
            if (rnd() < 0.2) filters.organization = pick(orgs);
            if (rnd() < 0.15) filters.vdc = pick(['dev', 'prod', 'x']);
            if (rnd() < 0.15) filters.component = pick(['OVIM', 'api', 'let', 'none']);
            if (rnd() < 0.2) filters.since = Date.parse('2025-01-01T00:00:00Z') + Math.floor(rnd() * 40) * 1000;
            const scope = pick(scopes);
            const page: PageRequest = { page: 1 + Math.floor(rnd() * 4), limit: pick([1, 3, 10, LIMITS.events.max]) };
            const expected = runQuery(records, filters, scope, page, owners);
            const actual = store.query(filters, scope, page);
            const describe = JSON.stringify({ filters, scope, page });
            expect(actual.total, `total for ${describe}`).to.equal(expected.total);
            expect(actual.items.map((r) => r.uid), `items for ${describe}`).to.deep.equal(expected.items.map((r) => r.uid));
          }
        };
        for (let i = 0; i < 900; i++) {
          // Queries between changes too: whatever the store remembers must follow them.
          if (i % 50 === 49) check(10);
          if (i % 100 === 77) {
            const [ns, choices] = pick(ownerChoices);
            owners.set(ns, pick(choices));
          }
          const op = rnd();
          if (op < 0.1 && live.size > 0) {
            const victim = pick([...live.values()]);
            store.remove(victim);
            live.delete(victim.metadata.uid as string);
            continue;
          }
          const bump = op < 0.3 && live.size > 0 ? pick([...live.values()]) : undefined;
          const namespace = bump?.metadata.namespace ?? pick(namespaces);
          const annotations: Record<string, string> = {};
          const org = maybe(0.5, () => pick(orgs));
          if (org) annotations['ovim.io/organization'] = org;
          const actor = maybe(0.5, () => pick(users));
          if (actor) annotations['ovim.io/actor'] = actor;
          const owner = maybe(0.3, () => pick(users));
          if (owner) annotations['ovim.io/owner'] = owner;
          const vdc = maybe(0.3, () => pick(['dev', 'prod', 'x']));
          if (vdc) annotations['ovim.io/vdc'] = vdc;
          const event = rawEvent({
            name: bump?.metadata.name ?? `ev${i % 50}.${i}`,
            namespace,
            uid: bump?.metadata.uid ?? `uid-${seed}-${i}`,
            type: rnd() < 0.3 ? 'Warning' : 'Normal',
            reason: pick(reasons),
            kind: pick(kinds),
            objectName: pick(objectNames),
            component: pick(['ovim-controller', 'ovim-api', 'kubelet']),
            // Few distinct timestamps, so ties (broken by name) are common.
            at: Math.floor(rnd() * 40),
            count: 1 + Math.floor(rnd() * 5),
            annotations,
          });
          store.upsert(event);
          live.set(event.metadata.uid as string, event);
        }
        check(300);
      });
    }
  });
});
