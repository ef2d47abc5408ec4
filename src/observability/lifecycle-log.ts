// One info line per Organization or VDC that becomes Active, becomes Failed, or is deleted
// (its finalizer removed): what a user of `make run` or a log search wants to see, without the
// debug noise of every reconcile. Follows the informers, so it needs no hunk in the reconcilers;
// only the leader logs (the followers' caches see the same changes).
import type { Logger } from 'winston';
import type { EventSource } from '../kube/controller.js';
import type { KubeObject } from '../kube/meta.js';
import { findCondition } from '../resources/conditions.js';
import type { Condition } from '../resources/types.js';

interface WithStatus extends KubeObject {
  status?: { phase?: string; conditions?: Condition[] };
}

export type Lifecycle = 'Active' | 'Failed' | 'deleted';

/** What a change means for the lifecycle log (pure): a phase reached now, or nothing. */
export function lifecycleChange(obj: WithStatus, old: WithStatus | undefined): Lifecycle | undefined {
  const phase = obj.status?.phase;
  if (phase !== 'Active' && phase !== 'Failed') return undefined;
  // The first list shows objects as they already are: not a change.
  if (!old || old.status?.phase === phase) return undefined;
  return phase;
}

export function followLifecycle(
  kind: string,
  controller: string,
  informer: EventSource<WithStatus>,
  logger: Logger,
  isLeader: () => boolean = () => true,
): void {
  const log = (obj: WithStatus, what: Lifecycle) => {
    if (!isLeader()) return;
    const name = obj.metadata?.name ?? '';
    const namespace = obj.metadata?.namespace;
    const ready = findCondition(obj.status?.conditions, 'Ready');
    const where = namespace ? `${namespace}/${name}` : name;
    const fields = { controller, controllerKind: kind, ...(namespace ? { namespace } : {}), name };
    if (what === 'deleted') logger.info(`${kind} ${where} deleted`, fields);
    else if (what === 'Active') logger.info(`${kind} ${where} is Active`, { ...fields, phase: what });
    else logger.info(`${kind} ${where} is Failed: ${ready?.message ?? ready?.reason ?? 'no reason given'}`, { ...fields, phase: what, reason: ready?.reason });
  };
  informer.on('update', (obj, old) => {
    const change = lifecycleChange(obj, old);
    if (change) log(obj, change);
  });
  informer.on('delete', (obj) => log(obj, 'deleted'));
}
