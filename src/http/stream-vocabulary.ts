// The live stream's share of the backend's query vocabulary (DESIGN.md section 7, docs/api.md):
// the stream carries the in-memory store's Kubernetes Events, so it takes what their records
// hold — repeated `type`, `reason`, `component`, `namespace` (OR within a field) and `category`
// — and answers 400 for the parameters only archived rows can answer (ids, search, sort, deleted
// rows). Pure.
import { componentMatcher, namespaceInScope, type EventRecord, type NamespaceOwnership, type Scope } from '../events/query.js';
import { categoryOf } from '../history/categories.js';
import { VocabularyError } from './vocabulary-params.js';

/** Parameters of the list's vocabulary the live stream refuses (400). */
export const STREAM_REFUSED_PARAMS = ['org_id', 'vdc_id', 'vm_id', 'user_id', 'username', 'search', 'sort_by', 'sort_order', 'include_deleted', 'page_size'] as const;

type Many = string | string[] | undefined;

/**
 * Takes the repeated filters and `category` out of `q` (single values stay the classic filters)
 * and returns their predicate, or undefined when there are none. A namespace outside the scope
 * → 403; a refused parameter → 400.
 */
export function streamVocabulary(q: Record<string, unknown>, scope: Scope, owners: NamespaceOwnership): ((r: EventRecord) => boolean) | undefined {
  for (const param of STREAM_REFUSED_PARAMS) {
    if (q[param] !== undefined) {
      throw new VocabularyError(400, `query parameter "${param}" does not apply to the live stream (it carries Kubernetes Events from memory): use the list or export`);
    }
  }
  const checks: ((r: EventRecord) => boolean)[] = [];
  const many = (key: 'type' | 'reason' | 'component' | 'namespace'): string[] | undefined => {
    const value = q[key] as Many;
    if (!Array.isArray(value)) return undefined;
    delete q[key];
    return value.filter((v) => v !== '');
  };
  const types = many('type');
  if (types) checks.push((r) => types.includes(r.type));
  const reasons = many('reason');
  if (reasons) checks.push((r) => reasons.includes(r.reason));
  const components = many('component');
  if (components) {
    const matchers = components.map(componentMatcher);
    checks.push((r) => matchers.some((m) => m(r)));
  }
  const namespaces = many('namespace');
  if (namespaces) {
    for (const ns of namespaces) {
      if (!namespaceInScope(ns, scope, owners)) throw new VocabularyError(403, `namespace ${JSON.stringify(ns)} is outside your scope`);
    }
    checks.push((r) => namespaces.includes(r.namespace));
  }
  const category = q.category as Many;
  delete q.category;
  const categories = category === undefined ? undefined : (Array.isArray(category) ? category : [category]).filter((v) => v !== '');
  if (categories && categories.length > 0) checks.push((r) => categories.includes(r.category ?? categoryOf(r.reason, r.kind)));
  if (checks.length === 0) return undefined;
  return (r) => checks.every((check) => check(r));
}
