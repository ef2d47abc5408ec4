// `kubectl kustomize <dir>` (no cluster needed): the rendered objects of a config/ folder.
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './program.js';

export interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export function kustomize(dir: string): Rendered[] {
  const text = execFileSync('kubectl', ['kustomize', dir], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Rendered | null)
    .filter((d): d is Rendered => d !== null);
}

/** The one object of `kind` named `name`; throws when absent. */
export function one(objects: readonly Rendered[], kind: string, name: string): Rendered {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}
