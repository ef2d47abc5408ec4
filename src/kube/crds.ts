// Installs or updates the operator's CRDs (server-side apply) and waits until they are served.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  loadAllYaml,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { FIELD_MANAGER } from './apply.js';
import { sleep } from './backoff.js';
import { packagePath } from '../package-files.js';

/** The `crds/` folder of the package (src/package-files.ts: works from src/ and dist/). */
export function crdsDir(): string {
  return packagePath('crds');
}

/**
 * The CRDs as client-node models. They must go through client-node's deserializer: its
 * serializer maps model attributes (`xKubernetesValidations`, `_default`, `_enum`) back to
 * JSON keys and silently drops raw keys such as `x-kubernetes-validations`, `default`, `enum`.
 */
export function loadCrds(dir = crdsDir()): V1CustomResourceDefinition[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('ovim.io_') && f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadAllYaml(readFileSync(join(dir, f), 'utf8')) as V1CustomResourceDefinition[]);
}

/**
 * The authored KubeVirt VirtualMachine CRD (crds/test/): installed by the tests and the `make run`
 * sandbox only, never by the operator (a real cluster has KubeVirt's own).
 */
export function loadTestVmCrd(dir = crdsDir()): V1CustomResourceDefinition[] {
  return loadAllYaml(readFileSync(join(dir, 'test', 'kubevirt.io_virtualmachines.yaml'), 'utf8')) as V1CustomResourceDefinition[];
}

export async function installCrds(kc: KubeConfig, timeoutMs = 30_000, crds = loadCrds()): Promise<string[]> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const crd of crds) {
    await objects.patch(crd, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const names = crds.map((c) => c.metadata?.name as string);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (established) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await sleep(100);
    }
  }
  return names;
}
