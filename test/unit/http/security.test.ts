// The rejected-token bookkeeping (pure, with a given clock): the sliding minute, the 60 s block,
// sampled logging and the bound on remembered addresses.
import { expect } from 'chai';
import { RejectionCounter } from '../../../src/http/security.js';

describe('RejectionCounter', function () {
  it('blocks an address after more than 20 rejections within a minute, for 60 s', function () {
    const c = new RejectionCounter();
    for (let i = 0; i < 20; i++) expect(c.reject('a', i * 1000).blocked, `rejection ${i + 1}`).to.equal(false);
    expect(c.reject('a', 20_000).blocked).to.equal(true);
    expect(c.blockedFor('a', 20_000)).to.equal(60);
    expect(c.blockedFor('a', 50_000)).to.equal(30);
    expect(c.blockedFor('a', 80_000)).to.equal(0);
    expect(c.blockedFor('b', 20_000)).to.equal(0);
  });

  it('counts within a sliding minute: 20 a minute forever is never blocked', function () {
    const c = new RejectionCounter();
    for (let i = 0; i < 200; i++) expect(c.reject('a', i * 3000).blocked, `at ${i * 3} s`).to.equal(false);
  });

  it('logs the first rejection per address and minute, then says how many were not logged', function () {
    const c = new RejectionCounter({ perMinute: 1000 });
    expect(c.reject('a', 0)).to.include({ log: true, unlogged: 0 });
    for (let i = 1; i < 10; i++) expect(c.reject('a', i).log).to.equal(false);
    expect(c.reject('b', 10).log).to.equal(true);
    expect(c.reject('a', 60_000)).to.include({ log: true, unlogged: 9 });
  });

  it('remembers a bounded number of addresses, forgetting the least recently seen', function () {
    const c = new RejectionCounter({ maxAddresses: 3 });
    for (const a of ['a', 'b', 'c']) c.reject(a, 0);
    c.reject('a', 1); // seen again: now the most recent
    c.reject('d', 2);
    expect(c.size).to.equal(3);
    expect(['a', 'b', 'c', 'd'].filter((x) => c.has(x))).to.deep.equal(['a', 'c', 'd']);
    for (let i = 0; i < 30; i++) c.reject(`spray-${i}`, 3);
    expect(c.size).to.equal(3);
  });
});
