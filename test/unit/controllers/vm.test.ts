// VM lifecycle decisions (src/controllers/vm.ts): every (previous, next) printableStatus pair, for a
// VM that never ran and one that did, plus the condition and startFailure cases.
import { expect } from 'chai';
import { NOTHING_REPORTED, PRINTABLE_STATUSES, decideVm, vmMessage, type VmReported, type VmStatusView } from '../../../src/controllers/vm.js';

// The contract's classes, written out independently of the implementation's tables.
const PROVISIONING = ['ErrImagePull', 'ImagePullBackOff', 'ErrorPvcNotFound', 'DataVolumeError'];
const STARTUP = ['ErrorUnschedulable', 'CrashLoopBackOff'];
const SAME_OCCURRENCE: Record<string, string> = { ErrImagePull: 'pull', ImagePullBackOff: 'pull' };
const occurrence = (s: string) => SAME_OCCURRENCE[s] ?? s;
const failing = (s: string) => PROVISIONING.includes(s) || STARTUP.includes(s);

/** What the contract says observing `next` after `prev` records (VM already reported created). */
function expected(prev: string, next: string, ranBefore: boolean): string[] {
  const out: string[] = [];
  if (next === 'Running' && prev !== 'Running') out.push('VMStarted');
  if (next === 'Stopped' && prev !== 'Stopped' && (ranBefore || prev === 'Running')) out.push('VMStopped');
  if (failing(next) && !(failing(prev) && occurrence(prev) === occurrence(next))) {
    const ran = ranBefore || prev === 'Running';
    out.push(STARTUP.includes(next) || ran ? 'StartupFailed' : 'ProvisioningFailed');
  }
  return out;
}

const reasons = (r: { events: { reason: string }[] }) => r.events.map((e) => e.reason);

