// TypeScript shapes of the ovim.io/v1 custom resources (crds/*.yaml is the source of truth).
import type { ObjectMeta } from '../kube/meta.js';
import type { PodSecurityLevel, ServiceExposure } from './security.js';

export const OVIM_GROUP = 'ovim.io';
export const OVIM_VERSION = 'v1';
export const OVIM_API_VERSION = `${OVIM_GROUP}/${OVIM_VERSION}`;

export const ORGANIZATION_PLURAL = 'organizations';
export const VDC_PLURAL = 'virtualdatacenters';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** Quota figures as the user writes them: cores, `<n>Gi`, `<n>Gi|Ti`, counts. */
export interface OrganizationQuota {
  cpu?: string;
  memory?: string;
  storage?: string;
  pods?: number;
  virtualMachines?: number;
}

export interface OrganizationSpec {
  displayName: string;
  description?: string;
  admins: string[];
  /** Defaulted to true by the API server. */
  isEnabled?: boolean;
  quota?: OrganizationQuota;
}

export type OrganizationPhase = 'Pending' | 'Active' | 'Disabled' | 'Failed' | 'Terminating';

export interface OrganizationStatus {
  namespace?: string;
  /** Lifecycle events written into status before they are recorded, until the API server has them. */
  pendingEvents?: string[];
  /** The ticket of pendingEvents: once the delivery ledger holds it, the marker is done (src/controllers/delivery-ledger.ts). */
  pendingEventsTicket?: string;
  phase?: OrganizationPhase;
  vdcCount?: number;
  conditions?: Condition[];
  observedGeneration?: number;
  lastForcedReconcile?: string;
}

export interface Organization {
  apiVersion: typeof OVIM_API_VERSION;
  kind: 'Organization';
  metadata: ObjectMeta;
  spec: OrganizationSpec;
  status?: OrganizationStatus;
}

export interface VdcQuota {
  cpu: string;
  memory: string;
  storage: string;
  /** Defaulted to 100 by the API server. */
  pods?: number;
  /** Defaulted to 50 by the API server. */
  virtualMachines?: number;
}

/** CPU in millicores, memory in MiB. */
export interface VdcLimitRange {
  minCpu?: number;
  maxCpu?: number;
  minMemory?: number;
  maxMemory?: number;
}

export type NetworkPolicyMode = 'default' | 'isolated' | 'custom';

export interface VirtualDataCenterSpec {
  organizationRef: string;
  displayName: string;
  description?: string;
  quota: VdcQuota;
  limitRange?: VdcLimitRange;
  /** Defaulted to `default` by the API server. */
  networkPolicy?: NetworkPolicyMode;
  /** Pod Security level to enforce; absent means baseline (see resources/security.ts). */
  podSecurity?: PodSecurityLevel;
  /** Service types and fields allowed beyond ClusterIP; all off when absent. */
  serviceExposure?: ServiceExposure;
}

export type VdcPhase = 'Pending' | 'Active' | 'Failed' | 'Suspended' | 'Terminating';

export interface VdcResourceUsage {
  cpuUsed?: string;
  memoryUsed?: string;
  storageUsed?: string;
  cpuPercentage?: number;
  memoryPercentage?: number;
  storagePercentage?: number;
}

export interface VdcWorkloadCounts {
  totalPods?: number;
  runningPods?: number;
  totalVMs?: number;
  runningVMs?: number;
}

export interface VirtualDataCenterStatus {
  namespace?: string;
  /** Lifecycle events written into status before they are recorded, until the API server has them. */
  pendingEvents?: string[];
  /** The ticket of pendingEvents: once the delivery ledger holds it, the marker is done (src/controllers/delivery-ledger.ts). */
  pendingEventsTicket?: string;
  phase?: VdcPhase;
  conditions?: Condition[];
  observedGeneration?: number;
  lastForcedReconcile?: string;
  resourceUsage?: VdcResourceUsage;
  workloadCounts?: VdcWorkloadCounts;
  /** KubeVirt VMs of the VDC namespace (workload.ts). */
  virtualMachines?: { total: number; running: number };
  /** Non-terminal and Running pods of the VDC namespace (workload.ts). */
  pods?: { total: number; running: number };
  lastMetricsUpdate?: string;
}

export interface VirtualDataCenter {
  apiVersion: typeof OVIM_API_VERSION;
  kind: 'VirtualDataCenter';
  metadata: ObjectMeta;
  spec: VirtualDataCenterSpec;
  status?: VirtualDataCenterStatus;
}

/** Annotations and labels of the contract (DESIGN.md sections 3 and 4). */
export const ANNOTATIONS = {
  requestedBy: 'ovim.io/requested-by',
  owner: 'ovim.io/owner',
  forceReconcile: 'ovim.io/force-reconcile',
  forceReconcileBy: 'ovim.io/force-reconcile-by',
} as const;

export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  organization: 'ovim.io/organization',
  vdc: 'ovim.io/vdc',
} as const;

export const MANAGED_BY = 'ovim-operator';
