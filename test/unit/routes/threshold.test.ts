// spec.threshold with a fake clock: 5 within 10m fires exactly once per crossing and re-arms
// only when the window holds fewer than 5 again.
import { expect } from 'chai';
import { ThresholdWindow, parseWindow } from '../../../src/routes/threshold.js';

describe('route threshold', function () {
  const MIN = 60_000;

  it('parses windows and refuses malformed ones', function () {
    expect(parseWindow('30s')).to.equal(30_000);
    expect(parseWindow('10m')).to.equal(10 * MIN);
    expect(parseWindow('1h')).to.equal(3_600_000);
    for (const bad of ['10', 'm', '1d', '-1m', '1.5m', '10 m', '123456s']) expect(parseWindow(bad), bad).to.equal(undefined);
  });

  it('5 in 10m fires once at the 5th occurrence, not again while the storm goes on', function () {
    const w = new ThresholdWindow(5, 10 * MIN);
    let now = 0;
    const fired: number[] = [];
    for (let i = 1; i <= 20; i++) {
      now += 30_000; // one every 30 s: always more than 5 in any 10 minutes
      if (w.add(1, now)) fired.push(i);
    }
    expect(fired).to.deep.equal([5]);
  });

  it('re-arms when the window falls below the count, and fires again at the next crossing', function () {
    const w = new ThresholdWindow(5, 10 * MIN);
    let now = 0;
    const fire = () => w.add(1, (now += MIN));
    expect([fire(), fire(), fire(), fire(), fire()]).to.deep.equal([false, false, false, false, true]);
    now += 30 * MIN; // quiet: the window empties
    expect(w.level(now)).to.equal(0);
    expect([fire(), fire(), fire(), fire()]).to.deep.equal([false, false, false, false]);
    expect(fire(), 'second crossing').to.equal(true);
    expect(fire(), 'still above').to.equal(false);
  });

  it('occurrences spread wider than the window never fire', function () {
    const w = new ThresholdWindow(5, 10 * MIN);
    let fired = 0;
    for (let i = 0; i < 50; i++) if (w.add(1, i * 3 * MIN)) fired++;
    expect(fired).to.equal(0);
  });

  it('a count bump of several occurrences counts them all, and memory stays bounded by count', function () {
    const w = new ThresholdWindow(5, 10 * MIN);
    expect(w.add(3, 1_000)).to.equal(false);
    expect(w.add(1_000_000, 2_000)).to.equal(true);
    expect(w.level(2_000)).to.equal(5);
  });
});
