// The delivery ledger: ticket ranges, one ConfigMap write for many confirmations, epochs no
// marker refers to dropped at load; and the in-memory ledger's marker plan with it.
import { expect } from 'chai';
import {
  DeliveryLedger,
  LEDGER_NAME,
  decodeRanges,
  encodeRanges,
  mergeRanges,
  parseTicket,
  referencedEpochs,
} from '../../../src/controllers/delivery-ledger.js';
import { ReportLedger } from '../../../src/controllers/reported.js';
import { KubeApiError, type KubeClient } from '../../../src/kube/rest.js';

interface Call {
  method: string;
  path: string;
  body?: unknown;
}

/** A ConfigMap API in memory (absent until created). */
function configMapClient(initial?: Record<string, string>): { client: KubeClient; calls: Call[]; data: () => Record<string, string> | undefined } {
  const calls: Call[] = [];
  let data = initial ? { ...initial } : undefined;
  const client = {
    async get(path: string) {
      calls.push({ method: 'GET', path });
      if (!data) throw new KubeApiError(404, 'not found', {});
      return { data };
    },
    async patch(path: string, body: { data: Record<string, string | null> }) {
      calls.push({ method: 'PATCH', path, body });
      if (!data) throw new KubeApiError(404, 'not found', {});
      for (const [k, v] of Object.entries(body.data)) {
        if (v === null) delete data[k];
        else data[k] = v;
      }
      return {};
    },
    async create(path: string, body: { data: Record<string, string> }) {
      calls.push({ method: 'POST', path, body });
      data = { ...body.data };
      return {};
    },
  };
  return { client: client as unknown as KubeClient, calls, data: () => data };
}

const ledger = (client: KubeClient, epoch = 'e1') => new DeliveryLedger({ client, namespace: 'ovim-system', epoch, flushDelayMs: 3_600_000, flushMaxDelayMs: 3_600_000 });

describe('delivery ledger: ranges and tickets', () => {
  it('encodes runs as ranges and back', () => {
    expect(encodeRanges([5, 1, 2, 3, 9, 10])).to.equal('1-3,5,9-10');
    expect(decodeRanges('1-3,5,9-10')).to.deep.equal([[1, 3], [5, 5], [9, 10]]);
    expect(decodeRanges('x,4-2,,7')).to.deep.equal([[7, 7]]);
    expect(mergeRanges([[1, 3], [9, 10]], [[4, 4], [6, 8]])).to.deep.equal([[1, 4], [6, 10]]);
  });

  it('parses tickets and nothing else', () => {
    expect(parseTicket('ab12.7')).to.deep.equal({ epoch: 'ab12', n: 7 });
    for (const bad of [undefined, '', 'ab12', 'ab12.0', 'AB.1', 'ab.1.2', 'a b.1']) expect(parseTicket(bad), String(bad)).to.equal(undefined);
  });

  it('names the epochs the markers refer to', () => {
    const objects = [{ status: { pendingEventsTicket: 'aa.1' } }, { status: {} }, { status: { pendingEventsTicket: 'bb.3' } }, {}];
    expect([...referencedEpochs(objects)].sort()).to.deep.equal(['aa', 'bb']);
  });
});

describe('DeliveryLedger', () => {
  it('writes many confirmations with one request, creating the ConfigMap the first time', async () => {
    const api = configMapClient();
    const l = ledger(api.client);
    await l.load(new Set());
    const tickets = Array.from({ length: 50 }, () => l.issue());
    for (const t of tickets) if (t !== 'e1.7') l.resolve(t);
    expect(l.isResolved('e1.1')).to.equal(true);
    expect(l.isResolved('e1.7'), 'never resolved').to.equal(false);
    await l.flush();
    expect(api.calls.map((c) => c.method)).to.deep.equal(['GET', 'PATCH', 'POST']);
    expect(api.calls[2]?.path).to.equal('/api/v1/namespaces/ovim-system/configmaps');
    expect(api.data()).to.deep.equal({ e1: '1-6,8-50' });
    expect(l.writes).to.equal(2);
    l.resolve('e1.7');
    await l.flush();
    expect(api.data()).to.deep.equal({ e1: '1-50' });
    expect(api.calls.at(-1)?.path).to.equal(`/api/v1/namespaces/ovim-system/configmaps/${LEDGER_NAME}`);
  });

  it('a steady stream of confirmations is written once per maximum delay, a pause ends the burst sooner', async () => {
    const api = configMapClient({});
    let now = 0;
    const due: { at: number; fn: () => void }[] = [];
    const timers = {
      now: () => now,
      set: (fn: () => void, ms: number) => {
        const t = { at: now + ms, fn };
        due.push(t);
        return t;
      },
      clear: (t: unknown) => void due.splice(due.indexOf(t as (typeof due)[number]), 1),
    };
    const advance = async (ms: number) => {
      now += ms;
      for (const t of due.filter((d) => d.at <= now)) {
        due.splice(due.indexOf(t), 1);
        t.fn();
      }
      await new Promise((r) => setImmediate(r));
    };
    const l = new DeliveryLedger({ client: api.client, namespace: 'ovim-system', epoch: 'e1', flushDelayMs: 2_000, flushMaxDelayMs: 10_000, timers });
    for (let i = 0; i < 50; i++) {
      l.resolve(l.issue());
      await advance(500);
    }
    // 25 s of confirmations every 0.5 s: written at 10 s and 20 s only.
    expect(l.writes).to.equal(2);
    await advance(2_000);
    expect(l.writes, 'the pause ends the burst').to.equal(3);
    expect(api.data()).to.deep.equal({ e1: '1-50' });
  });

  it('a later start reads earlier epochs and drops those no marker refers to (with its next write)', async () => {
    const api = configMapClient({ old1: '1-10', old2: '1-3' });
    const l = ledger(api.client, 'new');
    await l.load(new Set(['old1']));
    expect(l.isResolved('old1.4')).to.equal(true);
    expect(l.isResolved('old1.11')).to.equal(false);
    expect(l.isResolved('old2.1'), 'dropped: no marker refers to it').to.equal(false);
    await l.flush();
    expect(api.calls.map((c) => c.method), 'dropping alone writes nothing').to.deep.equal(['GET']);
    l.resolve('old1.11');
    await l.flush();
    expect(api.data()).to.deep.equal({ old1: '1-11' });
  });

  it('keeps confirmations in memory when a write fails and writes them later', async () => {
    const api = configMapClient({});
    let fail = true;
    const patch = api.client.patch.bind(api.client);
    api.client.patch = (async (...args: Parameters<KubeClient['patch']>) => {
      if (fail) throw new KubeApiError(500, 'etcd timeout', {});
      return patch(...args);
    }) as KubeClient['patch'];
    const l = ledger(api.client);
    l.resolve(l.issue());
    await l.flush();
    expect(l.pending, 'still to write').to.equal(true);
    expect(l.isResolved('e1.1')).to.equal(true);
    fail = false;
    await l.flush();
    expect(api.data()).to.deep.equal({ e1: '1' });
    expect(l.pending).to.equal(false);
    await l.stop();
  });
});

