// The isolation labels of a VDC's workload namespace (pure): the Pod Security levels, the
// OpenShift label-sync opt-out, and what its Services may expose. Pod Security admission reads
// the first; the ValidatingAdmissionPolicy in config/policies/vdc-service-exposure.yaml reads
// the exposure labels (it cannot see the VDC itself).

export type PodSecurityLevel = 'baseline' | 'restricted' | 'privileged';

export interface ServiceExposure {
  nodePort?: boolean;
  loadBalancer?: boolean;
  externalIPs?: boolean;
}

/** The part of a VDC's spec that decides its namespace's isolation labels. */
export interface VdcSecuritySpec {
  podSecurity?: PodSecurityLevel;
  serviceExposure?: ServiceExposure;
}

export const POD_SECURITY_LABELS = {
  enforce: 'pod-security.kubernetes.io/enforce',
  warn: 'pod-security.kubernetes.io/warn',
  audit: 'pod-security.kubernetes.io/audit',
} as const;

/** OpenShift's label syncer rewrites the Pod Security labels unless this says "false". */
export const OPENSHIFT_POD_SECURITY_SYNC = 'security.openshift.io/scc.podSecurityLabelSync';

/** Namespace labels the Service exposure policy reads; each is always set, "true" or "false". */
export const EXPOSURE_LABELS = {
  nodePort: 'ovim.io/allow-nodeport-services',
  loadBalancer: 'ovim.io/allow-loadbalancer-services',
  externalIPs: 'ovim.io/allow-external-ips',
} as const;

/**
 * The level Pod Security enforces: what the VDC asks for, except that `privileged` needs the
 * cluster's consent (the operator's --allow-privileged-organization) because an organization's
 * admins write their VDCs themselves. Anything unknown falls back to baseline.
 */
export function enforcedPodSecurity(requested: string | undefined, privilegedAllowed: boolean): PodSecurityLevel {
  if (requested === 'restricted') return 'restricted';
  if (requested === 'privileged' && privilegedAllowed) return 'privileged';
  return 'baseline';
}

export function vdcSecurityLabels(spec: VdcSecuritySpec | undefined, privilegedAllowed: boolean): Record<string, string> {
  const exposure = spec?.serviceExposure ?? {};
  return {
    [POD_SECURITY_LABELS.enforce]: enforcedPodSecurity(spec?.podSecurity, privilegedAllowed),
    [POD_SECURITY_LABELS.warn]: 'restricted',
    [POD_SECURITY_LABELS.audit]: 'restricted',
    [OPENSHIFT_POD_SECURITY_SYNC]: 'false',
    [EXPOSURE_LABELS.nodePort]: String(exposure.nodePort === true),
    [EXPOSURE_LABELS.loadBalancer]: String(exposure.loadBalancer === true),
    [EXPOSURE_LABELS.externalIPs]: String(exposure.externalIPs === true),
  };
}
