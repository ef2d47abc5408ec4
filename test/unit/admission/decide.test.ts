// The webhook's decisions as pure functions: who is stamped for CREATE, UPDATE and DELETE, what a
// request cannot forge, trusted requesters, the owner rule and the proof the operator verifies.
import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { deletion, mutate, type AdmissionRequest, type DecisionContext, type JsonPatchOp } from '../../../src/admission/decide.js';
import { ActorVerifier, STAMPS, deleterOf, proofValid } from '../../../src/admission/stamps.js';

const key = Buffer.alloc(32, 7);
const ctx: DecisionContext = { key, trusted: new Set(['system:serviceaccount:ovim:backend']), now: new Date('2026-01-01T10:00:00Z') };
type Obj = KubernetesObject & { spec?: unknown };

const org = (annotations: Record<string, string> = {}, spec: unknown = { displayName: 'Acme', admins: [] }): Obj => ({
  apiVersion: 'ovim.io/v1',
  kind: 'Organization',
  metadata: { name: 'acme', annotations },
  spec,
});

function request(operation: string, user: string, object: Obj | null, oldObject: Obj | null = null, dryRun = false): AdmissionRequest {
  return { uid: 'u', operation, userInfo: { username: user }, object, oldObject, dryRun };
}

/** The object as the API server stores it after applying the webhook's patch. */
function admitted(req: AdmissionRequest): Obj {
  const decision = mutate(req, ctx);
  if (!decision.allowed) throw new Error(decision.message);
  const obj = structuredClone(req.object) as Obj;
  for (const op of decision.patch as JsonPatchOp[]) {
    if (op.path === '/metadata/annotations') obj.metadata = { ...obj.metadata, annotations: op.value as Record<string, string> };
    if (op.path === '/metadata/finalizers') obj.metadata = { ...obj.metadata, finalizers: op.value as string[] };
    if (op.path === '/metadata/name') obj.metadata = { ...obj.metadata, name: op.value as string };
  }
  return obj;
}

const stamps = (o: Obj) => o.metadata?.annotations ?? {};

