// Retention policies per (category, type) (DESIGN.md section 7): the OVIM backend's defaults, the
// floors no edit may cross, and the resolution of a policy for a row. Pure.
import { CATEGORIES, type Category } from './categories.js';

/** Event types the archive keeps: Kubernetes' two and the backend's `Error`. */
export const ARCHIVE_TYPES = ['Normal', 'Warning', 'Error'] as const;
export type ArchiveType = (typeof ARCHIVE_TYPES)[number];

export interface RetentionPolicy {
  category: Category;
  type: ArchiveType;
  retentionDays: number;
  /** At most this many rows per organization (rows without one count as one group); null: no cap. */
  maxEvents: number | null;
}

/** Audit and security rows: kept at least this long, and never evicted by count. */
export const PROTECTED_CATEGORIES: readonly Category[] = ['audit', 'security'];
export const PROTECTED_MIN_DAYS = 90;
export const DEFAULT_RETENTION_DAYS = 90;

/** The backend's defaults: [days, max events] per category, or per category and type. */
const DEFAULTS: Partial<Record<Category, [number, number | null] | Partial<Record<ArchiveType, [number, number | null]>>>> = {
  audit: [365, 100_000],
  security: [180, 50_000],
  organization: [90, 10_000],
  vdc: [90, 20_000],
  vm: { Warning: [60, 15_000], Error: [60, 15_000], Normal: [30, 30_000] },
  performance: [30, 25_000],
  integration: [60, 10_000],
  system: { Warning: [90, 5_000], Error: [90, 5_000], Normal: [14, 10_000] },
};

/** Every (category, type) with its default policy. */
export function defaultPolicies(): RetentionPolicy[] {
  const out: RetentionPolicy[] = [];
  for (const category of CATEGORIES) {
    const entry = DEFAULTS[category];
    for (const type of ARCHIVE_TYPES) {
      const pair = entry === undefined ? undefined : Array.isArray(entry) ? entry : entry[type];
      const [retentionDays, maxEvents] = pair ?? [DEFAULT_RETENTION_DAYS, null];
      out.push({ category, type, retentionDays, maxEvents });
    }
  }
  return out;
}

export class PolicyError extends Error {
  readonly statusCode = 400;
}

/**
 * A policy as it may be stored: days a whole number ≥ 1 (≥ 90 for audit and security), max events
 * a whole number ≥ 1 or null. Audit and security ignore max events (never evicted by count).
 */
export function validatePolicy(policy: RetentionPolicy): RetentionPolicy {
  const { category, type, retentionDays, maxEvents } = policy;
  if (!Number.isSafeInteger(retentionDays) || retentionDays < 1) {
    throw new PolicyError(`retention_days of ${category}/${type} must be a whole number >= 1`);
  }
  const protectedCategory = PROTECTED_CATEGORIES.includes(category);
  if (protectedCategory && retentionDays < PROTECTED_MIN_DAYS) {
    throw new PolicyError(`retention_days of ${category} events must be at least ${PROTECTED_MIN_DAYS}`);
  }
  if (maxEvents !== null && (!Number.isSafeInteger(maxEvents) || maxEvents < 1)) {
    throw new PolicyError(`max_events of ${category}/${type} must be a whole number >= 1`);
  }
  return policy;
}

/** Whether a policy may evict rows by count (never for audit and security). */
export function evictsByCount(policy: RetentionPolicy): boolean {
  return policy.maxEvents !== null && !PROTECTED_CATEGORIES.includes(policy.category);
}

export const DAY_MS = 86_400_000;

/** Rows whose last timestamp is before this instant are expired under the policy. */
export function expiryCutoff(policy: RetentionPolicy, now: number): number {
  const days = PROTECTED_CATEGORIES.includes(policy.category) ? Math.max(PROTECTED_MIN_DAYS, policy.retentionDays) : policy.retentionDays;
  return now - days * DAY_MS;
}
