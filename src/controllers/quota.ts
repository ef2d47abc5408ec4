// QuotaWatcher: follows the status of each VDC's ResourceQuota vdc-quota (filled by the
// quota controller of kube-controller-manager), writes usage and percentages into the VDC's
// status, and records QuotaThresholdReached / QuotaExceeded once per crossing.
//
// "Once per crossing" survives restarts because the previous level is read back from the
// VDC's status (percentages and counts written by the previous pass), not kept in memory.
import type { Controller, ReconcileResult } from '../kube/controller.js';
import { patchStatus, semanticEqual, type PlainObject } from '../kube/apply.js';
import { rfc3339 } from '../resources/conditions.js';
import { QUOTA_NAME, organizationNamespace, vdcNamespace } from '../resources/naming.js';
import { parseQuantity, percentage } from '../resources/quantity.js';
import { QUOTA_FIELDS, QUOTA_KEYS, type QuotaField } from '../resources/quota.js';
import {
  LABELS,
  type VdcResourceUsage,
  type VdcWorkloadCounts,
  type VirtualDataCenter,
  type VirtualDataCenterStatus,
} from '../resources/types.js';
import { CACHE_BEHIND, expectWrite, isDeleting, safely, type ReconcilerBase, type Store } from './common.js';
import { newController, vdcKeyOf, type ControllerSetup } from './setup.js';

export const DEFAULT_QUOTA_THRESHOLD = 90;

export interface QuotaUsage {
  resourceUsage: VdcResourceUsage;
  workloadCounts: VdcWorkloadCounts;
  /** Percentage used per quota field present in the quota's hard values. */
  percent: Partial<Record<QuotaField, number>>;
  used: Partial<Record<QuotaField, string>>;
  hard: Partial<Record<QuotaField, string>>;
}

/** The usage of a ResourceQuota from its status; undefined until the quota controller filled it. */
export function quotaUsage(quota: { status?: { hard?: Record<string, string>; used?: Record<string, string> } } | undefined): QuotaUsage | undefined {
  const hardMap = quota?.status?.hard;
  if (!hardMap || Object.keys(hardMap).length === 0) return undefined;
  const usedMap = quota.status?.used ?? {};
  const percent: QuotaUsage['percent'] = {};
  const used: QuotaUsage['used'] = {};
  const hard: QuotaUsage['hard'] = {};
  for (const f of QUOTA_FIELDS) {
    const h = hardMap[QUOTA_KEYS[f]];
    if (h === undefined) continue;
    const u = usedMap[QUOTA_KEYS[f]] ?? '0';
    hard[f] = h;
    used[f] = u;
    percent[f] = percentage(parseQuantity(u) ?? 0, parseQuantity(h) ?? 0);
  }
  const count = (f: QuotaField) => (used[f] !== undefined ? Math.round(parseQuantity(used[f]) ?? 0) : undefined);
  const resourceUsage: VdcResourceUsage = {};
  if (used.cpu !== undefined) {
    resourceUsage.cpuUsed = used.cpu;
    resourceUsage.cpuPercentage = percent.cpu;
  }
  if (used.memory !== undefined) {
    resourceUsage.memoryUsed = used.memory;
    resourceUsage.memoryPercentage = percent.memory;
  }
  if (used.storage !== undefined) {
    resourceUsage.storageUsed = used.storage;
    resourceUsage.storagePercentage = percent.storage;
  }
  const workloadCounts: VdcWorkloadCounts = {};
  if (count('pods') !== undefined) workloadCounts.totalPods = count('pods');
  if (count('virtualMachines') !== undefined) workloadCounts.totalVMs = count('virtualMachines');
  return { resourceUsage, workloadCounts, percent, used, hard };
}

/** The percentages the previous pass wrote, per field (pods and VMs from the counts). */
export function previousPercent(status: VirtualDataCenterStatus | undefined, hard: QuotaUsage['hard']): Partial<Record<QuotaField, number>> {
  const u = status?.resourceUsage;
  const w = status?.workloadCounts;
  const h = (f: QuotaField) => parseQuantity(hard[f]) ?? 0;
  return {
    cpu: u?.cpuPercentage ?? 0,
    memory: u?.memoryPercentage ?? 0,
    storage: u?.storagePercentage ?? 0,
    pods: percentage(w?.totalPods ?? 0, h('pods')),
    virtualMachines: percentage(w?.totalVMs ?? 0, h('virtualMachines')),
  };
}

export interface Crossings {
  /** Fields whose usage reached the hard value now and was below it before. */
  exceeded: QuotaField[];
  /** Fields that crossed the threshold now (and did not also reach 100%). */
  threshold: QuotaField[];
}

