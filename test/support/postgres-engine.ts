// The PostgreSQL engine on a fresh database of the run's test server (test/support/postgres.ts),
// for suites that need a database synchronously: the database is created on the engine's first
// open, and dropped (sessions cut) by `drop()`.
import type { HistoryEngine } from '../../src/history/engine.js';
import { PostgresEngine, type PostgresEngineOptions } from '../../src/history/postgres.js';
import { testPostgres, type TestPostgres } from './postgres.js';

let server: TestPostgres | undefined;
let counter = 0;

// Mocha root hook (registered when a suite imports this module): the server before any test.
before(async function () {
  this.timeout(180_000);
  server = await testPostgres();
});

class FreshDatabaseEngine extends PostgresEngine {
  constructor(
    url: string,
    private readonly create: () => Promise<void>,
    options: PostgresEngineOptions,
  ) {
    super(url, options);
  }

  override async open(): Promise<void> {
    await this.create();
    await super.open();
  }
}

export function freshPostgresDatabase(options: PostgresEngineOptions = {}): { engine(): HistoryEngine; url(): string; drop(): Promise<void> } {
  const pgServer = server;
  if (!pgServer) throw new Error('the test PostgreSQL server is not started (import test/support/postgres-engine.ts at the top level)');
  const name = `ovim_history_${process.pid}_${++counter}_${Date.now().toString(36)}`;
  const url = pgServer.urlOf(name);
  let created: Promise<void> | undefined;
  const create = () => (created ??= pgServer.createDatabase(name));
  return {
    engine: () => new FreshDatabaseEngine(url, create, options),
    url: () => url,
    drop: async () => {
      if (!created) return;
      await created.catch(() => undefined);
      await pgServer.dropDatabase(url);
    },
  };
}
