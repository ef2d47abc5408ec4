// One copy of each short string the informer caches repeat in every object (apiVersion, kind,
// label values, finalizers, child names like `vdc-quota`, role refs, condition reasons...).
// JSON.parse makes a new string for each of them in every object (V8 internalizes only very short
// values): a heap snapshot at 1,800 VDCs held e.g. ~12 copies of `ovim-operator` per VDC. Pure
// bookkeeping: the objects keep the same values, only their copies are shared.

/** Longer strings are messages, certificates or JSON: not worth a pool entry. */
export const MAX_INTERNED_LENGTH = 64;
/** Entries before the pool starts over (a new object then gets fresh copies; nothing breaks). */
export const MAX_POOL_ENTRIES = 16_384;

/** Values that are unique per object or per write: pooling them would only grow the pool. */
const UNIQUE_FIELDS = new Set(['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'lastTransitionTime', 'lastMetricsUpdate', 'message']);

export class StringPool {
  private readonly pool = new Map<string, string>();

  constructor(private readonly maxEntries = MAX_POOL_ENTRIES) {}

  get size(): number {
    return this.pool.size;
  }

  /** The pooled copy of `value` (pooling it when new). */
  string(value: string): string {
    if (value.length > MAX_INTERNED_LENGTH) return value;
    const pooled = this.pool.get(value);
    if (pooled !== undefined) return pooled;
    if (this.pool.size >= this.maxEntries) this.pool.clear();
    this.pool.set(value, value);
    return value;
  }

  /** Replaces, in place, the strings of `obj` (nested objects and arrays too) by their pooled copies. */
  intern<T>(obj: T): T {
    this.walk(obj as unknown, 0);
    return obj;
  }

  private walk(node: unknown, depth: number): void {
    // Kubernetes objects are shallow; the bound only guards against a pathological one.
    if (depth > 32 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'string') node[i] = this.string(v);
        else this.walk(v, depth + 1);
      }
      return;
    }
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      if (typeof v === 'string') {
        if (!UNIQUE_FIELDS.has(key)) record[key] = this.string(v);
      } else this.walk(v, depth + 1);
    }
  }
}
