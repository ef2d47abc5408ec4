// How a time window splits over the rollup's levels (rollup-levels.ts): every instant of the
// window in exactly one part, none outside, at most 23 edge hours on either side of the days.
import { expect } from 'chai';
import { DAILY, DAY_MS, HOURLY, HOUR_MS, statsLevel, windowParts, type WindowParts } from '../../../src/history/rollup-levels.js';
import { seededRandom } from '../../support/random.js';

/** The parts holding instant t (ms). */
function partsHolding(parts: WindowParts, since: number | undefined, until: number | undefined, t: number): string[] {
  const inRange = (unitMs: number, r: { from?: number; to?: number }) => {
    const u = Math.floor(t / unitMs);
    return (r.from === undefined || u >= r.from) && (r.to === undefined || u < r.to);
  };
  const holding: string[] = [];
  if (parts.days && inRange(DAY_MS, parts.days)) holding.push('days');
  parts.hours.forEach((r, i) => inRange(HOUR_MS, r) && holding.push(`hours ${i}`));
  // Rows parts keep the window's own bounds.
  const inWindow = (since === undefined || t >= since) && (until === undefined || t <= until);
  parts.rows.forEach((r, i) => {
    if (inWindow && (r.below === undefined || t < r.below) && (r.atLeast === undefined || t >= r.atLeast)) holding.push(`rows ${i}`);
  });
  return holding;
}

describe('rollup levels: a window split into days, edge hours and partial hours', () => {
  it('puts every instant of random windows in exactly one part and no instant outside them in any', () => {
    const rnd = seededRandom(5);
    const base = Date.parse('2026-03-01T00:00:00Z');
    const instant = () => {
      const t = base + Math.floor((rnd() - 0.5) * 20 * DAY_MS);
      const k = rnd();
      if (k < 0.2) return Math.floor(t / DAY_MS) * DAY_MS + (rnd() < 0.5 ? 0 : -1);
      if (k < 0.4) return Math.floor(t / HOUR_MS) * HOUR_MS + (rnd() < 0.5 ? 0 : -1);
      return t;
    };
    let withDays = 0;
    for (let i = 0; i < 600; i++) {
      const since = rnd() < 0.85 ? instant() : undefined;
      let until = rnd() < 0.85 ? instant() : undefined;
      // Short windows too: inside one hour, one day.
      if (since !== undefined && rnd() < 0.2) until = since + Math.floor(rnd() * (rnd() < 0.5 ? HOUR_MS : DAY_MS));
      const parts = windowParts(since, until);
      const what = JSON.stringify({ since, until, parts });
      if (parts.days) withDays++;
      for (const r of parts.hours) {
        expect(r.from, what).to.not.equal(undefined);
        expect(r.to, what).to.not.equal(undefined);
        expect((r.to as number) - (r.from as number), what).to.be.within(1, parts.days ? 23 : Infinity);
      }
      expect(parts.rows.length, what).to.be.at.most(2);
      // Probe the window's edges, the unit boundaries near them, and random instants.
      const probes = [since, until].flatMap((e) =>
        e === undefined ? [] : [-DAY_MS, -HOUR_MS, -1, 0, 1, HOUR_MS, DAY_MS].flatMap((d) => [e + d, Math.floor((e + d) / HOUR_MS) * HOUR_MS, Math.floor((e + d) / DAY_MS) * DAY_MS]),
      );
      for (let k = 0; k < 20; k++) probes.push(base + Math.floor((rnd() - 0.5) * 24 * DAY_MS));
      for (const t of probes) {
        const inWindow = (since === undefined || t >= since) && (until === undefined || t <= until);
        expect(partsHolding(parts, since, until, t), `${what} at ${t}`).to.have.length(inWindow ? 1 : 0);
      }
    }
    expect(withDays).to.be.above(150);
  });

  it('answers stats from the daily level for whole-day buckets and windows, else the hourly one, else none', () => {
    const day = Date.parse('2026-03-01T00:00:00Z');
    expect(statsLevel(DAY_MS, day - 30 * DAY_MS, day - 1)).to.equal(DAILY);
    expect(statsLevel(7 * DAY_MS, day - 28 * DAY_MS, day - 1)).to.equal(DAILY);
    expect(statsLevel(DAY_MS, day - 30 * DAY_MS + HOUR_MS, day - 1)).to.equal(HOURLY);
    expect(statsLevel(6 * HOUR_MS, day - 30 * DAY_MS, day - 1)).to.equal(HOURLY);
    expect(statsLevel(HOUR_MS, day - 30 * DAY_MS + 1, day - 1)).to.equal(undefined);
    expect(statsLevel(60_000, day - 30 * DAY_MS, day - 1)).to.equal(undefined);
    expect(statsLevel(DAY_MS, undefined, day - 1)).to.equal(undefined);
  });
});
