// EventCorrelator decisions with a fake clock: dedup window, aggregation at the 10th distinct
// message, token bucket burst and refill, bounded LRU caches.
import { expect } from 'chai';
import {
  SpamFilter,
  AGGREGATE_PREFIX,
  EventCorrelator,
  LruCache,
  decide,
  eventName,
  type EventInput,
} from '../../../src/events/correlator.js';

const MINUTE = 60_000;

class FakeClock {
  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

function input(overrides: Partial<EventInput> & { name?: string } = {}): EventInput {
  const { name = 'dev', ...rest } = overrides;
  return {
    namespace: 'org-acme',
    involvedObject: { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', name, namespace: 'org-acme', uid: `uid-${name}` },
    type: 'Warning',
    reason: 'QuotaExceeded',
    message: 'cpu used 4 of 4',
    component: 'ovim-controller',
    reportingInstance: 'pod-1',
    annotations: { 'ovim.io/organization': 'acme', 'ovim.io/vdc': name },
    ...rest,
  };
}

describe('EventCorrelator', function () {
  let clock: FakeClock;
  let correlator: EventCorrelator;
  /** The sink's spam filter on the same clock (the sink owns it; the correlator keeps no delivery state). */
  let spam: SpamFilter;

  beforeEach(function () {
    clock = new FakeClock();
    correlator = new EventCorrelator({ clock: clock.now, random: () => 0.5 });
    spam = new SpamFilter({ clock: clock.now });
  });

  describe('dedup', function () {
    it('folds identical records within the window into one Event with a growing count', function () {
      const first = correlator.observe(input());
      expect(first.action).to.equal('create');
      expect(first.series.count).to.equal(1);
      clock.advance(30_000);
      const second = correlator.observe(input());
      expect(second.action).to.equal('patch');
      expect(second.series).to.equal(first.series);
      expect(second.series.count).to.equal(2);
      expect(second.series.lastTimestamp).to.equal(clock.ms);
      expect(second.series.firstTimestamp).to.equal(clock.ms - 30_000);
    });

    it('keeps the window sliding from the latest occurrence', function () {
      const first = correlator.observe(input());
      for (let i = 0; i < 5; i += 1) {
        clock.advance(9 * MINUTE);
        expect(correlator.observe(input()).series).to.equal(first.series);
      }
      expect(first.series.count).to.equal(6);
    });

    it('starts a new Event once the window has passed', function () {
      const first = correlator.observe(input());
      clock.advance(10 * MINUTE + 1);
      const later = correlator.observe(input());
      expect(later.action).to.equal('create');
      expect(later.series).to.not.equal(first.series);
      expect(later.series.count).to.equal(1);
    });

    it('keeps different messages, types, reasons, objects, sources and actors apart', function () {
      const base = correlator.observe(input()).series;
      const variants: EventInput[] = [
        input({ message: 'memory used 8Gi of 8Gi' }),
        input({ reason: 'QuotaThresholdReached' }),
        input({ type: 'Normal', reason: 'VDCUpdated' }),
        input({ name: 'other' }),
        input({ component: 'ovim-api' }),
        input({ annotations: { 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev', 'ovim.io/actor': 'a-user' } }),
      ];
      const keys = new Set([base.key]);
      for (const v of variants) {
        const observed = correlator.observe(v);
        expect(observed.action, v.message + v.reason + v.type).to.equal('create');
        keys.add(observed.series.key);
      }
      expect(keys.size).to.equal(variants.length + 1);
      expect(base.count).to.equal(1);
    });

    it('ignores resourceVersion, which changes on every write of the object', function () {
      const a = correlator.observe(input()).series;
      const withRv = input();
      withRv.involvedObject = { ...withRv.involvedObject, resourceVersion: '4242' };
      expect(correlator.observe(withRv).series).to.equal(a);
    });

    it('names Events <object>.<hex> as client-go does, within 253 characters', function () {
      const name = correlator.observe(input()).series.name;
      expect(name).to.match(/^dev\.[0-9a-f]{16,}$/);
      const long = eventName('a'.repeat(300), clock.ms, () => 0.1);
      expect(long.length).to.be.at.most(253);
      expect(long).to.match(/^a+\.[0-9a-f]+$/);
    });
  });

  describe('decision (create / patch / skip)', function () {
    it('decide: a series within the dedup window is patched, none or an expired one is created, a full queue admits only a fold into a queued write', function () {
      const now = 100 * MINUTE;
      const within = now - 10 * MINUTE;
      const expired = now - 10 * MINUTE - 1;
      const table: [Parameters<typeof decide>[0], boolean, ReturnType<typeof decide>][] = [
        [undefined, false, 'create'],
        [{ lastTimestamp: within, pending: false }, false, 'patch'],
        [{ lastTimestamp: within, pending: true }, false, 'patch'],
        [{ lastTimestamp: expired, pending: true }, false, 'create'],
        [undefined, true, 'skip'],
        [{ lastTimestamp: within, pending: false }, true, 'skip'],
        [{ lastTimestamp: expired, pending: true }, true, 'skip'],
        [{ lastTimestamp: within, pending: true }, true, 'patch'],
      ];
      for (const [existing, full, expected] of table) {
        expect(decide(existing, now, 10 * MINUTE, full), JSON.stringify({ existing, full })).to.equal(expected);
      }
    });

    it('correlate with a full queue: skip changes nothing; a record folding into a queued write is a patch', function () {
      const first = correlator.observe(input());
      const full = (pending: boolean) => ({ full: true, isPending: (s: unknown) => pending && s === first.series });
      expect(correlator.correlate(input({ message: 'another message' }), full(true)).action).to.equal('skip');
      expect(correlator.correlate(input(), full(false)).action).to.equal('skip');
      expect(first.series.count, 'skipped records are not counted').to.equal(1);
      // The skipped distinct message left no trace in the aggregation either: 9 more distinct
      // messages are needed before records combine.
      for (let i = 0; i < 8; i += 1) expect(correlator.observe(input({ message: `m${i}` })).aggregated).to.equal(false);
      const folded = correlator.correlate(input(), full(true));
      expect(folded.action).to.equal('patch');
      expect(folded.action !== 'skip' && folded.series).to.equal(first.series);
      expect(first.series.count).to.equal(2);
    });
  });

  describe('aggregation', function () {
    it('combines at the 10th distinct message for one object and reason', function () {
      const series = [];
      for (let i = 1; i <= 9; i += 1) {
        const o = correlator.observe(input({ message: `cpu used ${i}` }));
        expect(o.aggregated, `message ${i}`).to.equal(false);
        expect(o.action).to.equal('create');
        series.push(o.series);
        clock.advance(1000);
      }
      const tenth = correlator.observe(input({ message: 'cpu used 10' }));
      expect(tenth.aggregated).to.equal(true);
      expect(tenth.action).to.equal('create');
      expect(tenth.series.message).to.equal(`${AGGREGATE_PREFIX}cpu used 10`);
      expect(series).to.not.include(tenth.series);

      // Further messages, new or old, bump the combined Event and carry the latest message.
      const eleventh = correlator.observe(input({ message: 'cpu used 11' }));
      const repeat = correlator.observe(input({ message: 'cpu used 3' }));
      expect(eleventh.series).to.equal(tenth.series);
      expect(repeat.series).to.equal(tenth.series);
      expect(tenth.series.count).to.equal(3);
      expect(tenth.series.message).to.equal(`${AGGREGATE_PREFIX}cpu used 3`);
    });

    it('does not count repeats of one message as distinct', function () {
      for (let i = 0; i < 20; i += 1) correlator.observe(input({ message: `cpu used ${i % 5}` }));
      expect(correlator.observe(input({ message: 'cpu used 1' })).aggregated).to.equal(false);
    });

    it('counts per object and reason', function () {
      for (let i = 0; i < 9; i += 1) {
        correlator.observe(input({ message: `m${i}` }));
        correlator.observe(input({ name: 'other', message: `m${i}` }));
        correlator.observe(input({ reason: 'QuotaThresholdReached', message: `m${i}` }));
      }
      // Nine distinct messages each: nothing combined yet anywhere.
      expect(correlator.observe(input({ message: 'm0' })).aggregated).to.equal(false);
      expect(correlator.observe(input({ message: 'm9' })).aggregated).to.equal(true);
      expect(correlator.observe(input({ name: 'other', message: 'm1' })).aggregated).to.equal(false);
    });

    it('forgets the distinct messages after 10 minutes without one', function () {
      for (let i = 0; i < 9; i += 1) correlator.observe(input({ message: `m${i}` }));
      clock.advance(10 * MINUTE + 1);
      expect(correlator.observe(input({ message: 'm9' })).aggregated).to.equal(false);
      for (let i = 10; i < 18; i += 1) correlator.observe(input({ message: `m${i}` }));
      expect(correlator.observe(input({ message: 'm18' })).aggregated).to.equal(true);
    });

    it('cuts the combined message to 1024 characters', function () {
      for (let i = 0; i < 9; i += 1) correlator.observe(input({ message: `m${i}` }));
      const o = correlator.observe(input({ message: 'x'.repeat(1024) }));
      expect(o.series.message.length).to.equal(1024);
      expect(o.series.message.startsWith(AGGREGATE_PREFIX)).to.equal(true);
    });
  });

  describe('spam filter', function () {
    it('allows a burst of 25 writes per object and type, then one per 5 minutes', function () {
      const series = correlator.observe(input()).series;
      let allowed = 0;
      for (let i = 0; i < 100; i += 1) if (spam.admit(series)) allowed += 1;
      expect(allowed).to.equal(25);
      clock.advance(5 * MINUTE - 1);
      expect(spam.admit(series)).to.equal(false);
      clock.advance(1);
      expect(spam.admit(series)).to.equal(true);
      expect(spam.admit(series)).to.equal(false);
      clock.advance(20 * MINUTE);
      let refilled = 0;
      for (let i = 0; i < 10; i += 1) if (spam.admit(series)) refilled += 1;
      expect(refilled).to.equal(4);
    });

    it('refills no further than the burst', function () {
      const series = correlator.observe(input()).series;
      clock.advance(24 * 60 * MINUTE);
      let allowed = 0;
      for (let i = 0; i < 100; i += 1) if (spam.admit(series)) allowed += 1;
      expect(allowed).to.equal(25);
    });

    it('shares the bucket across reasons of one object and type, not across objects or types', function () {
      const a = correlator.observe(input()).series;
      const sameObjectOtherReason = correlator.observe(input({ reason: 'CreationFailed' })).series;
      const otherType = correlator.observe(input({ type: 'Normal', reason: 'VDCUpdated' })).series;
      const otherObject = correlator.observe(input({ name: 'other' })).series;
      for (let i = 0; i < 25; i += 1) expect(spam.admit(a)).to.equal(true);
      expect(spam.admit(sameObjectOtherReason)).to.equal(false);
      expect(spam.admit(otherType)).to.equal(true);
      expect(spam.admit(otherObject)).to.equal(true);
    });
  });

  describe('bounded caches', function () {
    it('evicts the least recently used series', function () {
      const small = new EventCorrelator({ clock: clock.now, cacheSize: 3 });
      const a = small.observe(input({ name: 'a' })).series;
      const b = small.observe(input({ name: 'b' })).series;
      small.observe(input({ name: 'c' }));
      expect(small.observe(input({ name: 'a' })).series).to.equal(a); // a is now the youngest
      small.observe(input({ name: 'd' })); // evicts b
      const bAgain = small.observe(input({ name: 'b' }));
      expect(bAgain.action).to.equal('create');
      expect(bAgain.series).to.not.equal(b);
      expect(small.observe(input({ name: 'a' })).action).to.equal('patch');
    });

    it('stays at 4096 entries per cache however many objects it sees', function () {
      for (let i = 0; i < 10_000; i += 1) {
        const s = correlator.observe(input({ name: `vdc-${i}` })).series;
        spam.admit(s);
      }
      expect(correlator.cacheSizes()).to.deep.equal({ aggregates: 4096, series: 4096 });
      expect(spam.size).to.equal(4096);
    });

    it('LruCache keeps recently read entries', function () {
      const lru = new LruCache<string, number>(2);
      lru.set('a', 1);
      lru.set('b', 2);
      expect(lru.get('a')).to.equal(1);
      lru.set('c', 3);
      expect(lru.has('a')).to.equal(true);
      expect(lru.has('b')).to.equal(false);
      expect(lru.peek('c')).to.equal(3);
      expect(lru.size).to.equal(2);
    });
  });

  it('forget() makes the next identical record start a new Event', function () {
    const first = correlator.observe(input()).series;
    correlator.forget(first);
    expect(correlator.observe(input()).series).to.not.equal(first);
  });
});
