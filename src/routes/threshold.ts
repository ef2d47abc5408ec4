// spec.threshold: `count` occurrences within `window` fire once; the threshold re-arms when the
// window holds fewer than `count` again. Pure: the caller passes the time (an injectable clock).

/** `30s`, `10m`, `1h` → milliseconds; undefined when malformed (the CRD refuses those). */
export function parseWindow(text: string): number | undefined {
  const m = /^([0-9]{1,5})(s|m|h)$/.exec(text);
  if (!m) return undefined;
  const unit = m[2] === 's' ? 1_000 : m[2] === 'm' ? 60_000 : 3_600_000;
  return Number(m[1]) * unit;
}

export class ThresholdWindow {
  /** Times of the newest occurrences, oldest first; never more than `count` of them. */
  private times: number[] = [];
  private armed = true;

  constructor(
    readonly count: number,
    readonly windowMs: number,
  ) {}

  private evict(now: number): void {
    const from = now - this.windowMs;
    let i = 0;
    while (i < this.times.length && (this.times[i] as number) <= from) i++;
    if (i > 0) this.times = this.times.slice(i);
  }

  /** Occurrences in the window now (at most `count`). */
  level(now: number): number {
    this.evict(now);
    if (this.times.length < this.count) this.armed = true;
    return this.times.length;
  }

  /** Adds `n` occurrences at `now`; true exactly when this crossing fires. */
  add(n: number, now: number): boolean {
    this.level(now);
    // Only the newest `count` matter: memory stays bounded by `count` whatever the storm.
    for (let i = 0; i < Math.min(n, this.count); i++) this.times.push(now);
    if (this.times.length > this.count) this.times = this.times.slice(this.times.length - this.count);
    if (this.armed && this.times.length >= this.count) {
      this.armed = false;
      return true;
    }
    return false;
  }
}
