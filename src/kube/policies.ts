// Installs what an operator of the cluster installs beside the operator: the tenant ClusterRoles
// (config/rbac/tenant_roles.yaml) and the ValidatingAdmissionPolicies (config/policies/*.yaml).
// `make run` and the test harness call it with an admin's credentials; the operator's own
// ClusterRole may write neither.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyObject } from './apply.js';
import { loadManifest } from './crds.js';
import { isNotFound } from './errors.js';
import { KubeClient } from './rest.js';
import { packagePath } from '../package-files.js';

/** The folder config/ of the package (beside crds/; works from src/ and dist/). */
export function packageConfigDir(): string {
  return packagePath('config');
}

/** The manifests, in the order they are applied: the tenant roles, then every policy file. */
export function clusterManifestFiles(dir = packageConfigDir()): string[] {
  const policies = join(dir, 'policies');
  const policyFiles = readdirSync(policies)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort()
    .map((f) => join(policies, f));
  return [join(dir, 'rbac', 'tenant_roles.yaml'), ...policyFiles];
}

/** Server-side applies the manifests; returns `Kind/name` of each object. */
export async function applyManifests(client: KubeClient, files: readonly string[]): Promise<string[]> {
  const applied: string[] = [];
  for (const file of files) {
    for (const obj of loadManifest(file)) {
      try {
        await applyObject(client, obj);
      } catch (err) {
        // A policy that silently failed to install would leave tenants unconfined: say why.
        if (isNotFound(err) && obj.kind.startsWith('ValidatingAdmissionPolicy')) {
          throw new Error(`the cluster does not serve ${obj.apiVersion} ${obj.kind} (Kubernetes 1.30 or later is needed for ${file})`);
        }
        throw err;
      }
      applied.push(`${obj.kind}/${obj.metadata.name}`);
    }
  }
  return applied;
}

/**
 * The tenant ClusterRoles and the admission policies. A policy takes effect a moment after it
 * is stored (each API server loads it from a watch): callers that depend on it wait on its effect.
 */
export async function installClusterManifests(kc: KubeConfig): Promise<string[]> {
  const client = await KubeClient.create(kc, { userAgent: 'ovim-operator/install', maxSockets: 2 });
  try {
    return await applyManifests(client, clusterManifestFiles());
  } finally {
    client.close();
  }
}
