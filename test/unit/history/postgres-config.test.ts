// The PostgreSQL archive's flag and variable, its monthly partitions, and the URL's redaction (pure).
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { droppableCandidates, monthOf, monthsAhead, parsePartition } from '../../../src/history/postgres-partitions.js';
import { parseDatabaseUrl } from '../../../src/history/postgres-url.js';
import { defaultPolicies } from '../../../src/history/retention.js';

describe('PostgreSQL archive configuration', () => {
  it('takes --database-url over OVIM_DATABASE_URL, and neither by default', () => {
    expect(loadConfig([], {}).history.databaseUrl).to.equal(undefined);
    expect(loadConfig([], { OVIM_DATABASE_URL: 'postgres://a@db/x' }).history.databaseUrl).to.equal('postgres://a@db/x');
    expect(loadConfig(['--database-url', 'postgres://b@db/y'], { OVIM_DATABASE_URL: 'postgres://a@db/x' }).history.databaseUrl).to.equal('postgres://b@db/y');
    expect(() => loadConfig(['--database-url='], {})).to.throw(ConfigError, /postgres:\/\//);
  });

  it('names the database without its password and redacts it (raw and decoded) from messages', () => {
    const url = parseDatabaseUrl('postgres://ovim:p%40ss%2Fw0rd@db.example:5432/archive?sslmode=verify-full');
    expect(url.location).to.equal('postgres://ovim@db.example:5432/archive');
    expect(url.redact('auth failed for p@ss/w0rd and p%40ss%2Fw0rd')).to.equal('auth failed for *** and ***');
    expect(() => parseDatabaseUrl('mysql://u:secret@h/d')).to.throw(/postgres:\/\//);
  });
});

describe('PostgreSQL archive partitions', () => {
  it('names UTC months and creates the coming ones ahead', () => {
    expect(monthOf(Date.UTC(2026, 11, 31, 23, 59))).to.deep.equal({ name: 'events_p202612', from: Date.UTC(2026, 11, 1), to: Date.UTC(2027, 0, 1) });
    expect(parsePartition('events_p202612')).to.deep.equal(monthOf(Date.UTC(2026, 11, 5)));
    expect(parsePartition('events_default')).to.equal(undefined);
    expect(monthsAhead(Date.UTC(2026, 10, 15), 3).map((m) => m.name)).to.deep.equal(['events_p202611', 'events_p202612', 'events_p202701', 'events_p202702']);
  });

  it('considers dropping only months that end before the latest policy cutoff', () => {
    const now = Date.UTC(2026, 2, 1);
    const months = [monthOf(Date.UTC(2025, 8, 1)), monthOf(Date.UTC(2026, 1, 1)), monthOf(Date.UTC(2026, 0, 1))];
    // The shortest default retention is 14 days (system Normal): cutoff Feb 15.
    expect(droppableCandidates(months, defaultPolicies(), now).map((m) => m.name)).to.deep.equal(['events_p202509', 'events_p202601']);
    expect(droppableCandidates(months, [], now)).to.deep.equal([]);
  });
});
