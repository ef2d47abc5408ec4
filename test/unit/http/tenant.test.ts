// The tenant matrix: a system admin, organization admins and organization users of several
// organizations against events in `default`, `org-*`, `vdc-*` and foreign namespaces. Who sees
// what is written out by hand per event (not computed with the code under test); no event may
// leak across tenants, and a foreign `namespace` filter is a 403.
import { expect } from 'chai';
import { EventStore } from '../../../src/events/store.js';
import { rawEvent, startServer, token, type EventSpec, type EventsBody, type TestServer } from './support.js';

interface Principal {
  role: string;
  org: string;
  username: string;
}

const principals: Record<string, Principal> = {
  sysadmin: { role: 'system_admin', org: '', username: 'root' },
  acmeAdmin: { role: 'org_admin', org: 'acme', username: 'acme-boss' },
  globexAdmin: { role: 'org_admin', org: 'globex', username: 'globex-boss' },
  acmeCorpAdmin: { role: 'org_admin', org: 'acme-corp', username: 'corp-boss' },
  acmeAlex: { role: 'org_user', org: 'acme', username: 'alex' },
  acmeKim: { role: 'org_member', org: 'acme', username: 'kim' },
  // Same user name as in acme, other organization: must not see acme's events about "alex".
  globexAlex: { role: 'org_user', org: 'globex', username: 'alex' },
  globexGus: { role: 'org_user', org: 'globex', username: 'gus' },
};

type Who = keyof typeof principals;

interface Fixture extends EventSpec {
  /** Besides the system admin, who may see it. */
  visibleTo: Who[];
}

const org = (name: string) => ({ kind: 'Organization', objectName: name, namespace: 'default' });

