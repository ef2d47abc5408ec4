// The OVIM backend's query vocabulary on the archive (DESIGN.md section 7): repeated filters (OR
// within a field), the backend's context ids, full-text search in the message (FTS5 on the
// embedded engine, the `search` tsvector column on PostgreSQL) and other sort orders. Each part
// becomes SQL predicates over the events table, under the caller's scope like every filter.
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { ArchiveDatabase, EngineDialect } from './schema.js';

export interface Vocabulary {
  /** Any of these (OR within a field; fields AND together). */
  types?: string[];
  categories?: string[];
  reasons?: string[];
  namespaces?: string[];
  /** Case-insensitive substrings of the component. */
  components?: string[];
  orgIds?: string[];
  vdcIds?: string[];
  vmIds?: string[];
  userIds?: string[];
  usernames?: string[];
  /** Words that must all occur in the message (already split into words). */
  search?: { words: string[]; dialect: EngineDialect };
}

export const SORT_COLUMNS = ['last_timestamp', 'first_timestamp', 'count', 'type', 'reason'] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];
export interface SortSpec {
  by: SortColumn;
  order: 'asc' | 'desc';
}

/** At most this many words are searched for; longer words are cut. */
export const MAX_SEARCH_WORDS = 16;
const MAX_WORD = 64;

/**
 * The words of a search text: runs of letters and digits, lower-cased (both engines tokenize
 * messages this way for plain words). Bounded before any work.
 */
export function searchWords(text: string): string[] {
  const words = text.slice(0, 512).toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words.map((w) => w.slice(0, MAX_WORD)))].slice(0, MAX_SEARCH_WORDS);
}

type Eb = ExpressionBuilder<ArchiveDatabase, 'events'>;

function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The vocabulary's predicates (none for an empty vocabulary). */
export function vocabularyPredicates(eb: Eb, v: Vocabulary): Expression<SqlBool>[] {
  const parts: Expression<SqlBool>[] = [];
  const anyOf = (column: 'type' | 'category' | 'reason' | 'namespace' | 'org_id' | 'vdc_id' | 'vm_id' | 'user_id' | 'username', values?: string[]) => {
    if (values && values.length > 0) parts.push(eb(column, 'in', values));
  };
  anyOf('type', v.types);
  anyOf('category', v.categories);
  anyOf('reason', v.reasons);
  anyOf('namespace', v.namespaces);
  anyOf('org_id', v.orgIds);
  anyOf('vdc_id', v.vdcIds);
  anyOf('vm_id', v.vmIds);
  anyOf('user_id', v.userIds);
  anyOf('username', v.usernames);
  if (v.components && v.components.length > 0) {
    parts.push(
      eb.or(v.components.map((c) => sql<SqlBool>`lower(${eb.ref('component')}) like ${`%${likeEscape(c.toLowerCase())}%`} escape '\\'`)),
    );
  }
  const search = v.search;
  if (search && search.words.length > 0) {
    if (search.dialect === 'postgres') {
      // Each word as a lexeme of the 'simple' configuration, all required.
      const query = search.words.map((w) => `'${w}'`).join(' & ');
      parts.push(sql<SqlBool>`search @@ to_tsquery('simple', ${query})`);
    } else {
      // Each word quoted (FTS5 syntax characters lose their meaning), all required.
      const match = search.words.map((w) => `"${w}"`).join(' ');
      parts.push(sql<SqlBool>`${eb.ref('id')} in (select rowid from events_fts where events_fts match ${match})`);
    }
  }
  return parts;
}