describe('VM transitions (decideVm)', () => {
  for (const ranBefore of [false, true]) {
    describe(ranBefore ? 'a VM that has run before' : 'a VM that never ran', () => {
      for (const prev of PRINTABLE_STATUSES) {
        for (const next of PRINTABLE_STATUSES) {
          const want = expected(prev, next, ranBefore);
          it(`${prev} → ${next}: ${want.join(', ') || 'nothing'}`, () => {
            // Reach `prev` the way the watcher does: from a VM seen before (ran or not).
            const start: VmReported = { created: true, ran: ranBefore, status: ranBefore ? 'Stopped' : 'Provisioning' };
            const before = decideVm(start, { printableStatus: prev }).next;
            const result = decideVm(before, { printableStatus: next });
            expect(reasons(result)).to.deep.equal(want);
            // The same observation again (a resync, a relist, a restart) records nothing.
            expect(reasons(decideVm(result.next, { printableStatus: next }))).to.deep.equal([]);
          });
        }
      }
    });
  }

  it('a new VM: VMCreated once, with VMStarted when first seen Running (catch-up)', () => {
    const first = decideVm(NOTHING_REPORTED, { printableStatus: 'Running' });
    expect(reasons(first)).to.deep.equal(['VMCreated', 'VMStarted']);
    expect(first.next).to.deep.equal({ created: true, ran: true, status: 'Running' });
    expect(reasons(decideVm(first.next, { printableStatus: 'Running' }))).to.deep.equal([]);
  });

  it('a new VM without status: VMCreated only', () => {
    expect(reasons(decideVm(NOTHING_REPORTED, {}))).to.deep.equal(['VMCreated']);
  });

  it('a new VM stopped: VMCreated, no VMStopped (it never ran)', () => {
    expect(reasons(decideVm(NOTHING_REPORTED, { printableStatus: 'Stopped' }))).to.deep.equal(['VMCreated']);
  });

  it('ErrImagePull ⇄ ImagePullBackOff is one occurrence; after Provisioning it may fire again', () => {
    let s = decideVm(NOTHING_REPORTED, { printableStatus: 'ErrImagePull' });
    expect(reasons(s)).to.deep.equal(['VMCreated', 'ProvisioningFailed']);
    s = decideVm(s.next, { printableStatus: 'ImagePullBackOff' });
    expect(reasons(s)).to.deep.equal([]);
    s = decideVm(s.next, { printableStatus: 'ErrImagePull' });
    expect(reasons(s)).to.deep.equal([]);
    s = decideVm(s.next, { printableStatus: 'Provisioning' });
    expect(reasons(s)).to.deep.equal([]);
    s = decideVm(s.next, { printableStatus: 'ErrImagePull' });
    expect(reasons(s)).to.deep.equal(['ProvisioningFailed']);
  });

  const failure = (reason: string, message: string) => ({ type: 'Failure', status: 'True', reason, message });

  const cases: { title: string; prev: VmReported; status: VmStatusView; want: string[]; detail?: string }[] = [
    {
      title: 'Failure condition before scheduling → ProvisioningFailed with its reason and message',
      prev: { created: true, ran: false, status: 'Provisioning' },
      status: { printableStatus: 'Provisioning', conditions: [failure('FailedCreate', 'pods "virt-launcher-x" is forbidden: exceeded quota')] },
      want: ['ProvisioningFailed'],
      detail: 'FailedCreate: pods "virt-launcher-x" is forbidden: exceeded quota',
    },
    {
      title: 'Failure condition while Starting → StartupFailed',
      prev: { created: true, ran: false, status: 'Provisioning' },
      status: { printableStatus: 'Starting', conditions: [failure('FailedCreate', 'quota')] },
      want: ['StartupFailed'],
    },
    {
      title: 'Failure condition after having run → StartupFailed',
      prev: { created: true, ran: true, status: 'Stopped' },
      status: { printableStatus: 'Stopped', conditions: [failure('FailedCreate', 'quota')] },
      want: ['StartupFailed'],
    },
    {
      title: 'Failure condition False → nothing',
      prev: { created: true, ran: false, status: 'Provisioning' },
      status: { printableStatus: 'Provisioning', conditions: [{ type: 'Failure', status: 'False' }] },
      want: [],
    },
    {
      title: 'Failure condition already reported → nothing',
      prev: { created: true, ran: false, status: 'Provisioning', failure: 'failure-condition' },
      status: { printableStatus: 'Provisioning', conditions: [failure('FailedCreate', 'quota')] },
      want: [],
    },
    {
      title: 'startFailure while Starting → StartupFailed naming the count',
      prev: { created: true, ran: false, status: 'Provisioning' },
      status: { printableStatus: 'Starting', startFailure: { consecutiveFailCount: 2, retryAfterTimestamp: '2026-01-01T00:00:00Z' } },
      want: ['StartupFailed'],
      detail: '2 consecutive start failures',
    },
    {
      title: 'CrashLoopBackOff then Starting with startFailure kept → one StartupFailed',
      prev: { created: true, ran: false, status: 'CrashLoopBackOff', failure: 'crash-loop' },
      status: { printableStatus: 'Starting', startFailure: { consecutiveFailCount: 3 } },
      want: [],
    },
    {
      title: 'startFailure with count 0 → nothing',
      prev: { created: true, ran: false, status: 'Provisioning' },
      status: { printableStatus: 'Starting', startFailure: { consecutiveFailCount: 0 } },
      want: [],
    },
    {
      title: 'Ready condition False alone → nothing',
      prev: { created: true, ran: true, status: 'Running' },
      status: { printableStatus: 'Running', conditions: [{ type: 'Ready', status: 'False', reason: 'x' }] },
      want: [],
    },
    {
      title: 'ErrImagePull with a Failure condition → one ProvisioningFailed naming both',
      prev: { created: true, ran: false, status: 'Provisioning' },
      status: { printableStatus: 'ErrImagePull', conditions: [failure('ErrImagePull', 'rpc error: image not found')] },
      want: ['ProvisioningFailed'],
      detail: 'ErrImagePull (ErrImagePull: rpc error: image not found)',
    },
    {
      title: 'Running after a crash loop clears it: a later CrashLoopBackOff fires again',
      prev: { created: true, ran: true, status: 'Running' },
      status: { printableStatus: 'CrashLoopBackOff', startFailure: { consecutiveFailCount: 1 } },
      want: ['StartupFailed'],
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const result = decideVm(c.prev, c.status);
      expect(reasons(result)).to.deep.equal(c.want);
      if (c.detail) expect(result.events[0]?.detail).to.equal(c.detail);
      expect(reasons(decideVm(result.next, c.status))).to.deep.equal([]);
    });
  }

  it('messages name the VM, the VDC, the organization and KubeVirt\'s words (cut)', () => {
    const msg = vmMessage({ reason: 'ProvisioningFailed', detail: `ErrImagePull (${'x'.repeat(1000)})` }, { name: 'web', vdc: 'dev', organization: 'acme' });
    expect(msg).to.match(/^Virtual machine 'web' in VDC 'dev' of organization 'acme' failed to provision: ErrImagePull \(x+…$/);
    expect(msg.length).to.be.below(400);
    expect(vmMessage({ reason: 'VMStarted' }, { name: 'web', vdc: 'dev', organization: 'acme' })).to.equal(
      "Virtual machine 'web' started in VDC 'dev' of organization 'acme'",
    );
  });
});