const fixtures: Fixture[] = [
  // default: Organization objects' events and unrelated cluster noise.
  { name: 'acme.created', ...org('acme'), reason: 'OrganizationCreated', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeAdmin', 'acmeAlex'] },
  { name: 'acme.blocked', ...org('acme'), type: 'Warning', reason: 'DeletionBlocked', annotations: { 'ovim.io/organization': 'acme' }, visibleTo: ['acmeAdmin'] },
  { name: 'globex.created', ...org('globex'), reason: 'OrganizationCreated', annotations: { 'ovim.io/organization': 'globex', 'ovim.io/actor': 'gus', 'ovim.io/actor-verified': 'true' }, visibleTo: ['globexAdmin', 'globexGus'] },
  { name: 'acme-corp.created', ...org('acme-corp'), reason: 'OrganizationCreated', annotations: { 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeCorpAdmin'] },
  { name: 'node.pod', namespace: 'default', kind: 'Pod', objectName: 'acme', reason: 'Scheduled', visibleTo: [] },
  { name: 'default.vdc', namespace: 'default', kind: 'VirtualDataCenter', objectName: 'acme', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: [] },
  // org-acme
  { name: 'dev.created', namespace: 'org-acme', kind: 'VirtualDataCenter', objectName: 'dev', reason: 'VDCCreated', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeAdmin', 'acmeAlex'] },
  { name: 'dev.quota', namespace: 'org-acme', kind: 'VirtualDataCenter', objectName: 'dev', type: 'Warning', reason: 'QuotaExceeded', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev', 'ovim.io/owner': 'kim', 'ovim.io/owner-verified': 'true' }, visibleTo: ['acmeAdmin', 'acmeKim'] },
  { name: 'misplaced.failed', namespace: 'org-acme', kind: 'VirtualDataCenter', objectName: 'misplaced', type: 'Warning', reason: 'CreationFailed', annotations: { 'ovim.io/organization': 'globex', 'ovim.io/actor': 'gus', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeAdmin'] },
  // vdc-acme-*
  { name: 'vm1.started', namespace: 'vdc-acme-dev', kind: 'VirtualMachine', objectName: 'vm1', reason: 'VMStarted', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/vdc': 'dev', 'ovim.io/actor': 'kim', 'ovim.io/actor-verified': 'true', 'ovim.io/owner': 'alex', 'ovim.io/owner-verified': 'true' }, visibleTo: ['acmeAdmin', 'acmeAlex', 'acmeKim'] },
  { name: 'pod.pulled', namespace: 'vdc-acme-dev', kind: 'Pod', objectName: 'virt-launcher', reason: 'Pulled', component: 'kubelet', visibleTo: ['acmeAdmin'] },
  { name: 'vm2.failed', namespace: 'vdc-acme-prod', kind: 'VirtualMachine', objectName: 'vm2', type: 'Warning', reason: 'StartupFailed', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeAdmin', 'acmeAlex'] },
  // acme-corp: its VDC namespace starts with "vdc-acme-" too.
  { name: 'corp-vm.started', namespace: 'vdc-acme-corp-x', kind: 'VirtualMachine', objectName: 'vm9', reason: 'VMStarted', annotations: { 'ovim.io/organization': 'acme-corp', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeCorpAdmin'] },
  // A kubelet event in acme-corp's VDC namespace: no ovim annotations at all.
  { name: 'corp-pod.pulled', namespace: 'vdc-acme-corp-x', kind: 'Pod', objectName: 'virt-launcher-vm9', reason: 'Pulled', component: 'kubelet', visibleTo: ['acmeCorpAdmin'] },
  // Annotations do not make a namespace anyone's: this one names acme and alex, the namespace is acme-corp's.
  { name: 'corp-vm.misnamed', namespace: 'vdc-acme-corp-x', kind: 'VirtualMachine', objectName: 'vm8', reason: 'VMStopped', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeCorpAdmin'] },
  { name: 'corp.created', namespace: 'org-acme-corp', kind: 'VirtualDataCenter', objectName: 'x', reason: 'VDCCreated', annotations: { 'ovim.io/organization': 'acme-corp', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['acmeCorpAdmin'] },
  // globex
  { name: 'prod.created', namespace: 'org-globex', kind: 'VirtualDataCenter', objectName: 'prod', reason: 'VDCCreated', annotations: { 'ovim.io/organization': 'globex', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: ['globexAdmin', 'globexAlex'] },
  { name: 'gvm.stopped', namespace: 'vdc-globex-prod', kind: 'VirtualMachine', objectName: 'gvm', reason: 'VMStopped', annotations: { 'ovim.io/organization': 'globex', 'ovim.io/owner': 'gus', 'ovim.io/owner-verified': 'true' }, visibleTo: ['globexAdmin', 'globexGus'] },
  // a vdc-* namespace with no known owner (no operator labels, or not seen yet): system admins only.
  { name: 'ghost-pod.pulled', namespace: 'vdc-acme-ghost', kind: 'Pod', objectName: 'p', reason: 'Pulled', component: 'kubelet', visibleTo: [] },
  { name: 'ghost-vm.started', namespace: 'vdc-acme-ghost', kind: 'VirtualMachine', objectName: 'vm7', reason: 'VMStarted', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: [] },
  // foreign namespaces
  { name: 'dns.failed', namespace: 'kube-system', kind: 'Pod', objectName: 'coredns', type: 'Warning', reason: 'BackOff', annotations: { 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: [] },
  { name: 'app.scaled', namespace: 'shop', kind: 'Deployment', objectName: 'web', reason: 'ScalingReplicaSet', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: [] },
  { name: 'orgish.ns', namespace: 'org-acmex', kind: 'Pod', objectName: 'p', annotations: { 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'true' }, visibleTo: [] },
  // Names only stated on the object (no admission webhook stamped them): they show the named user nothing.
  { name: 'dev.unverified', namespace: 'org-acme', kind: 'VirtualDataCenter', objectName: 'old', reason: 'VDCCreated', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'alex', 'ovim.io/actor-verified': 'false' }, visibleTo: ['acmeAdmin'] },
  { name: 'vm5.owner-unverified', namespace: 'vdc-acme-dev', kind: 'VirtualMachine', objectName: 'vm5', reason: 'VMStarted', annotations: { 'ovim.io/organization': 'acme', 'ovim.io/actor': 'kim', 'ovim.io/actor-verified': 'true', 'ovim.io/owner': 'alex', 'ovim.io/owner-verified': 'false' }, visibleTo: ['acmeAdmin', 'acmeKim'] },
  { name: 'gvm.owner-unverified', namespace: 'vdc-globex-prod', kind: 'VirtualMachine', objectName: 'gvm2', reason: 'VMStopped', annotations: { 'ovim.io/organization': 'globex', 'ovim.io/owner': 'gus' }, visibleTo: ['globexAdmin'] },
];

const namespaces = [...new Set(fixtures.map((f) => f.namespace))];

/** The `ovim.io/organization` labels the operator put on the namespaces it manages. */
const namespaceOwners: Record<string, string> = {
  'org-acme': 'acme',
  'vdc-acme-dev': 'acme',
  'vdc-acme-prod': 'acme',
  'org-acme-corp': 'acme-corp',
  'vdc-acme-corp-x': 'acme-corp',
  'org-globex': 'globex',
  'vdc-globex-prod': 'globex',
};

/** Namespaces a principal may name in a filter: their organization's (by label), plus `default`. */
function namespaceAllowed(who: Who, ns: string): boolean {
  const p = principals[who] as Principal;
  if (p.role === 'system_admin') return true;
  return ns === 'default' || ns === `org-${p.org}` || (ns.startsWith('vdc-') && namespaceOwners[ns] === p.org);
}

describe('HTTP tenant scoping', () => {
  let srv: TestServer;
  const tokens = new Map<Who, string>();
  const uidOf = (f: Fixture) => `uid-${f.namespace}-${f.name}`;

  before(async () => {
    const store = new EventStore();
    for (const [ns, owner] of Object.entries(namespaceOwners)) store.namespaceOwners.set(ns, owner);
    fixtures.forEach((f, i) => store.upsert(rawEvent({ ...f, uid: uidOf(f), at: i })));
    srv = await startServer({ store });
    for (const [who, p] of Object.entries(principals)) tokens.set(who as Who, await token(p.role, p.org, p.username));
  });

  after(async () => {
    await srv.close();
  });

  const list = async (who: Who, query = '') => {
    const res = await srv.get(`/api/v1/events?limit=200${query}`, tokens.get(who));
    return res;
  };

  for (const who of Object.keys(principals) as Who[]) {
    describe(who, () => {
      const expected = fixtures
        .filter((f) => who === 'sysadmin' || f.visibleTo.includes(who))
        .map(uidOf)
        .sort();

      it(`sees exactly its ${expected.length} events`, async () => {
        const res = await list(who);
        expect(res.status, res.text).to.equal(200);
        const body = res.body as EventsBody;
        expect(body.events.map((e) => e.id).sort()).to.deep.equal(expected);
        expect(body.total_count).to.equal(expected.length);
      });

      it('/recent shows only its events', async () => {
        const res = await srv.get('/api/v1/events/recent?limit=50', tokens.get(who));
        expect(res.status).to.equal(200);
        const ids = (res.body as { events: { id: string }[] }).events.map((e) => e.id).sort();
        expect(ids).to.deep.equal(expected);
      });

      it('namespace filters: inside the scope its events only, outside 403', async () => {
        for (const ns of namespaces) {
          const res = await list(who, `&namespace=${ns}`);
          if (!namespaceAllowed(who, ns)) {
            expect(res.status, `${who} ${ns}`).to.equal(403);
            expect((res.body as { error: string }).error).to.match(/outside your scope/);
            continue;
          }
          expect(res.status, `${who} ${ns}: ${res.text}`).to.equal(200);
          const ids = (res.body as EventsBody).events.map((e) => e.id).sort();
          const want = fixtures.filter((f) => f.namespace === ns && (who === 'sysadmin' || f.visibleTo.includes(who))).map(uidOf).sort();
          expect(ids, `${who} ${ns}`).to.deep.equal(want);
        }
      });

      it('other filters never widen the scope', async () => {
        for (const query of ['&organization=acme', '&organization=globex', '&name=acme', '&kind=VirtualMachine', '&type=Warning', '&component=o']) {
          const res = await list(who, query);
          expect(res.status).to.equal(200);
          for (const e of (res.body as EventsBody).events) expect(expected, `${who} ${query}`).to.include(e.id);
        }
      });
    });
  }

  it("an organization admin neither lists nor filters a prefix-sharing organization's unannotated events", async () => {
    const acmeAdmin = tokens.get('acmeAdmin');
    const listed = await list('acmeAdmin');
    const names = (listed.body as EventsBody).events.map((e) => e.name);
    expect(names).to.not.include('corp-pod.pulled');
    expect(names).to.not.include('ghost-pod.pulled');
    const filtered = await srv.get('/api/v1/events?namespace=vdc-acme-corp-x', acmeAdmin);
    expect(filtered.status, filtered.text).to.equal(403);
    expect((await srv.get('/api/v1/events?namespace=vdc-acme-ghost', acmeAdmin)).status).to.equal(403);
    const corp = await srv.get('/api/v1/events?namespace=vdc-acme-corp-x', tokens.get('acmeCorpAdmin'));
    expect(corp.status, corp.text).to.equal(200);
    expect((corp.body as EventsBody).events.map((e) => e.name)).to.include('corp-pod.pulled');
    const ghost = await srv.get('/api/v1/events?namespace=vdc-acme-ghost', tokens.get('sysadmin'));
    expect((ghost.body as EventsBody).events.map((e) => e.name).sort()).to.deep.equal(['ghost-pod.pulled', 'ghost-vm.started']);
  });

  it('a forged org_id in an org_user token cannot see another organization (signature binds it)', async () => {
    const acme = await token('org_user', 'acme', 'alex');
    expect((await srv.get('/api/v1/events', acme)).status, 'the genuine token').to.equal(200);
    const parts = acme.split('.');
    const payload = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString()) as Record<string, unknown>;
    payload.org_id = 'globex';
    const forged = `${parts[0]}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${parts[2]}`;
    expect((await srv.get('/api/v1/events', forged)).status).to.equal(401);
  });
});
