// Helpers of the application-level events suites: requests with any method and body, and a
// valid posted event to vary.
import { EventStore } from '../../../src/events/store.js';
import { HistoryArchive } from '../../../src/history/archive.js';
import type { ApiServerOptions } from '../../../src/http/server.js';
import { startServer, type TestServer } from '../http/support.js';
import type { EngineUnderTest } from './engines.js';
import { OWNERS, liveOwners } from './fixtures.js';

/** A fresh archive on the engine (the fixtures' namespace owners known) and an API server on it. */
export async function archiveServer(engine: EngineUnderTest, appEvents?: ApiServerOptions['appEvents'], security?: ApiServerOptions['security']) {
  const db = engine.database();
  const owners = liveOwners();
  const archive = await HistoryArchive.open({ engine: db.engine(), owners });
  for (const [ns, org] of OWNERS) archive.rememberOwner(ns, org);
  await archive.flush();
  const srv = await startServer({ store: new EventStore({ namespaceOwners: owners }), history: archive, appEvents, security });
  return {
    archive,
    srv,
    async close() {
      await srv.close();
      await archive.close();
      await db.drop();
    },
  };
}

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

