// Desired Namespaces of Organizations and VDCs, and who owns an existing one.
import { LABELS, MANAGED_BY } from './types.js';
import type { NamespaceObject } from './objects.js';
import { organizationLabels, organizationNamespace, vdcLabels, vdcNamespace } from './naming.js';

export function desiredOrganizationNamespace(org: string): NamespaceObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: organizationNamespace(org), labels: organizationLabels(org) },
  };
}

export function desiredVdcNamespace(org: string, vdc: string): NamespaceObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: vdcNamespace(org, vdc), labels: vdcLabels(org, vdc) },
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
