// Write expectations (client-go's "expectations" pattern, reduced to resourceVersions): after a
// controller wrote an object, its informer cache is stale until the watch delivers that write.
// A reconcile started in between would decide on old data and its guarded write would fail
// with 409. Recording the resourceVersion a write produced and skipping reconciles of the key
// until the informer has shown it avoids that churn; the informer's event for the write
// enqueues the key again, and a timeout covers a relist that jumped past our version.

export class WriteExpectations {
  private readonly pending = new Map<string, { rv: string; at: number }>();

  /**
   * `cached` answers the resourceVersion the informer holds for a key now: the watch event of
   * a write may be handled before the write's own response.
   */
  constructor(
    private readonly cached: (key: string) => string | undefined = () => undefined,
    private readonly timeoutMs = 2_000,
  ) {}

  /** A write of `key` produced `resourceVersion`. */
  expect(key: string, resourceVersion: string | undefined): void {
    if (!resourceVersion || this.cached(key) === resourceVersion) return;
    this.pending.set(key, { rv: resourceVersion, at: Date.now() });
  }

  /** The informer delivered `key` at `resourceVersion` (call from its add/update handlers). */
  observe(key: string, resourceVersion: string | undefined): void {
    const p = this.pending.get(key);
    if (p && p.rv === resourceVersion) this.pending.delete(key);
  }

  forget(key: string): void {
    this.pending.delete(key);
  }

  /** Whether the cache has not yet shown our last write of `key` (and it is not too old). */
  isPending(key: string): boolean {
    const p = this.pending.get(key);
    if (!p) return false;
    if (Date.now() - p.at > this.timeoutMs) {
      this.pending.delete(key);
      return false;
    }
    return true;
  }

  get size(): number {
    return this.pending.size;
  }
}
