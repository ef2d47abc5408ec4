// provenAnnotations: what a VM's reported row keeps of the webhook's stamps, so that the proof
// can be checked again once the VM is gone (src/admission/stamps.ts).
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ActorVerifier, MAX_STAMP, STAMPS, computeProof, provenAnnotations } from '../../../src/admission/stamps.js';

const KEY = randomBytes(32);
const id = { group: 'kubevirt.io', kind: 'VirtualMachine', namespace: 'vdc-a-dev', name: 'vm1' };
const vmWith = (annotations: Record<string, string>) => ({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { ...id, annotations } });

describe('provenAnnotations (the stamps a reported VM row keeps)', function () {
  const stamps = {
    [STAMPS.requestedBy]: 'dave',
    'ovim.io/owner': 'dave',
    [STAMPS.ownerVerified]: 'true',
    [STAMPS.deletionRequestedBy]: 'gus',
    [STAMPS.deletionRequestedAt]: '2026-01-02T03:04:05Z',
  };
  const signed = { ...stamps, [STAMPS.proof]: computeProof(KEY, id, stamps) };

  it('keeps the covered stamps and the proof, drops every other annotation; the copy still verifies', function () {
    const kept = provenAnnotations({ ...signed, 'ovim.io/note': 'x', 'example.com/other': 'y' });
    expect(kept).to.deep.equal(signed);
    const verifier = new ActorVerifier(KEY);
    expect(verifier.actorVerified(vmWith(kept ?? {}), 'gus')).to.equal(true);
    expect(verifier.ownerVerified(vmWith(kept ?? {}), 'dave')).to.equal(true);
  });

  it('nothing without a proof (nothing to verify)', function () {
    expect(provenAnnotations(stamps)).to.equal(undefined);
    expect(provenAnnotations(undefined)).to.equal(undefined);
  });

  it('cuts each value to the bound (a cut value then fails the proof: never verified by accident)', function () {
    const long = { ...stamps, 'ovim.io/owner': 'o'.repeat(10_000) };
    const kept = provenAnnotations({ ...long, [STAMPS.proof]: computeProof(KEY, id, long) }) ?? {};
    expect(kept['ovim.io/owner']).to.have.length(MAX_STAMP);
    expect(new ActorVerifier(KEY).ownerVerified(vmWith(kept), kept['ovim.io/owner'] ?? '')).to.equal(false);
  });

  it('a changed stamp or another object does not verify', function () {
    const verifier = new ActorVerifier(KEY);
    const kept = provenAnnotations(signed) ?? {};
    expect(verifier.actorVerified(vmWith({ ...kept, [STAMPS.deletionRequestedBy]: 'mallory' }), 'mallory')).to.equal(false);
    const other = { ...vmWith(kept), metadata: { ...id, name: 'vm2', annotations: kept } };
    expect(verifier.actorVerified(other, 'gus')).to.equal(false);
  });
});