/** Which fields crossed upwards between the previous status and the new usage (pure). */
export function quotaCrossings(prev: VirtualDataCenterStatus | undefined, usage: QuotaUsage, thresholdPercent: number): Crossings {
  const before = previousPercent(prev, usage.hard);
  const out: Crossings = { exceeded: [], threshold: [] };
  for (const f of QUOTA_FIELDS) {
    const now = usage.percent[f];
    if (now === undefined) continue;
    const was = before[f] ?? 0;
    if (now >= 100 && was < 100) out.exceeded.push(f);
    else if (now >= thresholdPercent && was < thresholdPercent && now < 100) out.threshold.push(f);
  }
  return out;
}

function describe(usage: QuotaUsage, fields: QuotaField[]): string {
  return fields.map((f) => `${QUOTA_KEYS[f]} ${usage.used[f]}/${usage.hard[f]} (${usage.percent[f]}%)`).join(', ');
}

export interface QuotaWatcherDeps extends ReconcilerBase {
  vdcs: Store<VirtualDataCenter>;
  quotas: Store<PlainObject>;
  /** Warning threshold in percent (default 90). */
  thresholdPercent?: number;
}

export class QuotaWatcher {
  constructor(private readonly deps: QuotaWatcherDeps) {}

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace = '', name = ''] = key.split('/');
    const vdc = this.deps.vdcs.get(name, namespace);
    if (!vdc || isDeleting(vdc)) return;
    if (this.deps.expectations?.isPending(key)) return CACHE_BEHIND;
    // Until the VDC reconciler reported the VDC provisioned (with zero usage), it owns the
    // status: writing usage now would only race its first status write.
    if (!vdc.status?.namespace) return;
    const org = vdc.spec?.organizationRef ?? '';
    if (namespace !== organizationNamespace(org)) return;
    const quota = this.deps.quotas.get(QUOTA_NAME, vdcNamespace(org, name)) as
      | (PlainObject & { status?: { hard?: Record<string, string>; used?: Record<string, string> } })
      | undefined;
    if (!quota || quota.metadata.labels?.[LABELS.vdc] !== name || quota.metadata.labels?.[LABELS.organization] !== org) return;
    const usage = quotaUsage(quota);
    if (!usage) return;
    const prev = vdc.status;
    // A merge patch only sets the keys it carries: compare those.
    const unchanged = (have: object | undefined, want: object) =>
      Object.entries(want).every(([k, v]) => semanticEqual((have as Record<string, unknown> | undefined)?.[k], v));
    if (unchanged(prev?.resourceUsage, usage.resourceUsage) && unchanged(prev?.workloadCounts, usage.workloadCounts)) return;

    const written = await patchStatus<VirtualDataCenter>(this.deps.client, vdc, {
      resourceUsage: usage.resourceUsage,
      workloadCounts: usage.workloadCounts,
      lastMetricsUpdate: rfc3339(this.deps.now?.() ?? new Date()),
    });
    expectWrite(this.deps, vdc, written);
    const crossings = quotaCrossings(prev, usage, this.deps.thresholdPercent ?? DEFAULT_QUOTA_THRESHOLD);
    const options = { organization: org, vdc: name };
    const { events, logger } = this.deps;
    if (crossings.exceeded.length) {
      const message = `ResourceQuota ${QUOTA_NAME} of VDC '${name}' is exhausted: ${describe(usage, crossings.exceeded)}`;
      safely(logger, 'QuotaExceeded', () => events.record(vdc, 'Warning', 'QuotaExceeded', message, options));
    }
    if (crossings.threshold.length) {
      const threshold = this.deps.thresholdPercent ?? DEFAULT_QUOTA_THRESHOLD;
      const message = `VDC '${name}' reached ${threshold}% of its quota: ${describe(usage, crossings.threshold)}`;
      safely(logger, 'QuotaThresholdReached', () => events.record(vdc, 'Warning', 'QuotaThresholdReached', message, options));
    }
  }
}

/** The QuotaWatcher's controller: the quotas' status, and the VDC (its status holds the last reported level). */
export function quotaController(setup: ControllerSetup): Controller {
  const { informers, base } = setup;
  const watcher = new QuotaWatcher({
    ...base,
    vdcs: informers.vdcs,
    quotas: informers.quotas,
    thresholdPercent: setup.config.quotaThresholdPercent,
  });
  return newController(setup, 'quota', setup.config.workers.quota, (key) => watcher.reconcile(key))
    .watchPrimary(informers.vdcs)
    .watch(informers.quotas, vdcKeyOf);
}
