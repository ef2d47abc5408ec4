// The organization ceiling (spec.quota of an Organization): the sum of its VDCs' quotas must
// fit in it. Pure decision code.
//
// What counts against the ceiling for a VDC V:
// - every other VDC that is provisioned counts with the quota it has now (its ResourceQuota's
//   hard values), even if its spec asks for more (a rejected increase holds nothing new);
// - every other VDC not provisioned yet counts with its requested quota when it was created
//   before V (creation time, then name) and itself fits: so two VDCs created together cannot
//   both take the last room, and a newer VDC never pushes out an older one.
import { QUOTA_FIELDS, type QuotaAmounts, type QuotaField } from '../resources/quota.js';

export interface CeilingCandidate {
  key: string;
  /** Order of creation: creationTimestamp, then name. */
  createdAt: string;
  name: string;
  requested: QuotaAmounts;
  /** The hard values of its ResourceQuota, when it has one. */
  applied?: QuotaAmounts;
}

export interface CeilingExcess {
  field: QuotaField;
  requested: number;
  /** What is left for this VDC (ceiling minus what the others hold). */
  remaining: number;
  ceiling: number;
}

export interface CeilingVerdict {
  fits: boolean;
  excess: CeilingExcess[];
}

function add(into: QuotaAmounts, from: QuotaAmounts | undefined): void {
  for (const f of QUOTA_FIELDS) {
    const v = from?.[f];
    if (v !== undefined) into[f] = (into[f] ?? 0) + v;
  }
}

function earlier(a: CeilingCandidate, b: CeilingCandidate): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.name < b.name);
}

function excessOf(ceiling: QuotaAmounts, held: QuotaAmounts, requested: QuotaAmounts): CeilingExcess[] {
  const out: CeilingExcess[] = [];
  for (const f of QUOTA_FIELDS) {
    const c = ceiling[f];
    if (c === undefined) continue;
    const r = requested[f] ?? 0;
    const remaining = c - (held[f] ?? 0);
    if (r > remaining + 1e-9) out.push({ field: f, requested: r, remaining: Math.max(0, remaining), ceiling: c });
  }
  return out;
}

/** Whether `targetKey` fits in the ceiling, given the organization's other (eligible) VDCs. */
export function ceilingVerdict(ceiling: QuotaAmounts, candidates: readonly CeilingCandidate[], targetKey: string): CeilingVerdict {
  if (QUOTA_FIELDS.every((f) => ceiling[f] === undefined)) return { fits: true, excess: [] };
  const target = candidates.find((c) => c.key === targetKey);
  if (!target) return { fits: true, excess: [] };

  const sorted = [...candidates].sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
  // Held by provisioned VDCs (other than the one being judged).
  const heldBy = (exclude: string): QuotaAmounts => {
    const held: QuotaAmounts = {};
    for (const c of sorted) if (c.key !== exclude && c.applied) add(held, c.applied);
    return held;
  };

  // Unprovisioned VDCs earlier than the target that fit, in creation order.
  const admittedPending: QuotaAmounts = {};
  for (const c of sorted) {
    if (c.key === target.key) break;
    if (c.applied) continue;
    const held = heldBy(c.key);
    add(held, admittedPending);
    if (excessOf(ceiling, held, c.requested).length === 0) add(admittedPending, c.requested);
  }

  const held = heldBy(target.key);
  add(held, admittedPending);
  const excess = excessOf(ceiling, held, target.requested);
  return { fits: excess.length === 0, excess };
}
