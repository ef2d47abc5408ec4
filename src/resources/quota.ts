// The desired ResourceQuota vdc-quota of a VDC, and the VDC quota as numbers.
import type { ResourceQuotaObject } from './objects.js';
import { QUOTA_NAME, vdcLabels, vdcNamespace } from './naming.js';
import { parseQuantity } from './quantity.js';
import type { OrganizationQuota, VdcQuota } from './types.js';

export const DEFAULT_VDC_PODS = 100;
export const DEFAULT_VDC_VMS = 50;

/** The ResourceQuota keys of the contract, by VDC quota field. */
export const QUOTA_KEYS = {
  cpu: 'requests.cpu',
  memory: 'requests.memory',
  storage: 'requests.storage',
  pods: 'pods',
  virtualMachines: 'count/virtualmachines.kubevirt.io',
} as const;

export type QuotaField = keyof typeof QUOTA_KEYS;
export const QUOTA_FIELDS = Object.keys(QUOTA_KEYS) as QuotaField[];

export function quotaHard(quota: VdcQuota): Record<string, string> {
  return {
    [QUOTA_KEYS.cpu]: String(quota.cpu),
    [QUOTA_KEYS.memory]: String(quota.memory),
    [QUOTA_KEYS.storage]: String(quota.storage),
    [QUOTA_KEYS.pods]: String(quota.pods ?? DEFAULT_VDC_PODS),
    [QUOTA_KEYS.virtualMachines]: String(quota.virtualMachines ?? DEFAULT_VDC_VMS),
  };
}

export function desiredResourceQuota(org: string, vdc: string, quota: VdcQuota): ResourceQuotaObject {
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: QUOTA_NAME, namespace: vdcNamespace(org, vdc), labels: vdcLabels(org, vdc) },
    spec: { hard: quotaHard(quota) },
  };
}

/** A quota as numbers (cores, bytes, counts); fields absent in the input are absent here. */
export type QuotaAmounts = Partial<Record<QuotaField, number>>;

export function vdcQuotaAmounts(quota: VdcQuota): QuotaAmounts {
  return hardAmounts(quotaHard(quota));
}

export function organizationCeiling(quota: OrganizationQuota | undefined): QuotaAmounts {
  const out: QuotaAmounts = {};
  if (!quota) return out;
  for (const field of QUOTA_FIELDS) {
    const v = parseQuantity(quota[field] as string | number | undefined);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** The amounts of a ResourceQuota's `hard` map. */
export function hardAmounts(hard: Record<string, string> | undefined): QuotaAmounts {
  const out: QuotaAmounts = {};
  for (const field of QUOTA_FIELDS) {
    const v = parseQuantity(hard?.[QUOTA_KEYS[field]]);
    if (v !== undefined) out[field] = v;
  }
  return out;
}
