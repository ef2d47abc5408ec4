// The hostile-input table over every field a tenant writes (issue 10): object names, every
// ovim.io annotation, spec strings, and the Events anyone may create (message, reason, component,
// involved object, annotations, timestamps). Each field carries each hostile shape; the
// recorder's description, the store's record and the API's item must come out bounded in size
// (what is kept in memory) and in work: no regular expression may run over more than the
// pre-cut's bounded prefix of the hostile text (counted, not timed: see measureRegexWork).
import { expect } from 'chai';
import { toApiEvent } from '../../../src/events/query.js';
import { describeEvent } from '../../../src/events/recorder.js';
import { compactEvent } from '../../../src/events/store.js';
import { MAX_MESSAGE_LENGTH } from '../../../src/events/redact.js';
import { HOSTILE_TEXTS, KB, measureRegexWork } from '../../support/hostile.js';
import { rawEvent } from '../http/support.js';

const source = { component: 'ovim-controller', reportingInstance: 'operator-0' };
/** A shorter set for the per-field matrix (each shape at 256 KB is in redact.test.ts). */
const SHAPES = HOSTILE_TEXTS.filter((_, i) => i % 3 === 0);
/**
 * The longest text a pattern may see: a message pre-cut to 4 × its limit (plus '...'), which a
 * redaction may lengthen a few times (`pwd=x` → `pwd=[REDACTED]`); it does not grow with the input.
 */
const PATTERN_INPUT_BOUND = 4 * (4 * MAX_MESSAGE_LENGTH + 3);

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
      it(`object ${field}: ${shape} → a bounded Event, patterns run on a bounded prefix`, async function () {
        const vdc = hostileVdc(field, text);
        // What the recorder's helpers do: the message names the object, its organization and actor.
        const who = vdc.metadata.annotations['ovim.io/requested-by'];
        const message = `VDC '${vdc.metadata.name}' (${vdc.spec.displayName}) created in organization '${vdc.spec.organizationRef}' by ${who}`;
        const { value, runs, longestInput } = await measureRegexWork(() =>
          describeEvent(vdc, 'Normal', 'VDCCreated', message, { actor: who, organization: vdc.spec.organizationRef }, source),
        );
        expect(runs, 'regular-expression runs').to.be.greaterThan(0);
        expect(longestInput, 'the longest text a pattern ran over').to.be.at.most(PATTERN_INPUT_BOUND);
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
      it(`Event ${field}: ${shape} → a bounded record and item, patterns run on a bounded prefix`, async function () {
        const event = hostileEvent(field, text);
        const { value, longestInput } = await measureRegexWork(() => {
          const record = compactEvent(event);
          return { record, item: record && JSON.stringify(toApiEvent(record)) };
        });
        expect(longestInput, 'the longest text a pattern ran over').to.be.at.most(PATTERN_INPUT_BOUND);
        expect(value.record, 'a record').to.not.equal(undefined);
        expect(JSON.stringify(value.record).length, 'bytes kept in the store').to.be.below(4 * KB);
        expect((value.item ?? '').length, 'bytes served per item').to.be.below(4 * KB);
        expect(value.record?.lastTimestamp, 'a year-9999 timestamp is now').to.be.at.most(Date.now());
      });
    }
  }
});
