// The list's backend vocabulary (DESIGN.md section 7) from a validated query string: repeated
// filters (OR within a field), context ids, search, sort, include_deleted and page_size. Values
// given once stay the classic filters; repeated ones become the vocabulary. Pure.
import { namespaceInScope, type NamespaceOwnership, type Scope } from '../events/query.js';
import type { EngineDialect } from '../history/schema.js';
import { searchWords, type SortColumn, type SortSpec, type Vocabulary } from '../history/vocabulary.js';

type Many = string | string[] | undefined;

export interface VocabularyQuery {
  type?: Many;
  category?: Many;
  reason?: Many;
  component?: Many;
  namespace?: Many;
  org_id?: Many;
  vdc_id?: Many;
  vm_id?: Many;
  user_id?: Many;
  username?: Many;
  search?: string;
  sort_by?: SortColumn;
  sort_order?: 'asc' | 'desc';
  include_deleted?: 'true' | 'false';
  page_size?: number;
}

/** The query parameters only the archive answers (the in-memory list gives 400 for them). */
export const ARCHIVE_ONLY_PARAMS = ['category', 'org_id', 'vdc_id', 'vm_id', 'user_id', 'username', 'search', 'sort_by', 'sort_order', 'include_deleted'] as const;

export class VocabularyError extends Error {
  constructor(
    readonly statusCode: 400 | 403,
    message: string,
  ) {
    super(message);
  }
}

const list = (value: Many): string[] | undefined => (value === undefined ? undefined : (Array.isArray(value) ? value : [value]).filter((v) => v !== ''));

const TYPE_NAMES: Record<string, string> = { normal: 'Normal', warning: 'Warning', error: 'Error' };

/**
 * Takes the vocabulary out of `q` (arrays leave the classic single-valued filters) and checks
 * it against the caller: every namespace in scope (403), include_deleted for system admins only.
 */
export function takeVocabulary(
  q: VocabularyQuery & { limit?: number },
  scope: Scope,
  owners: NamespaceOwnership,
  dialect: EngineDialect,
): { vocabulary?: Vocabulary; sort?: SortSpec; includeDeleted: boolean } {
  const v: Vocabulary = {};
  const multi = <K extends 'type' | 'reason' | 'component' | 'namespace'>(key: K): string[] | undefined => {
    const value = q[key];
    if (!Array.isArray(value)) return undefined;
    delete q[key];
    return list(value);
  };
  const types = multi('type');
  if (types) v.types = types.map((t) => TYPE_NAMES[t.toLowerCase()] ?? t);
  if (typeof q.type === 'string' && q.type.toLowerCase() === 'error') {
    // Error is the backend's type, outside the classic filter's enum.
    v.types = ['Error'];
    delete q.type;
  }
  const reasons = multi('reason');
  if (reasons) v.reasons = reasons;
  const components = multi('component');
  if (components) v.components = components;
  const namespaces = multi('namespace');
  if (namespaces) {
    for (const ns of namespaces) {
      if (!namespaceInScope(ns, scope, owners)) throw new VocabularyError(403, `namespace ${JSON.stringify(ns)} is outside your scope`);
    }
    v.namespaces = namespaces;
  }
  const categories = list(q.category);
  if (categories) v.categories = categories;
  const ids = { orgIds: q.org_id, vdcIds: q.vdc_id, vmIds: q.vm_id, userIds: q.user_id, usernames: q.username } as const;
  for (const [k, value] of Object.entries(ids)) {
    const values = list(value);
    if (values && values.length > 0) v[k as keyof typeof ids] = values;
  }
  if (q.search !== undefined && q.search.trim() !== '') {
    const words = searchWords(q.search);
    if (words.length === 0) throw new VocabularyError(400, 'invalid query parameter "search": give at least one word of letters or digits');
    v.search = { words, dialect };
  }
  const includeDeleted = q.include_deleted === 'true';
  if (includeDeleted && scope.kind !== 'all') throw new VocabularyError(403, 'include_deleted is for system admins only');
  // The backend's name for the limit (the schema gives `limit` its default, so page_size wins).
  if (q.page_size !== undefined) q.limit = q.page_size;
  let sort: SortSpec | undefined;
  if (q.sort_by !== undefined || q.sort_order !== undefined) {
    const by = q.sort_by ?? 'last_timestamp';
    const order = q.sort_order ?? 'desc';
    // The default order is the keyset order (cursors work); any other is a plain sort.
    if (!(by === 'last_timestamp' && order === 'desc')) sort = { by, order };
  }
  return { vocabulary: Object.keys(v).length > 0 ? v : undefined, sort, includeDeleted };
}
