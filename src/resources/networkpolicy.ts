// The desired NetworkPolicy of a VDC's namespace:
// - default: ingress from every namespace of the organization (label ovim.io/organization);
// - isolated: ingress only from pods of the same namespace;
// - custom: none (the operator removes its own policy and leaves the namespace to the user).
import type { NetworkPolicyObject } from './objects.js';
import { NETWORK_POLICY_NAME, vdcLabels, vdcNamespace } from './naming.js';
import { LABELS, type NetworkPolicyMode } from './types.js';

export function desiredNetworkPolicy(org: string, vdc: string, mode: NetworkPolicyMode | undefined): NetworkPolicyObject | undefined {
  const effective = mode ?? 'default';
  if (effective === 'custom') return undefined;
  const from =
    effective === 'isolated'
      ? [{ podSelector: {} }]
      : [{ namespaceSelector: { matchLabels: { [LABELS.organization]: org } } }];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: NETWORK_POLICY_NAME,
      namespace: vdcNamespace(org, vdc),
      labels: vdcLabels(org, vdc),
      annotations: { 'ovim.io/network-policy': effective },
    },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from }] },
  };
}
