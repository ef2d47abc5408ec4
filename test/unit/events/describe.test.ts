// What an Event says for one record() call (describeEvent, pure).
import { expect } from 'chai';
import { describeEvent } from '../../../src/events/recorder.js';
import type { EventType } from '../../../src/events/types.js';

const source = { component: 'ovim-controller', reportingInstance: 'operator-0' };

const org = {
  apiVersion: 'ovim.io/v1',
  kind: 'Organization',
  metadata: {
    name: 'acme',
    uid: 'uid-acme',
    resourceVersion: '17',
    annotations: { 'ovim.io/requested-by': 'a-user', 'ovim.io/owner': 'an-owner' },
  },
};

const vdc = {
  apiVersion: 'ovim.io/v1',
  kind: 'VirtualDataCenter',
  metadata: { name: 'dev', namespace: 'org-acme', uid: 'uid-dev', resourceVersion: '21' },
  spec: { organizationRef: 'acme' },
};

describe('describeEvent', function () {
  it('puts a cluster-scoped object\'s Event in default, with no namespace in the reference', function () {
    const { input, issues } = describeEvent(org, 'Normal', 'OrganizationCreated', "Organization 'acme' created", undefined, source);
    expect(issues).to.deep.equal([]);
    expect(input.namespace).to.equal('default');
    expect(input.involvedObject).to.deep.equal({
      apiVersion: 'ovim.io/v1',
      kind: 'Organization',
      name: 'acme',
      uid: 'uid-acme',
      resourceVersion: '17',
    });
    expect(input.component).to.equal('ovim-controller');
    expect(input.reportingInstance).to.equal('operator-0');
  });

  it('puts a namespaced object\'s Event in the object\'s namespace', function () {
    const { input } = describeEvent(vdc, 'Warning', 'QuotaExceeded', 'cpu used 4 of 4', undefined, source);
    expect(input.namespace).to.equal('org-acme');
    expect(input.involvedObject.namespace).to.equal('org-acme');
  });

  it('annotates organization, vdc, actor and owner from the object', function () {
    expect(describeEvent(org, 'Normal', 'OrganizationCreated', 'm', undefined, source).input.annotations).to.deep.equal({
      'ovim.io/organization': 'acme',
      'ovim.io/actor': 'a-user',
      'ovim.io/owner': 'an-owner',
      // No webhook stamped them (no verifier here): recorded as unverified.
      'ovim.io/actor-verified': 'false',
      'ovim.io/owner-verified': 'false',
    });
    expect(describeEvent(vdc, 'Normal', 'VDCCreated', 'm', undefined, source).input.annotations).to.deep.equal({
      'ovim.io/organization': 'acme',
      'ovim.io/vdc': 'dev',
    });
  });

  it('lets the options name the context, and an explicit undefined actor stay unknown', function () {
    const withOptions = describeEvent(org, 'Normal', 'ReconcileForced', 'm', { actor: 'someone', organization: 'x' }, source);
    expect(withOptions.input.annotations['ovim.io/actor']).to.equal('someone');
    expect(withOptions.input.annotations['ovim.io/organization']).to.equal('x');
    const noActor = describeEvent(org, 'Normal', 'ReconcileForced', 'm', { actor: undefined }, source);
    expect(noActor.input.annotations).to.not.have.property('ovim.io/actor');
  });

  it('derives the organization of other objects from their label or org- namespace', function () {
    const vm = { metadata: { name: 'vm1', namespace: 'vdc-acme-dev', labels: { 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev' } } };
    const vmEvent = describeEvent(vm, 'Normal', 'VMStarted', 'started', undefined, source).input;
    expect(vmEvent.annotations).to.include({ 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev' });
    // Items of typed lists come without kind: the catalog's one kind for the reason fills in.
    expect(vmEvent.involvedObject.kind).to.equal('VirtualMachine');
    expect(vmEvent.involvedObject.apiVersion).to.equal('kubevirt.io/v1');
    const inOrgNamespace = { metadata: { name: 'x', namespace: 'org-acme' } };
    expect(describeEvent(inOrgNamespace, 'Normal', 'ReconcileForced', 'm', undefined, source).input.annotations).to.include({
      'ovim.io/organization': 'acme',
    });
  });

  it('infers the kind of reasons shared by Organizations and VDCs from the object', function () {
    const bareVdc = { metadata: { name: 'dev', namespace: 'org-acme' }, spec: { organizationRef: 'acme' } };
    const bareOrg = { metadata: { name: 'acme' } };
    expect(describeEvent(bareVdc, 'Normal', 'ReconcileForced', 'm', undefined, source).input.involvedObject.kind).to.equal(
      'VirtualDataCenter',
    );
    expect(describeEvent(bareOrg, 'Normal', 'ReconcileForced', 'm', undefined, source).input.involvedObject.kind).to.equal(
      'Organization',
    );
  });

  it('records a reason with the catalog type when a caller forces the wrong one', function () {
    const { input, issues } = describeEvent(org, 'Normal' as EventType, 'DeletionBlocked', 'm', undefined, source);
    expect(input.type).to.equal('Warning');
    expect(issues.map((i) => i.message)).to.deep.equal(['reason recorded with the wrong type; using the catalog type']);
  });

  it('reports a reason on a kind the catalog does not list, and a reason outside the catalog', function () {
    expect(describeEvent(org, 'Warning', 'QuotaExceeded', 'm', undefined, source).issues[0]?.key).to.equal(
      'kind:QuotaExceeded:Organization',
    );
    const unknown = describeEvent(org, 'Normal', 'Invented', 'm', undefined, source);
    expect(unknown.issues[0]?.key).to.equal('reason:Invented');
    expect(unknown.input.type).to.equal('Normal');
  });

  it('redacts and cuts the message', function () {
    const message = `login failed with Bearer abcdefghijk0123456789 ${'x'.repeat(2000)}`;
    const { input } = describeEvent(org, 'Warning', 'ReconcileFailed', message, undefined, source);
    expect(input.message).to.not.include('abcdefghijk0123456789');
    expect(input.message.length).to.equal(1024);
  });
});

// Regression (issue 10): a token placed in `ovim.io/requested-by` was redacted in the message
// but copied whole into the `ovim.io/actor` annotation.
describe('describeEvent with hostile annotations', function () {
  const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz';
  const hostile = (value: string) => ({
    ...org,
    metadata: { ...org.metadata, annotations: { 'ovim.io/requested-by': value, 'ovim.io/owner': value } },
  });

  it('redacts a token in the actor and owner annotations like in the message', function () {
    const { input } = describeEvent(hostile(`Bearer ${JWT}`), 'Normal', 'OrganizationCreated', `created by Bearer ${JWT}`, undefined, source);
    expect(input.message).to.not.include(JWT);
    expect(input.annotations['ovim.io/actor']).to.equal('Bearer [REDACTED]');
    expect(input.annotations['ovim.io/owner']).to.equal('Bearer [REDACTED]');
  });

  it('bounds them to 253 characters, also when 256 KB long', function () {
    const big = `key ${'a.'.repeat(128 * 1024)}`;
    const { input } = describeEvent(hostile(big), 'Normal', 'OrganizationCreated', `created by ${big}`, undefined, source);
    expect(input.annotations['ovim.io/actor']?.length).to.be.at.most(253);
    expect(input.annotations['ovim.io/owner']?.length).to.be.at.most(253);
    expect(input.message.length).to.be.at.most(1024);
  });
});
