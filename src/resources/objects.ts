// The plain-JSON shape of the child objects the operator provisions (what the API server speaks;
// no client-node models, see src/kube/rest.ts).

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
}

export interface ChildObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}


export interface NamespaceObject extends ChildObject {
  kind: 'Namespace';
  status?: { phase?: string };
}

export interface Subject {
  kind: string;
  apiGroup?: string;
  name: string;
  namespace?: string;
}

export interface RoleBindingObject extends ChildObject {
  kind: 'RoleBinding';
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects?: Subject[];
}

export interface ResourceQuotaObject extends ChildObject {
  kind: 'ResourceQuota';
  spec: { hard: Record<string, string> };
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

export interface LimitRangeItem {
  type: string;
  min?: Record<string, string>;
  max?: Record<string, string>;
  default?: Record<string, string>;
  defaultRequest?: Record<string, string>;
}

export interface LimitRangeObject extends ChildObject {
  kind: 'LimitRange';
  spec: { limits: LimitRangeItem[] };
}

export interface NetworkPolicyObject extends ChildObject {
  kind: 'NetworkPolicy';
  spec: Record<string, unknown>;
}
