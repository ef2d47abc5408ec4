// Installs or updates the operator's CRDs (server-side apply through KubeClient, the JSON as
// authored) and waits until they are served.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { FIELD_MANAGER, type PlainObject } from './apply.js';
import { sleep } from './backoff.js';
import { KubeClient, resourcePath } from './rest.js';
import { packagePath } from '../package-files.js';

/** The `crds/` folder of the package (src/package-files.ts: works from src/ and dist/). */
export function crdsDir(): string {
  return packagePath('crds');
}

/** The objects of a multi-document YAML file, as JSON (empty documents skipped). */
export function loadManifest(file: string): PlainObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as PlainObject | null)
    .filter((d): d is PlainObject => d !== null && typeof d === 'object');
}

/** The operator's CRDs, as the JSON the API server takes. */
export function loadCrds(dir = crdsDir()): PlainObject[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('ovim.io_') && f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadManifest(join(dir, f)));
}

/**
 * The authored KubeVirt VirtualMachine CRD (crds/test/): installed by the tests and the `make run`
 * sandbox only, never by the operator (a real cluster has KubeVirt's own).
 */
export function loadTestVmCrd(dir = crdsDir()): PlainObject[] {
  return loadManifest(join(dir, 'test', 'kubevirt.io_virtualmachines.yaml'));
}

interface CrdStatus {
  status?: { conditions?: { type?: string; status?: string }[] };
}

/** Server-side applies the CRDs and waits until each is Established; returns their names. */
export async function installCrds(kc: KubeConfig, timeoutMs = 30_000, crds = loadCrds()): Promise<string[]> {
  const client = await KubeClient.create(kc, { userAgent: 'ovim-operator/install', maxSockets: 2 });
  const path = (name?: string) => resourcePath({ apiVersion: 'apiextensions.k8s.io/v1', plural: 'customresourcedefinitions', name });
  try {
    for (const crd of crds) {
      await client.patch(path(crd.metadata.name), crd, 'apply', { fieldManager: FIELD_MANAGER, force: true });
    }
    const names = crds.map((c) => c.metadata.name);
    const deadline = Date.now() + timeoutMs;
    for (const name of names) {
      for (;;) {
        const crd = await client.get<CrdStatus>(path(name));
        const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
        if (established) break;
        if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
        await sleep(100);
      }
    }
    return names;
  } finally {
    client.close();
  }
}
