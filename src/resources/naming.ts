// Names of the objects the operator provisions (DESIGN.md section 3), and their ownership labels.
import { createHash } from 'node:crypto';
import { LABELS, MANAGED_BY } from './types.js';

/** Label selector of everything the operator provisions (its informers watch only these). */
export const MANAGED_BY_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY}`;

export const ORGANIZATION_FINALIZER = 'ovim.io/organization-cleanup';
export const VDC_FINALIZER = 'ovim.io/vdc-cleanup';

export const ORG_ADMIN_CLUSTER_ROLE = 'ovim:org-admin';
export const VDC_ADMIN_CLUSTER_ROLE = 'ovim:vdc-admin';

export const QUOTA_NAME = 'vdc-quota';
export const LIMIT_RANGE_NAME = 'vdc-limits';
export const NETWORK_POLICY_NAME = 'vdc-network-policy';

/** Label of the RoleBindings the operator manages: which ClusterRole they grant. */
export const ROLE_LABEL = 'ovim.io/role';

/** Kubernetes' limit for namespace names (DNS label). */
export const MAX_NAMESPACE_LENGTH = 63;

export function organizationNamespace(org: string): string {
  return `org-${org}`;
}

export function vdcNamespace(org: string, vdc: string): string {
  return `vdc-${org}-${vdc}`;
}

export function organizationLabels(org: string): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY, [LABELS.organization]: org };
}

export function vdcLabels(org: string, vdc: string): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY, [LABELS.organization]: org, [LABELS.vdc]: vdc };
}

/**
 * The RoleBinding name for an admin group: group names may hold characters a name may not
 * (`_`, `:`, upper case), so the readable part is sanitised and a short hash of the exact group
 * keeps `Admins` and `admins` apart.
 */
export function roleBindingName(prefix: string, group: string): string {
  const readable = group
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 180);
  const hash = createHash('sha256').update(group).digest('hex').slice(0, 8);
  return `${prefix}-${readable || 'group'}-${hash}`;
}
