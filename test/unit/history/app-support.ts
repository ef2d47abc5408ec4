// Helpers of the application-level events suites: requests with any method and body, and a
// valid posted event to vary.
import type { TestServer } from '../http/support.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

export async function send(srv: TestServer, method: string, path: string, bearer: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${srv.url}${path}`, {
    method,
    headers: {
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text };
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** A valid event; `over` replaces fields. */
export function appEvent(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `power-on.${Math.random().toString(36).slice(2)}`,
    type: 'Normal',
    reason: 'VMPowerOnRequested',
    message: 'VM power-on requested by alice in the UI',
    component: 'ovim-backend',
    category: 'vm',
    action: 'power_on',
    org_id: 'a',
    vdc_id: 'x',
    vm_id: 'vm-1',
    user_id: 'u-1',
    username: 'alice',
    involved_object_kind: 'VirtualMachine',
    involved_object_name: 'vm-1',
    involved_object_namespace: 'vdc-a-x',
    metadata: { source: 'ui' },
    ...over,
  };
}

