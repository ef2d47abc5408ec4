// One route's queue: retries with growing jittered backoff until success or the last attempt,
// no retry for a final refusal, a bounded backlog that counts what it drops.
import { expect } from 'chai';
import type { Delivery } from '../../../src/routes/format.js';
import { RouteQueue, backoffDelay, type AttemptOutcome } from '../../../src/routes/queue.js';
import { record } from './support.js';

const d = (i: number): Delivery => ({ route: { namespace: 'org-a', name: 'r' }, record: record({ uid: `u${i}` }), idempotencyKey: `u${i}:1` });
const fast = { maxAttempts: 4, baseMs: 1, capMs: 4 };

function harness(outcomes: (i: number, attempt: number) => AttemptOutcome, maxBacklog = 100) {
  const log = { attempts: [] as string[], delivered: [] as string[], failed: [] as [string, string, number][], dropped: [] as string[] };
  const tries = new Map<string, number>();
  const q = new RouteQueue(
    {
      attempt: async (x) => {
        const n = (tries.get(x.idempotencyKey) ?? 0) + 1;
        tries.set(x.idempotencyKey, n);
        log.attempts.push(x.idempotencyKey);
        return outcomes(Number(x.record.uid.slice(1)), n);
      },
      delivered: (x) => log.delivered.push(x.idempotencyKey),
      failed: (x, error, attempts) => log.failed.push([x.idempotencyKey, error, attempts]),
      dropped: (x) => log.dropped.push(x.idempotencyKey),
    },
    maxBacklog,
    fast,
  );
  return { q, log };
}

describe('route delivery queue', function () {
  it('backoff grows exponentially to the cap, jittered within [half, full]', function () {
    const p = { maxAttempts: 10, baseMs: 500, capMs: 30_000 };
    expect([1, 2, 3, 4].map((a) => backoffDelay(p, a, () => 1))).to.deep.equal([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((a) => backoffDelay(p, a, () => 0))).to.deep.equal([250, 500, 1000, 2000]);
    expect(backoffDelay(p, 20, () => 1)).to.equal(30_000);
  });

  it('retries a transient failure and delivers once', async function () {
    const { q, log } = harness((_i, attempt) => (attempt < 3 ? { ok: false, error: 'HTTP 503', retry: true } : { ok: true }));
    q.push(d(1));
    expect(await q.waitIdle(5_000)).to.equal(true);
    expect(log.attempts).to.deep.equal(['u1:1', 'u1:1', 'u1:1']);
    expect(log.delivered).to.deep.equal(['u1:1']);
    expect(log.failed).to.deep.equal([]);
  });

  it('fails once after the last attempt', async function () {
    const { q, log } = harness(() => ({ ok: false, error: 'HTTP 500', retry: true }));
    q.push(d(1));
    expect(await q.waitIdle(5_000)).to.equal(true);
    expect(log.attempts).to.have.length(4);
    expect(log.failed).to.deep.equal([['u1:1', 'HTTP 500', 4]]);
  });

  it('does not retry a final refusal (4xx, refused destination)', async function () {
    const { q, log } = harness(() => ({ ok: false, error: 'refused', retry: false }));
    q.push(d(1));
    expect(await q.waitIdle(5_000)).to.equal(true);
    expect(log.failed).to.deep.equal([['u1:1', 'refused', 1]]);
  });

  it('a full backlog drops and counts new deliveries', async function () {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { q, log } = harness(() => ({ ok: true }), 3);
    const blocked = new RouteQueue(
      { attempt: async () => (await gate, { ok: true }), delivered: (x) => log.delivered.push(x.idempotencyKey), failed: () => undefined, dropped: (x) => log.dropped.push(x.idempotencyKey) },
      3,
      fast,
    );
    for (let i = 1; i <= 6; i++) blocked.push(d(i)); // 1 in flight, 3 waiting, 2 dropped
    expect(log.dropped).to.deep.equal(['u5:1', 'u6:1']);
    release();
    expect(await blocked.waitIdle(5_000)).to.equal(true);
    expect(log.delivered).to.deep.equal(['u1:1', 'u2:1', 'u3:1', 'u4:1']);
    q.close();
  });
});
