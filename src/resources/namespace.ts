// Desired Namespaces of Organizations and VDCs, and who owns an existing one.
import { LABELS, MANAGED_BY } from './types.js';
import type { NamespaceObject } from './objects.js';
import { organizationLabels, organizationNamespace, vdcLabels, vdcNamespace } from './naming.js';
import { vdcSecurityLabels, type VdcSecuritySpec } from './security.js';

export function desiredOrganizationNamespace(org: string): NamespaceObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: organizationNamespace(org), labels: organizationLabels(org) },
  };
}

/**
 * A VDC's workload namespace: ownership labels plus the isolation labels of its spec (Pod
 * Security baseline and no external Services unless the spec says otherwise).
 */
export function desiredVdcNamespace(
  org: string,
  vdc: string,
  spec?: VdcSecuritySpec,
  options: { privilegedAllowed?: boolean } = {},
): NamespaceObject {
  const labels = { ...vdcSecurityLabels(spec, options.privilegedAllowed === true), ...vdcLabels(org, vdc) };
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: vdcNamespace(org, vdc), labels },
  };
}

export interface NamespaceOwner {
  organization: string;
  vdc?: string;
}

/** Whose an existing namespace is, by its labels; undefined when the operator did not make it. */
export function namespaceOwner(ns: { metadata?: { labels?: Record<string, string> } } | undefined): NamespaceOwner | undefined {
  const labels = ns?.metadata?.labels ?? {};
  const organization = labels[LABELS.organization];
  if (labels[LABELS.managedBy] !== MANAGED_BY || !organization) return undefined;
  return { organization, vdc: labels[LABELS.vdc] };
}

/** Whether the namespace belongs to this organization (vdc undefined) or to this VDC. */
export function ownsNamespace(
  ns: { metadata?: { labels?: Record<string, string> } } | undefined,
  org: string,
  vdc?: string,
): boolean {
  const owner = namespaceOwner(ns);
  return owner !== undefined && owner.organization === org && owner.vdc === vdc;
}
