// VM lifecycle decisions (DESIGN.md sections 3 and 4), pure: from what was last reported about a
// KubeVirt VirtualMachine and what its status says now, the events to record and the next
// "last reported" state. The watcher (vm-watcher.ts) does the I/O and keeps that state durable.

/** KubeVirt's `status.printableStatus` values. */
export const PRINTABLE_STATUSES = [
  'Stopped',
  'Provisioning',
  'Starting',
  'Running',
  'Paused',
  'Stopping',
  'Terminating',
  'CrashLoopBackOff',
  'Migrating',
  'Unknown',
  'ErrorUnschedulable',
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrorPvcNotFound',
  'DataVolumeError',
  'WaitingForVolumeBinding',
  'WaitingForReceiver',
] as const;

export type PrintableStatus = (typeof PRINTABLE_STATUSES)[number];

/** The failures a VM reports; statuses of one cause (ErrImagePull ⇄ ImagePullBackOff) are one. */
export type FailureCause = 'image-pull' | 'pvc-not-found' | 'data-volume' | 'unschedulable' | 'crash-loop' | 'failure-condition';

const STATUS_CAUSES: Partial<Record<string, FailureCause>> = {
  ErrImagePull: 'image-pull',
  ImagePullBackOff: 'image-pull',
  ErrorPvcNotFound: 'pvc-not-found',
  DataVolumeError: 'data-volume',
  ErrorUnschedulable: 'unschedulable',
  CrashLoopBackOff: 'crash-loop',
};

/** Causes that are always a start-up problem (the VM got past provisioning). */
const STARTUP_CAUSES: ReadonlySet<FailureCause> = new Set(['unschedulable', 'crash-loop']);

/** Statuses that mean the VM was scheduled (a Failure condition then is a start-up failure). */
const SCHEDULED: ReadonlySet<string> = new Set(['Starting', 'Running', 'Paused', 'Stopping', 'Migrating', 'CrashLoopBackOff', 'ErrorUnschedulable']);

/** What the operator last reported about one VM (by uid); kept durably by the watcher. */
export interface VmReported {
  /** VMCreated was recorded. */
  created: boolean;
  /** The VM has been seen Running (VMStopped needs it; failures after it are start-up failures). */
  ran: boolean;
  /** The printableStatus of the last decision ('' before any). */
  status: string;
  /** The failure being reported now; cleared once the VM shows none (then it may fire again). */
  failure?: FailureCause;
}

export interface VmCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

/** The parts of a VM's status the decisions read. */
export interface VmStatusView {
  printableStatus?: string;
  conditions?: VmCondition[];
  startFailure?: { consecutiveFailCount?: number; retryAfterTimestamp?: string | null } | null;
}

export type VmReason = 'VMCreated' | 'VMStarted' | 'VMStopped' | 'ProvisioningFailed' | 'StartupFailed';

export interface VmDecision {
  reason: VmReason;
  /** For failures: what KubeVirt says (status, condition reason and message), not yet redacted. */
  detail?: string;
}

export const NOTHING_REPORTED: VmReported = Object.freeze({ created: false, ran: false, status: '' });

function failureCondition(status: VmStatusView): VmCondition | undefined {
  return status.conditions?.find((c) => c?.type === 'Failure' && c.status === 'True');
}

/** The failure the status shows now, the most specific first, and KubeVirt's words for it. */
export function currentFailure(status: VmStatusView): { cause: FailureCause; detail: string } | undefined {
  const printable = status.printableStatus ?? '';
  const condition = failureCondition(status);
  const said = condition ? [condition.reason, condition.message].filter(Boolean).join(': ') : '';
  const byStatus = STATUS_CAUSES[printable];
  if (byStatus) return { cause: byStatus, detail: said ? `${printable} (${said})` : printable };
  const fails = status.startFailure?.consecutiveFailCount ?? 0;
  // KubeVirt keeps startFailure between the crash loop's attempts: the same occurrence.
  if (fails > 0) return { cause: 'crash-loop', detail: `${fails} consecutive start failures${said ? ` (${said})` : ''}` };
  if (condition) return { cause: 'failure-condition', detail: said || 'Failure condition' };
  return undefined;
}

/**
 * The events for one observation of a VM. VMCreated once per uid; VMStarted on entering
 * Running; VMStopped on entering Stopped after having run; one failure event per occurrence,
 * again only after an observation without failure.
 */
export function decideVm(prev: VmReported, status: VmStatusView): { next: VmReported; events: VmDecision[] } {
  const events: VmDecision[] = [];
  const printable = status.printableStatus ?? '';
  if (!prev.created) events.push({ reason: 'VMCreated' });
  if (printable === 'Running' && prev.status !== 'Running') events.push({ reason: 'VMStarted' });
  if (printable === 'Stopped' && prev.status !== 'Stopped' && prev.ran) events.push({ reason: 'VMStopped' });
  const failure = currentFailure(status);
  if (failure && failure.cause !== prev.failure) {
    // A Failure condition counts as a start-up failure once the VM was scheduled.
    const startup = prev.ran || STARTUP_CAUSES.has(failure.cause) || (failure.cause === 'failure-condition' && SCHEDULED.has(printable));
    events.push({ reason: startup ? 'StartupFailed' : 'ProvisioningFailed', detail: failure.detail });
  }
  const next: VmReported = { created: true, ran: prev.ran || printable === 'Running', status: printable };
  if (failure) next.failure = failure.cause;
  return { next, events };
}

/** Whether two reported states are the same (nothing to persist). */
export function sameReported(a: VmReported, b: VmReported): boolean {
  return a.created === b.created && a.ran === b.ran && a.status === b.status && a.failure === b.failure;
}

const MAX_DETAIL = 300;

/** The event message for a decision; the recorder redacts and bounds it again. */
export function vmMessage(decision: VmDecision, vm: { name: string; vdc?: string; organization?: string }): string {
  const where = `in VDC '${vm.vdc ?? 'unknown'}' of organization '${vm.organization ?? 'unknown'}'`;
  const detail = decision.detail && decision.detail.length > MAX_DETAIL ? `${decision.detail.slice(0, MAX_DETAIL)}…` : decision.detail;
  switch (decision.reason) {
    case 'VMCreated':
      return `Virtual machine '${vm.name}' created ${where}`;
    case 'VMStarted':
      return `Virtual machine '${vm.name}' started ${where}`;
    case 'VMStopped':
      return `Virtual machine '${vm.name}' stopped ${where}`;
    case 'ProvisioningFailed':
      return `Virtual machine '${vm.name}' ${where} failed to provision: ${detail ?? 'unknown'}`;
    case 'StartupFailed':
      return `Virtual machine '${vm.name}' ${where} failed to start: ${detail ?? 'unknown'}`;
  }
}

export function vmDeletedMessage(vm: { name: string; vdc?: string; organization?: string }): string {
  return `Virtual machine '${vm.name}' deleted from VDC '${vm.vdc ?? 'unknown'}' of organization '${vm.organization ?? 'unknown'}'`;
}