describe('admission decisions', function () {
  const verifier = new ActorVerifier(key);

  describe('CREATE', function () {
    it('stamps the authenticated user whatever requested-by says, adds the finalizer, and proves it', function () {
      const created = admitted(request('CREATE', 'alice', org({ 'ovim.io/requested-by': 'mallory', 'ovim.io/requested-via': 'x', 'ovim.io/actor-proof': 'forged' })));
      expect(stamps(created)['ovim.io/requested-by']).to.equal('alice');
      expect(stamps(created)).to.not.have.property('ovim.io/requested-via');
      expect(created.metadata?.finalizers).to.deep.equal(['ovim.io/organization-cleanup']);
      expect(proofValid(key, created)).to.equal(true);
      expect(verifier.actorVerified(created, 'alice')).to.equal(true);
      expect(verifier.actorVerified(created, 'mallory')).to.equal(false);
    });

    it('names an object created with generateName itself, so that the proof is bound to its final name', function () {
      const generated = (base: string): Obj => ({ apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { generateName: base }, spec: {} });
      const created = admitted(request('CREATE', 'alice', generated('team-')));
      expect(created.metadata?.name).to.match(/^team-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(proofValid(key, created)).to.equal(true);
      expect(verifier.actorVerified(created, 'alice')).to.equal(true);
      // Called again (reinvocation): the name stays, no second name.
      const again = mutate(request('CREATE', 'alice', created), ctx);
      expect(again.allowed && again.patch.map((p) => p.path)).to.not.include('/metadata/name');
      // A long prefix is cut as the API server cuts it: 63 characters in all.
      expect(admitted(request('CREATE', 'alice', generated('x'.repeat(80)))).metadata?.name).to.have.length(63);
      // A request that names the object keeps its name.
      const named = generated('team-');
      named.metadata = { ...named.metadata, name: 'chosen' };
      expect(admitted(request('CREATE', 'alice', named)).metadata?.name).to.equal('chosen');
    });

    it('keeps a finalizer list and adds ours once; a VDC gets the VDC finalizer; other kinds none', function () {
      const withOther = org();
      withOther.metadata = { ...withOther.metadata, finalizers: ['x/y'] };
      expect(admitted(request('CREATE', 'a', withOther)).metadata?.finalizers).to.deep.equal(['x/y', 'ovim.io/organization-cleanup']);
      const vdc: Obj = { apiVersion: 'ovim.io/v1', kind: 'VirtualDataCenter', metadata: { name: 'dev', namespace: 'org-acme' } };
      expect(admitted(request('CREATE', 'a', vdc)).metadata?.finalizers).to.deep.equal(['ovim.io/vdc-cleanup']);
      const vm: Obj = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm', namespace: 'vdc-acme-dev' } };
      const stampedVm = admitted(request('CREATE', 'a', vm));
      expect(stampedVm.metadata?.finalizers).to.equal(undefined);
      expect(stamps(stampedVm)['ovim.io/requested-by']).to.equal('a');
    });

    it('a trusted requester keeps its stated actor and is named in requested-via', function () {
      const created = admitted(request('CREATE', 'system:serviceaccount:ovim:backend', org({ 'ovim.io/requested-by': 'frank' })));
      expect(stamps(created)).to.include({ 'ovim.io/requested-by': 'frank', 'ovim.io/requested-via': 'system:serviceaccount:ovim:backend' });
      expect(verifier.actorVerified(created, 'frank')).to.equal(true);
      const unstated = admitted(request('CREATE', 'system:serviceaccount:ovim:backend', org()));
      expect(stamps(unstated)['ovim.io/requested-by']).to.equal('system:serviceaccount:ovim:backend');
      expect(stamps(unstated)).to.not.have.property('ovim.io/requested-via');
    });

    it('an owner is verified only when it names the requester (or a trusted requester set it)', function () {
      expect(verifier.ownerVerified(admitted(request('CREATE', 'gina', org({ 'ovim.io/owner': 'gina' }))), 'gina')).to.equal(true);
      const forged = admitted(request('CREATE', 'gina', org({ 'ovim.io/owner': 'hank', 'ovim.io/owner-verified': 'true' })));
      expect(stamps(forged)).to.not.have.property('ovim.io/owner-verified');
      expect(verifier.ownerVerified(forged, 'hank')).to.equal(false);
      const viaBackend = admitted(request('CREATE', 'system:serviceaccount:ovim:backend', org({ 'ovim.io/owner': 'hank' })));
      expect(verifier.ownerVerified(viaBackend, 'hank')).to.equal(true);
    });

    it('force-reconcile at creation is stamped with the user', function () {
      const created = admitted(request('CREATE', 'carol', org({ 'ovim.io/force-reconcile': '1', 'ovim.io/force-reconcile-by': 'dave' })));
      expect(stamps(created)['ovim.io/force-reconcile-by']).to.equal('carol');
    });

    it('refuses a request without a username', function () {
      expect(mutate(request('CREATE', '', org()), ctx)).to.deep.include({ allowed: false, code: 403 });
    });
  });

  describe('UPDATE', function () {
    const stored = admitted(request('CREATE', 'alice', org()));

    it('keeps requested-by and stamps last-modified-by on a spec change', function () {
      const next = org({ ...stamps(stored), 'ovim.io/requested-by': 'bob' }, { displayName: 'Acme 2', admins: [] });
      const updated = admitted(request('UPDATE', 'bob', next, stored));
      expect(stamps(updated)).to.include({ 'ovim.io/requested-by': 'alice', 'ovim.io/last-modified-by': 'bob' });
      expect(verifier.actorVerified(updated, 'bob')).to.equal(true);
    });

    it('a removed requested-by comes back; a no-op update moves no stamp', function () {
      const without = { ...stamps(stored) };
      delete without['ovim.io/requested-by'];
      expect(stamps(admitted(request('UPDATE', 'bob', org(without), stored)))['ovim.io/requested-by']).to.equal('alice');
      const same = admitted(request('UPDATE', 'operator', org({ ...stamps(stored) }), stored));
      expect(stamps(same)).to.deep.equal(stamps(stored));
    });

    it('force-reconcile changes stamp force-reconcile-by with the user, not the typed name', function () {
      const next = org({ ...stamps(stored), 'ovim.io/force-reconcile': '2', 'ovim.io/force-reconcile-by': 'dave' });
      const updated = admitted(request('UPDATE', 'carol', next, stored));
      expect(stamps(updated)).to.include({ 'ovim.io/force-reconcile-by': 'carol', 'ovim.io/last-modified-by': 'carol' });
      // Typing only force-reconcile-by (no new force-reconcile) changes nothing of it.
      const typed = admitted(request('UPDATE', 'dave', org({ ...stamps(updated), 'ovim.io/force-reconcile-by': 'dave' }), updated));
      expect(stamps(typed)['ovim.io/force-reconcile-by']).to.equal('carol');
    });

    it('a trusted requester may state who modified it', function () {
      const next = org({ ...stamps(stored), 'ovim.io/last-modified-by': 'frank' }, { displayName: 'x', admins: [] });
      expect(stamps(admitted(request('UPDATE', 'system:serviceaccount:ovim:backend', next, stored)))['ovim.io/last-modified-by']).to.equal('frank');
      expect(stamps(admitted(request('UPDATE', 'mallory', next, stored)))['ovim.io/last-modified-by']).to.equal('mallory');
    });

    it('an object from before the webhook keeps its requested-by, marked unverified; later stamps verify', function () {
      const old = org({ 'ovim.io/requested-by': 'mallory', 'ovim.io/last-modified-by': 'carol' });
      const updated = admitted(request('UPDATE', 'bob', org({ ...stamps(old) }, { displayName: 'new', admins: [] }), old));
      expect(stamps(updated)).to.include({ 'ovim.io/requested-by': 'mallory', 'ovim.io/requested-by-verified': 'false', 'ovim.io/last-modified-by': 'bob' });
      expect(verifier.actorVerified(updated, 'mallory')).to.equal(false);
      expect(verifier.actorVerified(updated, 'bob')).to.equal(true);
      expect(verifier.actorVerified(old, 'mallory')).to.equal(false);
    });

    it('a deletion stamp moves only with the operator\'s authorization for this object', function () {
      const typed = org({ ...stamps(stored), [STAMPS.deletionRequestedBy]: 'erin', [STAMPS.deletionRequestedAt]: '2026-01-01T10:00:00Z' });
      expect(stamps(admitted(request('UPDATE', 'mallory', typed, stored)))).to.not.have.property(STAMPS.deletionRequestedBy);
      const found = deletion(request('DELETE', 'erin', null, stored), ctx);
      const authorized = org({ ...stamps(stored), ...found?.annotations });
      const stampedObj = admitted(request('UPDATE', 'operator', authorized, stored));
      expect(stamps(stampedObj)).to.include({ [STAMPS.deletionRequestedBy]: 'erin' });
      expect(stamps(stampedObj)).to.not.have.property(STAMPS.deletionProof);
      expect(stamps(stampedObj)).to.not.have.property(STAMPS.lastModifiedBy);
      // The same authorization on another object is refused.
      const other = { ...stored, metadata: { ...stored.metadata, name: 'globex' } };
      const moved = admitted(request('UPDATE', 'mallory', { ...authorized, metadata: { ...authorized.metadata, name: 'globex' } }, other));
      expect(stamps(moved)).to.not.have.property(STAMPS.deletionRequestedBy);
    });

    it('a proof copied onto changed stamps no longer verifies', function () {
      const tampered = { ...stored, metadata: { ...stored.metadata, annotations: { ...stamps(stored), 'ovim.io/requested-by': 'bob' } } };
      expect(proofValid(key, tampered)).to.equal(false);
      expect(verifier.actorVerified(tampered, 'bob')).to.equal(false);
      expect(new ActorVerifier().actorVerified(stored, 'alice')).to.equal(false);
    });
  });

  describe('DELETE', function () {
    const stored = admitted(request('CREATE', 'alice', org()));

    it('names the deleting user, with a stamp dated now', function () {
      const found = deletion(request('DELETE', 'erin', null, stored), ctx);
      expect(found?.actor).to.equal('erin');
      expect(found?.annotations).to.include({ [STAMPS.deletionRequestedBy]: 'erin', [STAMPS.deletionRequestedAt]: '2026-01-01T10:00:00Z' });
    });

    it('does nothing for a dry run, an object already deleting, or the same deletion validated again', function () {
      expect(deletion(request('DELETE', 'erin', null, stored, true), ctx)).to.equal(undefined);
      const deleting = { ...stored, metadata: { ...stored.metadata, deletionTimestamp: new Date() } };
      expect(deletion(request('DELETE', 'erin', null, deleting), ctx)).to.equal(undefined);
      const again = { ...stored, metadata: { ...stored.metadata, annotations: { ...stamps(stored), [STAMPS.deletionRequestedBy]: 'erin', [STAMPS.deletionRequestedAt]: '2026-01-01T09:59:50Z' } } };
      expect(deletion(request('DELETE', 'erin', null, again), ctx)).to.equal(undefined);
      expect(deletion(request('DELETE', 'fred', null, again), ctx)?.actor).to.equal('fred');
    });

    it('the deleter is read back only for the deletion it belongs to (within the skew)', function () {
      const at = '2026-01-01T10:00:00Z';
      const withStamp = (deletionTimestamp: string) => ({
        ...stored,
        metadata: { ...stored.metadata, deletionTimestamp: new Date(deletionTimestamp), annotations: { [STAMPS.deletionRequestedBy]: 'erin', [STAMPS.deletionRequestedAt]: at } },
      });
      expect(deleterOf(withStamp('2026-01-01T10:00:01Z'))).to.equal('erin');
      expect(deleterOf(withStamp('2026-01-01T11:00:00Z'))).to.equal(undefined);
      expect(deleterOf(stored)).to.equal(undefined);
    });
  });
});

describe('admission decisions on reinvocation', function () {
  it('are idempotent: the webhook called again on its own output changes nothing', function () {
    for (const user of ['alice', 'system:serviceaccount:ovim:backend']) {
      const once = admitted(request('CREATE', user, org({ 'ovim.io/requested-by': 'frank', 'ovim.io/owner': 'frank', 'ovim.io/force-reconcile': '1' })));
      expect(admitted(request('CREATE', user, once))).to.deep.equal(once);
    }
    const stored = admitted(request('CREATE', 'alice', org()));
    const next = org({ ...stamps(stored), 'ovim.io/force-reconcile': '2' }, { displayName: 'x', admins: [] });
    const once = admitted(request('UPDATE', 'bob', next, stored));
    expect(admitted(request('UPDATE', 'bob', once, stored))).to.deep.equal(once);
  });
});
