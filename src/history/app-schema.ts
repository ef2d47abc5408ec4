// Migration 5: what application-level events add to the archive (DESIGN.md section 7): who
// posted them (`requested_via`) and the involved object's namespace and uid; the answers of
// Idempotency-Keys; full-text search on the embedded engine (an FTS5 index kept by triggers;
// PostgreSQL has had its `search` tsvector column since migration 1).
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import type { ArchiveDatabase, EngineDialect } from './schema.js';

/** A replayable answer of a POST with an Idempotency-Key. */
export interface IdempotencyTable {
  /** The poster's user id and the key. */
  key: string;
  /** A hash of the request (path and body): the same key with another request is refused. */
  fingerprint: string;
  status: number;
  body: string;
  created_at: number;
}

export function appEventsMigration(db: Kysely<ArchiveDatabase>, dialect: EngineDialect): CompiledQuery[] {
  const raw = (text: string) => sql.raw(text).compile(db);
  const text = dialect === 'postgres' ? 'text collate "C"' : 'text';
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer';
  const out = [
    raw(`alter table events add column requested_via ${text}`),
    raw(`alter table events add column object_namespace ${text}`),
    raw(`alter table events add column object_uid ${text}`),
    raw(`create table app_idempotency (key ${text} primary key, fingerprint text not null, status integer not null, body text not null, created_at ${bigint} not null)`),
    raw('create index app_idempotency_created on app_idempotency (created_at)'),
  ];
  if (dialect === 'sqlite') {
    out.push(
      raw("create virtual table events_fts using fts5(message, content='events', content_rowid='id')"),
      raw('create trigger events_fts_insert after insert on events begin insert into events_fts(rowid, message) values (new.id, new.message); end'),
      raw("create trigger events_fts_delete after delete on events begin insert into events_fts(events_fts, rowid, message) values ('delete', old.id, old.message); end"),
      raw(
        "create trigger events_fts_update after update of message on events begin insert into events_fts(events_fts, rowid, message) values ('delete', old.id, old.message); insert into events_fts(rowid, message) values (new.id, new.message); end",
      ),
      raw("insert into events_fts(events_fts) values ('rebuild')"),
    );
  }
  return out;
}
