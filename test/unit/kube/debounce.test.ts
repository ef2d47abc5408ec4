// The per-key trailing debounce, on a hand-driven clock.
import { expect } from 'chai';
import { Debounce, type DebounceTimers } from '../../../src/kube/debounce.js';

class Clock implements DebounceTimers {
  t = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  private next = 0;
  now(): number {
    return this.t;
  }
  set(fn: () => void, ms: number): unknown {
    this.due.set(++this.next, { at: this.t + ms, fn });
    return this.next;
  }
  clear(handle: unknown): void {
    this.due.delete(handle as number);
  }
  /** Moves the clock on, running each timer at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const [h, d] = [...this.due].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
      if (h === undefined || !d || d.at > end) break;
      this.due.delete(h);
      this.t = d.at;
      d.fn();
    }
    this.t = end;
  }
}

describe('Debounce', function () {
  it('a burst of touches fires once, delayMs after the last', function () {
    const clock = new Clock();
    const fired: string[] = [];
    const d = new Debounce((k) => fired.push(k), 500, 2_000, clock);
    for (let i = 0; i < 4; i++) {
      d.touch('acme');
      clock.advance(300);
    }
    expect(fired).to.deep.equal([]);
    expect(d.pending('acme')).to.equal(true);
    clock.advance(200);
    expect(fired).to.deep.equal(['acme']);
    expect(d.pending('acme')).to.equal(false);
  });

  it('never waits longer than maxDelayMs after the first touch; keys are independent', function () {
    const clock = new Clock();
    const fired: string[] = [];
    const d = new Debounce((k) => fired.push(`${k}@${clock.t}`), 500, 2_000, clock);
    d.touch('globex');
    for (let i = 0; i < 10; i++) {
      d.touch('acme');
      clock.advance(400);
    }
    // Touched every 400 ms for 4 s: at most 2 s apart, at the end of each window.
    expect(fired).to.deep.equal(['globex@500', 'acme@2000', 'acme@4000']);
    d.touch('acme');
    d.stop();
    clock.advance(1_000);
    expect(fired).to.have.length(3);
  });
});
