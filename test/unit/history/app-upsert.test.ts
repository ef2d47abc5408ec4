// A bulk's upsert reuses the SQL compiled for rows of its shape and number: the statement and
// its parameters must equal a fresh compile, for rows with and without the optional fields.
import { expect } from 'chai';
import { NO_NAMESPACE_OWNERS } from '../../../src/events/query.js';
import { appEventRow, type AppEventInput } from '../../../src/history/app-events.js';
import { appUpsert, compileAppUpsert } from '../../../src/history/app-store.js';
import { compiler } from '../../../src/history/sql.js';

describe('the application events upsert', () => {
  const input = (i: number): AppEventInput => ({
    name: `n-${i}`,
    reason: i % 2 ? 'VMPowerOn' : 'QuotaRaised',
    message: `message ${i}`,
    type: i % 3 ? 'Normal' : 'Warning',
    ...(i % 2 ? { org_id: 'a', vdc_id: 'x', username: 'alice', metadata: { k: String(i) } } : {}),
    ...(i % 4 === 0 ? { involved_object_kind: 'VirtualMachine', involved_object_name: `vm-${i}`, involved_object_namespace: 'vdc-a-x' } : {}),
  });
  for (const dialect of ['sqlite', 'postgres'] as const) {
    it(`reuses a compiled statement with the parameters of a fresh compile (${dialect})`, () => {
      const db = compiler(dialect);
      for (let round = 0; round < 3; round++) {
        for (const n of [1, 7, 100]) {
          const rows = Array.from({ length: n }, (_, i) => appEventRow(input(i + round * 1000), 1_700_000_000_000 + i, { username: 'backend' }, NO_NAMESPACE_OWNERS, 1_700_000_000_000));
          const fresh = compileAppUpsert(db, dialect, rows);
          const got = appUpsert(db, dialect, rows);
          expect(got.sql, `${n} rows`).to.equal(fresh.sql);
          expect(got.parameters, `${n} rows`).to.deep.equal(fresh.parameters);
        }
      }
    });
  }
});
