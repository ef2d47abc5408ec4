// Desired RoleBindings: one per admin group, binding the group to the ClusterRole
// ovim:org-admin in the organization's namespace, or ovim:vdc-admin in a VDC's namespace.
import type { RoleBindingObject } from './objects.js';
import {
  ORG_ADMIN_CLUSTER_ROLE,
  ROLE_LABEL,
  VDC_ADMIN_CLUSTER_ROLE,
  organizationLabels,
  organizationNamespace,
  roleBindingName,
  vdcLabels,
  vdcNamespace,
} from './naming.js';

function roleBinding(
  name: string,
  namespace: string,
  labels: Record<string, string>,
  clusterRole: string,
  group: string,
): RoleBindingObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: group }],
  };
}

function uniqueGroups(admins: readonly string[]): string[] {
  return [...new Set(admins)].sort();
}

export function desiredOrganizationRoleBindings(org: string, admins: readonly string[]): RoleBindingObject[] {
  const labels = { ...organizationLabels(org), [ROLE_LABEL]: 'org-admin' };
  return uniqueGroups(admins).map((group) =>
    roleBinding(roleBindingName('ovim-org-admin', group), organizationNamespace(org), labels, ORG_ADMIN_CLUSTER_ROLE, group),
  );
}

export function desiredVdcRoleBindings(org: string, vdc: string, admins: readonly string[]): RoleBindingObject[] {
  const labels = { ...vdcLabels(org, vdc), [ROLE_LABEL]: 'vdc-admin' };
  return uniqueGroups(admins).map((group) =>
    roleBinding(roleBindingName('ovim-vdc-admin', group), vdcNamespace(org, vdc), labels, VDC_ADMIN_CLUSTER_ROLE, group),
  );
}

export const ROUTE_SECRETS_CLUSTER_ROLE = 'ovim:route-secrets';

/**
 * The operator's own ServiceAccount bound to ovim:route-secrets (get secrets) in the
 * organization's namespace: it reads EventRoute signing Secrets there and nowhere else.
 */
export function routeSecretsRoleBinding(org: string, serviceAccount: { namespace: string; name: string }): RoleBindingObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'ovim-route-secrets', namespace: organizationNamespace(org), labels: { ...organizationLabels(org), [ROLE_LABEL]: 'route-secrets' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROUTE_SECRETS_CLUSTER_ROLE },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount.name, namespace: serviceAccount.namespace }],
  };
}
