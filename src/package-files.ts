// Where the program's own files are (the CRDs, config/ manifests, the panel's assets): found from
// this module, never from the working directory, so that the same code runs from the sources
// (src/, under tsx) and from `make build`'s output (dist/, which holds copies of crds/ and
// config/ beside dist/src/), as in the image.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let found: string | undefined;

/** The nearest folder above this module that holds both crds/ and config/. */
export function packageDir(): string {
  if (found) return found;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'crds')) && existsSync(join(dir, 'config'))) return (found = dir);
    if (dirname(dir) === dir) throw new Error(`cannot find the crds/ and config/ folders of ovim-operator above ${start} (run make build)`);
  }
}

/** A file or folder of the package: `packagePath('config', 'rbac', 'tenant_roles.yaml')`. */
export function packagePath(...parts: string[]): string {
  return join(packageDir(), ...parts);
}
