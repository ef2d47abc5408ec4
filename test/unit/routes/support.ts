// Event records and routes for the route tests.
import type { EventRecord } from '../../../src/events/query.js';
import type { EventRoute, EventRouteSpec } from '../../../src/routes/types.js';

export function record(over: Partial<EventRecord> = {}): EventRecord {
  return {
    uid: 'u-1',
    name: 'dev.1',
    namespace: 'org-a',
    type: 'Warning',
    reason: 'QuotaExceeded',
    message: 'quota exceeded: cpu 4/4',
    component: 'ovim-controller',
    kind: 'VirtualDataCenter',
    objectName: 'dev',
    firstTimestamp: Date.UTC(2026, 0, 1, 10, 0, 0),
    lastTimestamp: Date.UTC(2026, 0, 1, 10, 0, 5),
    count: 1,
    organization: 'a',
    vdc: 'dev',
    actor: undefined,
    owner: undefined,
    ...over,
  };
}

export function route(namespace: string, name: string, spec: Partial<EventRouteSpec> = {}): EventRoute {
  return {
    apiVersion: 'ovim.io/v1',
    kind: 'EventRoute',
    metadata: { namespace, name, generation: 1 },
    spec: { sink: { webhook: { url: 'https://hooks.example.com/x' } }, ...spec },
  };
}
