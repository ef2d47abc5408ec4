// The finalizer step of a reconcile, as kube-rs' `finalizer(api, name, obj, Apply|Cleanup)`:
// a live object gets the finalizer before anything is provisioned for it (so nothing we create
// can outlive it unnoticed, whatever happens to this process), then `apply` runs; an object
// being deleted runs `cleanup` until it says `done`, then the finalizer goes and `finalized`
// runs once (the Deleted event). No in-memory state: a restart at any point resumes correctly.
import { patchFinalizers } from '../kube/apply.js';
import type { ReconcileResult } from '../kube/controller.js';
import { isNotFound, step } from '../kube/errors.js';
import { expectWrite, isDeleting, type ReconcilerBase } from './common.js';
import type { KubeObject } from '../kube/meta.js';

export interface FinalizerSteps<T extends KubeObject> {
  /** The object is live and carries the finalizer. */
  apply(obj: T): Promise<ReconcileResult | void>;
  /** The object is being deleted: clean up; `done` lets the finalizer go. */
  cleanup(obj: T): Promise<ReconcileResult | void | 'done'>;
  /** After the finalizer was removed by this call (not when someone else was faster). */
  finalized?(obj: T): void;
}

export async function finalizer<T extends KubeObject>(
  base: ReconcilerBase,
  obj: T,
  name: string,
  steps: FinalizerSteps<T>,
  signal?: AbortSignal,
): Promise<ReconcileResult | void> {
  signal?.throwIfAborted();
  const finalizers = obj.metadata?.finalizers ?? [];
  if (isDeleting(obj)) {
    if (!finalizers.includes(name)) return;
    const outcome = await steps.cleanup(obj);
    if (outcome !== 'done') return outcome;
    try {
      await step('finalizer', () => patchFinalizers(base.client, obj, finalizers.filter((f) => f !== name)));
    } catch (err) {
      if (isNotFound(err)) return; // gone already
      throw err;
    }
    steps.finalized?.(obj);
    return;
  }
  if (finalizers.includes(name)) return steps.apply(obj);
  const patched = await step('finalizer', () => patchFinalizers<T>(base.client, obj, [...finalizers, name]));
  expectWrite(base, obj, patched);
  return steps.apply(patched);
}
