// OVIM's event categories (DESIGN.md section 7) and the category of a Kubernetes Event, derived
// from its reason and the kind of its object. Application-level events bring their own. Pure.

export const CATEGORIES = [
  'organization',
  'vdc',
  'vm',
  'security',
  'performance',
  'integration',
  'system',
  'audit',
  'quota',
  'network',
  'storage',
  'backup',
] as const;
export type Category = (typeof CATEGORIES)[number];

export function isCategory(value: string): value is Category {
  return (CATEGORIES as readonly string[]).includes(value);
}

/** Reasons whose category does not follow from the kind of their object. */
const BY_REASON: Readonly<Record<string, Category>> = {
  AuthenticationFailed: 'security',
  AccessDenied: 'security',
  PolicyChanged: 'security',
  EventDeleted: 'security',
  DeletionRequested: 'audit',
  ReconcileForced: 'audit',
  SlowReconcile: 'performance',
  QuotaExceeded: 'quota',
  QuotaThresholdReached: 'quota',
  DeliveryFailed: 'integration',
  RouteTriggered: 'integration',
  FailedMount: 'storage',
  FailedAttachVolume: 'storage',
  VolumeResizeFailed: 'storage',
};

const BY_KIND: Readonly<Record<string, Category>> = {
  Organization: 'organization',
  VirtualDataCenter: 'vdc',
  VirtualMachine: 'vm',
  VirtualMachineInstance: 'vm',
  EventRoute: 'integration',
  ResourceQuota: 'quota',
  PersistentVolumeClaim: 'storage',
  PersistentVolume: 'storage',
  DataVolume: 'storage',
  NetworkPolicy: 'network',
  Service: 'network',
  Ingress: 'network',
  EndpointSlice: 'network',
  VirtualMachineSnapshot: 'backup',
  VirtualMachineRestore: 'backup',
  VirtualMachineExport: 'backup',
};

/** The category of a Kubernetes Event: by reason first, then by the kind of its object. */
export function categoryOf(reason: string, kind: string): Category {
  return BY_REASON[reason] ?? BY_KIND[kind] ?? 'system';
}
