// What is known about the reconcile running now, carried through its async calls: the fields of
// its log lines (controller-runtime's controller, controllerKind, namespace, name, reconcileID)
// and how long each named step took (for SlowReconcile). The logger's format reads the fields
// (src/log.ts), step() in src/kube/errors.ts notes the step times, the Controller opens it.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export interface ReconcileFields {
  controller: string;
  controllerKind?: string;
  namespace?: string;
  name: string;
  reconcileID: string;
}

export interface ReconcileContext {
  fields: ReconcileFields;
  /** Milliseconds per step name (a step run twice adds up). */
  steps: Map<string, number>;
}

const scope = new AsyncLocalStorage<ReconcileContext>();

/** The fields of a reconcile of `key` (`namespace/name` or `name`), with a fresh reconcileID. */
export function reconcileFields(controller: string, controllerKind: string | undefined, key: string): ReconcileFields {
  const slash = key.indexOf('/');
  const fields: ReconcileFields = {
    controller,
    name: slash < 0 ? key : key.slice(slash + 1),
    reconcileID: randomUUID(),
  };
  if (controllerKind) fields.controllerKind = controllerKind;
  if (slash >= 0) fields.namespace = key.slice(0, slash);
  return fields;
}

export function runInReconcile<T>(context: ReconcileContext, work: () => T): T {
  return scope.run(context, work);
}

/** The reconcile running now, if any. */
export function currentReconcile(): ReconcileContext | undefined {
  return scope.getStore();
}

/** Adds the duration of a step to the running reconcile (no-op outside one). */
export function noteStep(name: string, ms: number): void {
  const steps = scope.getStore()?.steps;
  if (steps) steps.set(name, (steps.get(name) ?? 0) + ms);
}

/** The step that took longest, if any step was named. */
export function slowestStep(steps: ReadonlyMap<string, number>): { step: string; ms: number } | undefined {
  let worst: { step: string; ms: number } | undefined;
  for (const [step, ms] of steps) if (!worst || ms > worst.ms) worst = { step, ms };
  return worst;
}
