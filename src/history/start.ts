// Opens the embedded archive for the program (src/main.ts): the file's folder is created, the
// background retention starts. Failures name the file and stop the start-up.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'winston';
import type { NamespaceOwnership } from '../events/query.js';
import { HistoryArchive } from './archive.js';
import { SqliteEngine } from './sqlite.js';

export interface HistoryConfig {
  path: string;
  archiveAllEvents: boolean;
}

export async function openHistory(config: HistoryConfig, owners: NamespaceOwnership, logger?: Logger): Promise<HistoryArchive> {
  const path = resolve(config.path);
  mkdirSync(dirname(path), { recursive: true });
  const archive = await HistoryArchive.open({
    engine: new SqliteEngine(path),
    owners,
    archiveAllEvents: config.archiveAllEvents,
    logger,
  });
  archive.retention.start();
  logger?.info(`event archive: ${path}${config.archiveAllEvents ? ' (all events)' : ''}`);
  return archive;
}
