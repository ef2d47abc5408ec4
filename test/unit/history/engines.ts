// The engines the history suite runs against: every test file iterates over ENGINES, so a second
// engine (PostgreSQL) runs the same suite unchanged by adding one entry here. PostgreSQL is a real
// server (test/support/postgres.ts), one database per `database()`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryEngine } from '../../../src/history/engine.js';
import { SqliteEngine } from '../../../src/history/sqlite.js';
import { freshPostgresDatabase } from '../../support/postgres-engine.js';

export interface EngineUnderTest {
  name: string;
  /** A fresh, empty database; `engine()` connects to it (again after a restart). */
  database(): { engine(): HistoryEngine; drop(): Promise<void> };
}

export const ENGINES: EngineUnderTest[] = [
  {
    name: 'embedded (SQLite)',
    database() {
      const dir = mkdtempSync(join(tmpdir(), 'ovim-history-'));
      return {
        engine: () => new SqliteEngine(join(dir, 'history.db'), { busyTimeoutMs: 50 }),
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  { name: 'PostgreSQL', database: freshPostgresDatabase },
];
