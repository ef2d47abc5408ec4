// A trailing debounce per key: each touch pushes the call back by `delayMs`, but never later than
// `maxDelayMs` after the first touch of a burst. The organization controller uses it so that
// VDCs created or deleted together update their organization's vdcCount with one status write
// (a leading delay wrote once per part of the burst). Timers are injectable for tests.
export interface DebounceTimers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: DebounceTimers = {
  now: () => Date.now(),
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class Debounce {
  private readonly waiting = new Map<string, { handle: unknown; first: number }>();

  constructor(
    private readonly fire: (key: string) => void,
    private readonly delayMs: number,
    private readonly maxDelayMs: number,
    private readonly timers: DebounceTimers = realTimers,
  ) {}

  touch(key: string): void {
    const now = this.timers.now();
    const prev = this.waiting.get(key);
    if (prev) this.timers.clear(prev.handle);
    const first = prev?.first ?? now;
    const delay = Math.max(0, Math.min(this.delayMs, first + this.maxDelayMs - now));
    const handle = this.timers.set(() => {
      this.waiting.delete(key);
      this.fire(key);
    }, delay);
    this.waiting.set(key, { handle, first });
  }

  /** How many keys have a call still to come. */
  get size(): number {
    return this.waiting.size;
  }

  /** Whether a call for `key` is still to come. */
  pending(key: string): boolean {
    return this.waiting.has(key);
  }

  stop(): void {
    for (const w of this.waiting.values()) this.timers.clear(w.handle);
    this.waiting.clear();
  }
}
