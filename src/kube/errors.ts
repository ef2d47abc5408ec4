// Reading HTTP status codes out of @kubernetes/client-node 1.x errors.
import { ApiException } from '@kubernetes/client-node';
import { noteStep } from '../observability/reconcile-context.js';

/** The HTTP status of a failed API call, or undefined for network-level failures. */
export function apiStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown } | null | undefined;
  // KubeApiError and most HTTP errors carry `code`; client-node's Watch sets `statusCode`.
  const code = typeof e?.code === 'number' ? e.code : e?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's human message (metav1.Status.message) when there is one. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === 'string') return parsed.message;
      } catch {
        return body;
      }
    } else if (body && typeof (body as { message?: unknown }).message === 'string') {
      return (body as { message: string }).message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

export const isNotFound = (err: unknown): boolean => apiStatusCode(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatusCode(err) === 409;

/**
 * A failure of one named step of a reconcile ("namespace", "status", "finalizer", …): the step
 * goes into the logs and the ReconcileFailed message. The HTTP status of the cause stays
 * readable (`code`, so apiStatusCode() and isNotFound() see through it).
 */
export class ReconcileStepError extends Error {
  override readonly name = 'ReconcileStepError';
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(`${step}: ${apiErrorMessage(cause)}`);
  }

  get code(): number | undefined {
    return apiStatusCode(this.cause);
  }
}

/** Runs one step of a reconcile; a failure comes out as a ReconcileStepError naming it. */
export async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } catch (err) {
    throw err instanceof ReconcileStepError ? err : new ReconcileStepError(name, err);
  } finally {
    // Step times name the slowest step of a SlowReconcile.
    noteStep(name, performance.now() - started);
  }
}
