// The VMs' last reported state (src/history/vm-states.ts): kept in the archive across a reopen,
// deleted rows gone, and a failing backend retried without losing the newest state of a uid.
import { expect } from 'chai';
import { HistoryArchive } from '../../../src/history/archive.js';
import { ArchiveVmStateBackend, VmStates, type VmRecord, type VmStateBackend } from '../../../src/history/vm-states.js';
import { ENGINES } from './engines.js';

const row = (uid: string, status: string): VmRecord => ({
  uid,
  namespace: 'vdc-a-dev',
  name: `vm-${uid}`,
  organization: 'a',
  vdc: 'dev',
  actor: 'alice',
  state: { created: true, ran: status === 'Running', status },
});

for (const E of ENGINES) {
  describe(`VM states in the archive (${E.name})`, function () {
    this.timeout(60_000);

    it('survive a reopen; deleted rows are gone; the newest state of a uid wins', async () => {
      const db = E.database();
      try {
        let archive = await HistoryArchive.open({ engine: db.engine() });
        let states = new VmStates(new ArchiveVmStateBackend(archive.engine));
        await states.load();
        states.set(row('1', 'Starting'));
        states.set(row('1', 'Running'));
        states.set(row('2', 'Stopped'));
        states.set(row('3', 'Running'));
        states.delete('3');
        expect(await states.flush()).to.equal(true);
        await archive.close();

        archive = await HistoryArchive.open({ engine: db.engine() });
        states = new VmStates(new ArchiveVmStateBackend(archive.engine));
        await states.load();
        expect(states.all().sort((a, b) => a.uid.localeCompare(b.uid))).to.deep.equal([{ ...row('1', 'Running'), owner: undefined }, { ...row('2', 'Stopped'), owner: undefined }]);
        await archive.close();
      } finally {
        await db.drop();
      }
    });

    it("keep a VM's stamps and deletionTimestamp inside the state (a deleted VM's actor is verified from them); rows without them read back as before", async () => {
      const db = E.database();
      try {
        let archive = await HistoryArchive.open({ engine: db.engine() });
        let states = new VmStates(new ArchiveVmStateBackend(archive.engine));
        await states.load();
        const stamped: VmRecord = {
          ...row('1', 'Stopped'),
          owner: 'alice',
          stamps: { 'ovim.io/requested-by': 'alice', 'ovim.io/deletion-requested-by': 'bob', 'ovim.io/actor-proof': 'p'.repeat(43) },
          deletionTimestamp: '2026-01-02T03:04:05Z',
        };
        states.set(stamped);
        states.set(row('2', 'Running'));
        expect(await states.flush()).to.equal(true);
        await archive.close();

        archive = await HistoryArchive.open({ engine: db.engine() });
        states = new VmStates(new ArchiveVmStateBackend(archive.engine));
        await states.load();
        expect(states.get('1')).to.deep.equal(stamped);
        expect(states.get('2')).to.deep.equal({ ...row('2', 'Running'), owner: undefined });
        expect(states.get('2')).to.not.have.property('stamps');
        await archive.close();
      } finally {
        await db.drop();
      }
    });
  });
}

describe('VM states: write-behind', () => {
  it('retries a failed write and keeps the newer state of a uid changed meanwhile', async () => {
    const written: VmRecord[][] = [];
    let fail = 1;
    const backend: VmStateBackend = {
      load: async () => [],
      write: async (save) => {
        if (fail-- > 0) throw new Error('database locked');
        written.push([...save]);
      },
    };
    const states = new VmStates(backend);
    states.set(row('1', 'Starting'));
    expect(await states.flush()).to.equal(true);
    states.set(row('1', 'Running'));
    expect(await states.flush()).to.equal(true);
    expect(written.flat().at(-1)).to.deep.equal(row('1', 'Running'));
    expect(written.flat().map((r) => r.state.status)).to.include('Starting');
  });

  it('reload() takes the backend rows (another leader wrote them) and keeps unwritten changes of its own on top', async () => {
    let stored: VmRecord[] = [row('1', 'Starting'), row('2', 'Running')];
    const backend: VmStateBackend = { load: async () => stored.map((r) => ({ ...r })), write: () => new Promise(() => undefined) };
    const states = new VmStates(backend);
    await states.load();
    expect(states.get('1')?.state.status).to.equal('Starting');
    stored = [row('1', 'Stopped'), row('3', 'Running')];
    states.set(row('4', 'Running')); // its write never finishes: still in flight or waiting
    await states.reload();
    expect(states.all().map((r) => `${r.uid}:${r.state.status}`).sort()).to.deep.equal(['1:Stopped', '3:Running', '4:Running']);
    states.stop();
  });

  it('without a backend it keeps the rows in memory only', async () => {
    const states = new VmStates(undefined);
    states.set(row('1', 'Running'));
    expect(states.get('1')?.state.status).to.equal('Running');
    expect(await states.flush()).to.equal(true);
  });
});