describe('ReportLedger with the delivery ledger', () => {
  it('a new owed reason gets a ticket; its confirmation resolves it without a requeue or a status write', async () => {
    const requeued: string[] = [];
    const durable = ledger(configMapClient().client);
    const r = new ReportLedger({ requeue: (k) => requeued.push(k), durable });
    const first = r.plan('ns/a', undefined, ['VDCCreated'], true);
    expect(first.changed).to.equal(true);
    expect(first.marker).to.deep.equal({ pendingEvents: ['VDCCreated'], pendingEventsTicket: 'e1.1' });
    r.written('ns/a', first.marker.pendingEvents, first.marker.pendingEventsTicket, undefined);
    r.track('ns/a', 'VDCCreated')(true);
    expect(durable.isResolved('e1.1')).to.equal(true);
    expect(requeued).to.deep.equal([]);
    expect(r.size, 'nothing kept for the key').to.equal(0);
    // The status still carries the marker: nothing else changed → left as it is (no write).
    const later = r.plan('ns/a', first.marker, [], false);
    expect(later.changed).to.equal(false);
    expect(r.owedFrom('ns/a', first.marker)).to.deep.equal([]);
    // Something else changed: the marker goes with that write.
    const folded = r.plan('ns/a', first.marker, [], true);
    expect(folded).to.deep.equal({ marker: { pendingEvents: undefined }, nulls: { pendingEvents: null, pendingEventsTicket: null }, changed: true });
  });

  it('a marker from before tickets is still cleared with a status write after its confirmation', () => {
    const requeued: string[] = [];
    const r = new ReportLedger({ requeue: (k) => requeued.push(k), durable: ledger(configMapClient().client) });
    r.carrying('ns/a', { pendingEvents: ['VDCCreated'] });
    r.confirm('ns/a', 'VDCCreated');
    expect(requeued).to.deep.equal(['ns/a']);
    const plan = r.plan('ns/a', { pendingEvents: ['VDCCreated'] }, [], false);
    expect(plan).to.deep.equal({ marker: { pendingEvents: undefined }, nulls: { pendingEvents: null }, changed: true });
  });

  it('a ticket replaced by a later write is resolved (no status carries it); the new one waits for every reason', () => {
    const durable = ledger(configMapClient().client);
    const r = new ReportLedger({ durable });
    const first = r.plan('k', undefined, ['OrganizationCreated'], true);
    r.written('k', first.marker.pendingEvents, first.marker.pendingEventsTicket, undefined);
    const created = r.track('k', 'OrganizationCreated');
    const second = r.plan('k', first.marker, ['OrganizationUpdated'], true);
    expect(second.marker).to.deep.equal({ pendingEvents: ['OrganizationCreated', 'OrganizationUpdated'], pendingEventsTicket: 'e1.2' });
    r.written('k', second.marker.pendingEvents, second.marker.pendingEventsTicket, first.marker.pendingEventsTicket);
    expect(durable.isResolved('e1.1')).to.equal(true);
    created(true);
    expect(durable.isResolved('e1.2'), 'OrganizationUpdated is not confirmed yet').to.equal(false);
    r.track('k', 'OrganizationUpdated')(true);
    expect(durable.isResolved('e1.2')).to.equal(true);
  });

  it('a marker of an earlier start: not in the ledger → owed; found delivered → resolved in that epoch', () => {
    const durable = ledger(configMapClient().client, 'now');
    const r = new ReportLedger({ durable });
    const marker = { pendingEvents: ['VDCCreated'], pendingEventsTicket: 'before.4' };
    expect(r.owedFrom('k', marker)).to.deep.equal(['VDCCreated']);
    r.carrying('k', marker);
    r.confirm('k', 'VDCCreated');
    expect(durable.isResolved('before.4')).to.equal(true);
    expect(r.owedFrom('k', marker)).to.deep.equal([]);
  });
});
