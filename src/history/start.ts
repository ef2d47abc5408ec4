// Opens the archive for the program (src/main.ts): PostgreSQL when a database URL is given, else
// the embedded file (its folder created). Background retention starts, running on the leader
// only. Failures name the file or the database (never its password) and stop the start-up.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'winston';
import type { NamespaceOwnership } from '../events/query.js';
import { HistoryArchive } from './archive.js';
import type { HistoryEngine } from './engine.js';
import { PostgresEngine } from './postgres.js';
import { SqliteEngine } from './sqlite.js';

export interface HistoryConfig {
  path: string;
  archiveAllEvents: boolean;
  /** PostgreSQL (postgres://…): several replicas share it; `path` is then unused. */
  databaseUrl?: string;
  /** Whether this replica enforces retention (default: always). */
  isLeader?: () => boolean;
}

export async function openHistory(config: HistoryConfig, owners: NamespaceOwnership, logger?: Logger): Promise<HistoryArchive> {
  let engine: HistoryEngine;
  if (config.databaseUrl) {
    engine = new PostgresEngine(config.databaseUrl, { logger });
  } else {
    const path = resolve(config.path);
    mkdirSync(dirname(path), { recursive: true });
    engine = new SqliteEngine(path);
  }
  const archive = await HistoryArchive.open({
    engine,
    owners,
    archiveAllEvents: config.archiveAllEvents,
    logger,
  });
  archive.retention.start(undefined, undefined, config.isLeader);
  logger?.info(`event archive: ${engine.location}${config.archiveAllEvents ? ' (all events)' : ''}`);
  return archive;
}
