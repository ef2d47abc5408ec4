// The hostile-input table over every field a tenant writes (issue 10): object names, every
// ovim.io annotation, spec strings, and the Events anyone may create (message, reason, component,
// involved object, annotations, timestamps). Each field carries each hostile shape; the
// recorder's description, the store's record and the API's item must come out bounded in size
// (what is kept in memory) and within 50 ms (time), with the event loop's delay under 50 ms.
import { expect } from 'chai';
import { toApiEvent } from '../../../src/events/query.js';
import { describeEvent } from '../../../src/events/recorder.js';
import { compactEvent } from '../../../src/events/store.js';
import { HOSTILE_TEXTS, KB, measureBlocking } from '../../support/hostile.js';
import { rawEvent } from '../http/support.js';

const source = { component: 'ovim-controller', reportingInstance: 'operator-0' };
/** A shorter set for the per-field matrix (each shape at 256 KB is in redact.test.ts). */
const SHAPES = HOSTILE_TEXTS.filter((_, i) => i % 3 === 0);

type ObjectField = 'name' | 'requested-by' | 'owner' | 'force-reconcile-by' | 'displayName' | 'description' | 'organizationRef';

function hostileVdc(field: ObjectField, value: string) {
  const annotations: Record<string, string> = { 'ovim.io/requested-by': 'a-user', 'ovim.io/owner': 'an-owner', 'ovim.io/force-reconcile-by': 'ops' };
  if (field === 'requested-by' || field === 'owner' || field === 'force-reconcile-by') annotations[`ovim.io/${field}`] = value;
  return {
    apiVersion: 'ovim.io/v1',
    kind: 'VirtualDataCenter',
    metadata: { name: field === 'name' ? value : 'dev', namespace: 'org-acme', uid: 'u', annotations },
    spec: {
      organizationRef: field === 'organizationRef' ? value : 'acme',
      displayName: field === 'displayName' ? value : 'Dev',
      description: field === 'description' ? value : 'the dev VDC',
    },
  };
}

const OBJECT_FIELDS: ObjectField[] = ['name', 'requested-by', 'owner', 'force-reconcile-by', 'displayName', 'description', 'organizationRef'];

type EventField = 'message' | 'reason' | 'component' | 'kind' | 'objectName' | 'actor' | 'owner' | 'organization' | 'vdc';
const EVENT_FIELDS: EventField[] = ['message', 'reason', 'component', 'kind', 'objectName', 'actor', 'owner', 'organization', 'vdc'];

function hostileEvent(field: EventField, value: string) {
  const annotated = ['actor', 'owner', 'organization', 'vdc'].includes(field);
  const event = rawEvent({
    name: 'e.1',
    namespace: 'tenant',
    message: field === 'message' ? value : 'm',
    reason: field === 'reason' ? value : 'Started',
    component: field === 'component' ? value : 'kubelet',
    kind: field === 'kind' ? value : 'Pod',
    objectName: field === 'objectName' ? value : 'p',
    annotations: annotated ? { [`ovim.io/${field}`]: value } : undefined,
    last: '9999-12-31T23:59:59Z',
  });
  return event;
}

describe('hostile input in every tenant-written field', function () {
  for (const field of OBJECT_FIELDS) {
    for (const [shape, text] of SHAPES) {
      it(`object ${field}: ${shape} → a bounded Event within 50 ms`, async function () {
        const vdc = hostileVdc(field, text);
        // What the recorder's helpers do: the message names the object, its organization and actor.
        const who = vdc.metadata.annotations['ovim.io/requested-by'];
        const message = `VDC '${vdc.metadata.name}' (${vdc.spec.displayName}) created in organization '${vdc.spec.organizationRef}' by ${who}`;
        const { value, ms, maxDelayMs } = await measureBlocking(() =>
          describeEvent(vdc, 'Normal', 'VDCCreated', message, { actor: who, organization: vdc.spec.organizationRef }, source),
        );
        expect(ms, 'time').to.be.below(50);
        expect(maxDelayMs, 'event-loop delay').to.be.below(50);
        const { input } = value;
        expect(input.message.length).to.be.at.most(1024);
        for (const [k, v] of Object.entries(input.annotations)) expect(v.length, k).to.be.at.most(253);
        // Memory: what is queued for the API server, besides the object reference the API server bounds.
        const { involvedObject: _ref, ...kept } = input;
        expect(JSON.stringify(kept).length, 'bytes kept per event').to.be.below(4 * KB);
      });
    }
  }

  for (const field of EVENT_FIELDS) {
    for (const [shape, text] of SHAPES) {
      it(`Event ${field}: ${shape} → a bounded record and item within 50 ms`, async function () {
        const event = hostileEvent(field, text);
        const { value, ms, maxDelayMs } = await measureBlocking(() => {
          const record = compactEvent(event);
          return { record, item: record && JSON.stringify(toApiEvent(record)) };
        });
        expect(ms, 'time').to.be.below(50);
        expect(maxDelayMs, 'event-loop delay').to.be.below(50);
        expect(value.record, 'a record').to.not.equal(undefined);
        expect(JSON.stringify(value.record).length, 'bytes kept in the store').to.be.below(4 * KB);
        expect((value.item ?? '').length, 'bytes served per item').to.be.below(4 * KB);
        expect(value.record?.lastTimestamp, 'a year-9999 timestamp is now').to.be.at.most(Date.now());
      });
    }
  }
});
