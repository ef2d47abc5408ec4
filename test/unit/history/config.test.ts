// The archive's flags and variables.
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../../src/config.js';

describe('archive configuration', () => {
  it('is on by default in ovim-history.db, and follows flags over the environment', () => {
    expect(loadConfig([], {}).history).to.deep.equal({ path: 'ovim-history.db', archiveAllEvents: false });
    expect(loadConfig([], { OVIM_HISTORY_PATH: '/data/h.db', OVIM_ARCHIVE_ALL_EVENTS: '1' }).history).to.deep.equal({
      path: '/data/h.db',
      archiveAllEvents: true,
    });
    expect(loadConfig(['--history-path', '/var/lib/ovim/history.db', '--archive-all-events'], { OVIM_HISTORY_PATH: '/data/h.db' }).history).to.deep.equal({
      path: '/var/lib/ovim/history.db',
      archiveAllEvents: true,
    });
    expect(loadConfig(['--no-history'], {}).history.path).to.equal(null);
    expect(loadConfig([], { OVIM_HISTORY: '0' }).history.path).to.equal(null);
    expect(() => loadConfig(['--history-path='], {})).to.throw(ConfigError, /--no-history/);
  });
});
