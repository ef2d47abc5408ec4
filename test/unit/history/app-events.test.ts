// Application-level events (DESIGN.md section 7), per archive engine: ingestion with field-named
// validation, roles, Idempotency-Key, folding, bulk atomicity, reads by id across tenants, soft
// delete recorded as a security event, retention policies within floors and cleanup, hostile
// bodies, and the mirrored Kubernetes Event keeping one archive row.
import { expect } from 'chai';
import type { HistoryArchive } from '../../../src/history/archive.js';
import type { FullRow } from '../../../src/history/app-store.js';
import { rawEvent, token, type TestServer } from '../http/support.js';
import { appEvent, archiveServer, iso, send } from './app-support.js';
import { ENGINES } from './engines.js';

for (const engineUnderTest of ENGINES) {
  describe(`application-level events on the ${engineUnderTest.name} archive`, function () {
    this.timeout(120_000);
    let archive: HistoryArchive;
    let srv: TestServer;
    let close: () => Promise<void>;
    let admin: string;
    let orgAdminA: string;
    let orgAdminB: string;
    const mirrored: FullRow[] = [];
    /** What the API's security monitor recorded (reason, object name, message). */
    const recorded: { reason: string; object: string | undefined; message: string }[] = [];
    const recorder = {
      record: (object: { metadata?: { name?: string } }, _type: string, reason: string, message: string) => void recorded.push({ reason, object: object.metadata?.name, message }),
    };

    before(async () => {
      ({ archive, srv, close } = await archiveServer(
        engineUnderTest,
        { mirror: { mirror: (row) => mirrored.push(row) }, securityNamespace: 'ovim-system' },
        { recorder: recorder as never, limits: { perMinute: 10_000 } },
      ));
      admin = await token('system_admin', '', 'backend');
      orgAdminA = await token('org_admin', 'a');
      orgAdminB = await token('org_admin', 'b');
    });
    after(async () => close?.());

    const list = async (query: string, bearer = admin) => {
      const res = await send(srv, 'GET', `/api/v1/events?limit=200&${query}`, bearer);
      expect(res.status, res.text).to.equal(200);
      return res.body as { events: Record<string, unknown>[]; total_count: number; total_pages: number };
    };

    it('answers each invalid field with a 400 that names it, and stores nothing', async () => {
      const big = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
      const cases: [string, Record<string, unknown>][] = [
        ['type', { type: 'Bogus' }],
        ['reason', { reason: 'not camel' }],
        ['reason', { reason: `A${'b'.repeat(128)}` }],
        ['reason', { reason: undefined }],
        ['message', { message: 'm'.repeat(1025) }],
        ['message', { message: undefined }],
        ['message', { message: 42 }],
        ['category', { category: 'gossip' }],
        ['metadata', { metadata: big(33) }],
        ['metadata', { metadata: { a: 'x'.repeat(6000) }, annotations: { b: 'x'.repeat(6000) }, labels: { c: 'x'.repeat(6000) } }],
        ['labels.k', { labels: { k: 1 } }],
        ['event_time', { event_time: iso(Date.now() + 120_000) }],
        ['event_time', { event_time: 'yesterday' }],
        ['org_id', { org_id: 'Not_A_Name' }],
        ['involved_object_kind', { involved_object_kind: 'lower' }],
        ['surprise', { surprise: 'field' }],
      ];
      const before = (await list('')).total_count;
      for (const [field, over] of cases) {
        const body = appEvent(over);
        for (const [k, v] of Object.entries(over)) if (v === undefined) delete body[k];
        const res = await send(srv, 'POST', '/api/v1/events', admin, body);
        expect(res.status, `${field}: ${res.text}`).to.equal(400);
        expect(res.body.error, field).to.be.a('string').and.include(`"${field}"`);
      }
      const bulk = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events: [appEvent(), appEvent(), appEvent(), appEvent({ reason: 'lower' })] });
      expect(bulk.status).to.equal(400);
      expect(bulk.body.error).to.include('"events.3.reason"');
      expect((await list('')).total_count).to.equal(before);
    });

    it('lets only system admins post, change policies, clean up and delete (org roles 403, no token 401)', async () => {
      const user = await token('org_user', 'a', 'alice');
      for (const bearer of [orgAdminA, user]) {
        expect((await send(srv, 'POST', '/api/v1/events', bearer, appEvent())).status).to.equal(403);
        expect((await send(srv, 'POST', '/api/v1/events/bulk', bearer, { events: [appEvent()] })).status).to.equal(403);
        expect((await send(srv, 'GET', '/api/v1/events/retention-policies', bearer)).status).to.equal(403);
        expect((await send(srv, 'PUT', '/api/v1/events/retention-policies', bearer, { policies: [{ category: 'vm', type: 'Normal', retention_days: 1 }] })).status).to.equal(403);
        expect((await send(srv, 'POST', '/api/v1/events/cleanup', bearer)).status).to.equal(403);
        expect((await send(srv, 'DELETE', '/api/v1/events/whatever', bearer)).status).to.equal(403);
      }
      expect((await send(srv, 'POST', '/api/v1/events', undefined, appEvent())).status).to.equal(401);
    });

    it('stores a posted event with the stated username unverified and the token user as requested_via', async () => {
      const res = await send(srv, 'POST', '/api/v1/events', admin, appEvent({ name: 'one-of-a-kind', message: 'login with token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl' }));
      expect(res.status, res.text).to.equal(201);
      const got = await send(srv, 'GET', `/api/v1/events/${String(res.body.id)}`, admin);
      expect(got.status).to.equal(200);
      expect(got.body).to.include({ name: 'one-of-a-kind', reason: 'VMPowerOnRequested', category: 'vm', actor: 'alice', actor_verified: false, requested_via: 'backend', username: 'alice', writer: 'application', org_id: 'a', count: 1 });
      expect(got.body.message).to.not.include('eyJhbGciOiJIUzI1NiJ9');
      expect(got.body.metadata).to.deep.equal({ source: 'ui' });
      expect(mirrored.map((r) => r.uid)).to.include(res.body.id);
    });

    it('makes a retried POST with the same Idempotency-Key a no-op answering like the first (another body: 422)', async () => {
      const body = appEvent({ name: 'idem-1' });
      const first = await send(srv, 'POST', '/api/v1/events', admin, body, { 'idempotency-key': 'key-1' });
      const second = await send(srv, 'POST', '/api/v1/events', admin, body, { 'idempotency-key': 'key-1' });
      expect(first.status).to.equal(201);
      expect(second.status).to.equal(201);
      expect(second.body).to.deep.equal(first.body);
      const rows = (await list('search=power')).events.filter((e) => e.name === 'idem-1');
      expect(rows).to.have.length(1);
      expect(rows[0]?.count).to.equal(1);
      const other = await send(srv, 'POST', '/api/v1/events', admin, appEvent({ name: 'idem-2' }), { 'idempotency-key': 'key-1' });
      expect(other.status).to.equal(422);
      const bulkBody = { events: [appEvent({ name: 'idem-b1' }), appEvent({ name: 'idem-b2' })] };
      const b1 = await send(srv, 'POST', '/api/v1/events/bulk', admin, bulkBody, { 'idempotency-key': 'key-2' });
      const b2 = await send(srv, 'POST', '/api/v1/events/bulk', admin, bulkBody, { 'idempotency-key': 'key-2' });
      expect(b2.body).to.deep.equal(b1.body);
      for (const id of b1.body.ids as string[]) expect((await send(srv, 'GET', `/api/v1/events/${id}`, admin)).body.count).to.equal(1);
    });

    it('folds a repeated name + event_time without a key into one row with count 2', async () => {
      const at = iso(Date.now() - 60_000);
      const body = appEvent({ name: 'fold-me', event_time: at });
      const a = await send(srv, 'POST', '/api/v1/events', admin, body);
      const b = await send(srv, 'POST', '/api/v1/events', admin, body);
      expect(b.body.id).to.equal(a.body.id);
      expect(b.body.count).to.equal(2);
      const rows = (await list('username=alice')).events.filter((e) => e.name === 'fold-me');
      expect(rows.map((r) => r.count)).to.deep.equal([2]);
    });

    it('stores a bulk of 100 atomically and refuses 101 (and a bulk with one bad event stores none)', async () => {
      const tag = `bulk${Date.now()}`;
      const hundred = Array.from({ length: 100 }, (_, i) => appEvent({ name: `${tag}-${i}`, user_id: tag }));
      const ok = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events: hundred });
      expect(ok.status, ok.text).to.equal(201);
      expect(ok.body.count).to.equal(100);
      expect((await list(`user_id=${tag}`)).total_count).to.equal(100);
      const tooMany = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events: [...hundred, appEvent()] });
      expect(tooMany.status).to.equal(400);
      expect(tooMany.body.error).to.include('"events"');
      const tag2 = `${tag}x`;
      const mixed = Array.from({ length: 60 }, (_, i) => appEvent({ name: `${tag2}-${i}`, user_id: tag2 }));
      mixed[57] = appEvent({ user_id: tag2, event_time: iso(Date.now() + 3_600_000) });
      const bad = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events: mixed });
      expect(bad.status).to.equal(400);
      expect(bad.body.error).to.include('"events.57.event_time"');
      expect((await list(`user_id=${tag2}`)).total_count).to.equal(0);
    });

    it("records every 403 of the application-event and history routes as AccessDenied on the caller's Organization", async () => {
      const boss = await token('org_admin', 'a', 'boss-a');
      const id = String((await send(srv, 'POST', '/api/v1/events', admin, appEvent())).body.id);
      const refused: [string, string, unknown?][] = [
        ['POST', '/api/v1/events', appEvent()],
        ['POST', '/api/v1/events/bulk', { events: [appEvent()] }],
        ['GET', '/api/v1/events/retention-policies'],
        ['PUT', '/api/v1/events/retention-policies', { policies: [] }],
        ['POST', '/api/v1/events/cleanup'],
        ['DELETE', `/api/v1/events/${id}`],
        ['GET', `/api/v1/events/${id}?include_deleted=true`],
        ['GET', '/api/v1/events?include_deleted=true'],
        ['GET', '/api/v1/events?namespace=kube-system&namespace=org-a'],
        ['GET', '/api/v1/events/export?namespace=kube-system'],
        ['GET', '/api/v1/events/stats?namespace=kube-system'],
        ['GET', '/api/v1/events/stream?namespace=kube-system'],
      ];
      recorded.length = 0;
      for (const [method, path, body] of refused) {
        const res = await send(srv, method, path, boss, body);
        expect(res.status, `${method} ${path}: ${res.text}`).to.equal(403);
        const denied = recorded.filter((r) => r.reason === 'AccessDenied');
        expect(denied, `${method} ${path} recorded`).to.have.length(1);
        expect(denied[0]?.object).to.equal('a');
        expect(denied[0]?.message).to.include('boss-a').and.include(String(res.body.error));
        recorded.length = 0;
      }
    });

    it("answers another tenant's id with 404, its own with 200", async () => {
      const res = await send(srv, 'POST', '/api/v1/events', admin, appEvent({ org_id: 'a' }));
      const id = String(res.body.id);
      expect((await send(srv, 'GET', `/api/v1/events/${id}`, orgAdminA)).status).to.equal(200);
      const foreign = await send(srv, 'GET', `/api/v1/events/${id}`, orgAdminB);
      expect(foreign.status).to.equal(404);
      const unknown = await send(srv, 'GET', '/api/v1/events/no-such-id', orgAdminB);
      expect(foreign.body).to.deep.equal(unknown.body);
      // The org user sees only verified actors: a stated username is not one.
      expect((await send(srv, 'GET', `/api/v1/events/${id}`, await token('org_user', 'a', 'alice'))).status).to.equal(404);
    });

    it('soft-deletes: hidden from lists and reads, shown with include_deleted to system admins only, recorded as a security event; re-posting keeps it deleted', async () => {
      const at = iso(Date.now() - 5_000);
      const body = appEvent({ name: 'to-delete', event_time: at, user_id: 'deleter-test' });
      const id = String((await send(srv, 'POST', '/api/v1/events', admin, body)).body.id);
      const del = await send(srv, 'DELETE', `/api/v1/events/${id}`, admin);
      expect(del.status, del.text).to.equal(200);
      expect((await list('user_id=deleter-test')).total_count).to.equal(0);
      expect((await send(srv, 'GET', `/api/v1/events/${id}`, admin)).status).to.equal(404);
      const shown = await list('user_id=deleter-test&include_deleted=true');
      expect(shown.events.map((e) => e.id)).to.deep.equal([id]);
      expect((await send(srv, 'GET', `/api/v1/events/${id}?include_deleted=true`, admin)).body.deleted_at).to.be.a('string');
      expect((await send(srv, 'GET', '/api/v1/events?include_deleted=true', orgAdminA)).status).to.equal(403);
      expect((await send(srv, 'GET', `/api/v1/events/${id}?include_deleted=true`, orgAdminA)).status).to.equal(403);
      const security = await list('category=security&reason=EventDeleted');
      const record = security.events.find((e) => String(e.message).includes(id));
      expect(record, 'EventDeleted security event').to.not.equal(undefined);
      expect(record?.message).to.include('deleted by backend');
      expect(record?.actor).to.equal('backend');
      // Re-posting the same occurrence bumps nothing visible: it stays deleted.
      await send(srv, 'POST', '/api/v1/events', admin, body);
      expect((await list('user_id=deleter-test')).total_count).to.equal(0);
      expect((await send(srv, 'GET', `/api/v1/events/${id}`, admin)).status).to.equal(404);
    });

    it('does not mirror a re-post of a soft-deleted occurrence again, one or in bulk', async () => {
      const body = appEvent({ name: 'deleted-then-reposted', event_time: iso(Date.now() - 7_000), user_id: 'repost-test' });
      const posted = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events: [body] });
      expect(posted.status, posted.text).to.equal(201);
      const id = String((posted.body.ids as string[])[0]);
      const mirrorsOf = () => mirrored.filter((r) => r.uid === id).length;
      expect(mirrorsOf(), 'the first post is mirrored').to.equal(1);
      expect((await send(srv, 'DELETE', `/api/v1/events/${id}`, admin)).status).to.equal(200);
      const again = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events: [body, appEvent({ user_id: 'repost-test' })] });
      expect(again.status, again.text).to.equal(201);
      expect((again.body.ids as string[])[0]).to.equal(id);
      expect((await send(srv, 'POST', '/api/v1/events', admin, body)).status).to.equal(201);
      expect(mirrorsOf(), 'a deleted occurrence is not mirrored again').to.equal(1);
      // The other event of that bulk was mirrored: the bulk still mirrors what is not deleted.
      expect(mirrored.filter((r) => r.uid === (again.body.ids as string[])[1])).to.have.length(1);
      expect((await list('user_id=repost-test')).total_count).to.equal(1);
    });

    it('does not let one token erase the audit trail: security events cannot be deleted nor expire before 90 days', async () => {
      const security = await list('category=security');
      expect(security.total_count).to.be.greaterThan(0);
      for (const e of security.events) {
        const res = await send(srv, 'DELETE', `/api/v1/events/${String(e.id)}`, admin);
        expect(res.status, res.text).to.equal(403);
      }
      for (const p of [
        { category: 'security', type: 'all', retention_days: 1 },
        { category: 'audit', type: 'Normal', retention_days: 89 },
      ]) {
        const res = await send(srv, 'PUT', '/api/v1/events/retention-policies', admin, { policies: [p] });
        expect(res.status, res.text).to.equal(400);
      }
      // A posted security event cannot be deleted either.
      const posted = await send(srv, 'POST', '/api/v1/events', admin, appEvent({ category: 'security', reason: 'LoginFailed' }));
      expect((await send(srv, 'DELETE', `/api/v1/events/${String(posted.body.id)}`, admin)).status).to.equal(403);
      await send(srv, 'POST', '/api/v1/events/cleanup', admin);
      expect((await list('category=security')).total_count).to.equal(security.total_count + 1);
    });

    it('after a policy edit, cleanup deletes exactly the expired rows, and the edit is a security event naming who and what', async () => {
      const now = Date.now();
      const tag = `ret${now}`;
      const events = [
        appEvent({ name: `${tag}-old-normal`, user_id: tag, category: 'backup', type: 'Normal', event_time: iso(now - 3 * 86_400_000) }),
        appEvent({ name: `${tag}-new-normal`, user_id: tag, category: 'backup', type: 'Normal', event_time: iso(now - 3_600_000) }),
        appEvent({ name: `${tag}-old-warning`, user_id: tag, category: 'backup', type: 'Warning', event_time: iso(now - 3 * 86_400_000) }),
        appEvent({ name: `${tag}-old-audit`, user_id: tag, category: 'audit', type: 'Normal', event_time: iso(now - 3 * 86_400_000) }),
      ];
      expect((await send(srv, 'POST', '/api/v1/events/bulk', admin, { events })).status).to.equal(201);
      const put = await send(srv, 'PUT', '/api/v1/events/retention-policies', admin, { policies: [{ category: 'backup', type: 'Normal', retention_days: 2, max_events: null }] });
      expect(put.status, put.text).to.equal(200);
      const policies = put.body.policies as { category: string; type: string; retention_days: number }[];
      expect(policies.find((p) => p.category === 'backup' && p.type === 'Normal')?.retention_days).to.equal(2);
      const got = await send(srv, 'GET', '/api/v1/events/retention-policies', admin);
      expect(got.body).to.deep.equal(put.body);
      const cleanup = await send(srv, 'POST', '/api/v1/events/cleanup', admin);
      expect(cleanup.status).to.equal(200);
      expect(cleanup.body.deleted_count).to.equal(1);
      expect((await list(`user_id=${tag}`)).events.map((e) => e.name).sort()).to.deep.equal([`${tag}-new-normal`, `${tag}-old-audit`, `${tag}-old-warning`].sort());
      const changed = (await list('reason=PolicyChanged')).events;
      expect(changed.some((e) => String(e.message).includes('backup/Normal: retention_days 90 -> 2') && e.actor === 'backend')).to.equal(true);
    });

    it('documents every application-event route in the OpenAPI document', async () => {
      const doc = (await send(srv, 'GET', '/api/v1/openapi.json', admin)).body as { paths: Record<string, Record<string, unknown>> };
      expect(doc.paths['/api/v1/events']).to.have.keys('get', 'post');
      expect(doc.paths['/api/v1/events/bulk']).to.have.keys('post');
      expect(doc.paths['/api/v1/events/{id}']).to.have.keys('get', 'delete');
      expect(doc.paths['/api/v1/events/retention-policies']).to.have.keys('get', 'put');
      expect(doc.paths['/api/v1/events/cleanup']).to.have.keys('post');
      expect(doc.paths['/api/v1/events/categories']).to.have.keys('get');
      for (const path of srv.server.routes.filter((p) => !p.startsWith('/panel/') && p !== '/')) {
        expect(doc.paths, path).to.have.property(path.replace(/:([a-z]+)/g, '{$1}'));
      }
    });

    it('lists the categories with colours and icons', async () => {
      const res = await send(srv, 'GET', '/api/v1/events/categories', orgAdminA);
      expect(res.status).to.equal(200);
      const categories = res.body.categories as { name: string; color: string; icon: string }[];
      expect(categories.map((c) => c.name)).to.deep.equal(['organization', 'vdc', 'vm', 'security', 'performance', 'integration', 'system', 'audit', 'quota', 'network', 'storage', 'backup']);
      expect(categories.find((c) => c.name === 'vm')).to.deep.include({ color: '#d62728', icon: 'fa-desktop' });
    });

    it('answers hostile bodies with 400 or 413 and keeps serving', async () => {
      const huge = await send(srv, 'POST', '/api/v1/events', admin, appEvent({ message: 'x'.repeat(1024 * 1024) }));
      expect(huge.status).to.equal(413);
      const keys = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, '']));
      const many = await send(srv, 'POST', '/api/v1/events/bulk', admin, { events: [appEvent({ metadata: keys })] });
      expect(many.status).to.equal(400);
      const deep = `{"events":[${'['.repeat(200_000)}${']'.repeat(200_000)}]}`;
      const nested = await send(srv, 'POST', '/api/v1/events/bulk', admin, deep);
      expect([400, 413]).to.include(nested.status);
      const deepMeta = `{"reason":"A","message":"m","metadata":${'{"a":'.repeat(20_000)}"x"${'}'.repeat(20_000)}}`;
      expect([400, 413]).to.include((await send(srv, 'POST', '/api/v1/events', admin, deepMeta)).status);
      expect((await send(srv, 'POST', '/api/v1/events', admin, '{"reason":')).status).to.equal(400);
      expect((await send(srv, 'GET', '/api/v1/events/categories', admin)).status).to.equal(200);
    });

    it('keeps one archive row when the Kubernetes copy of a posted event comes back through the watch', async () => {
      const res = await send(srv, 'POST', '/api/v1/events', admin, appEvent({ name: 'mirror-once', user_id: 'mirror-test' }));
      const id = String(res.body.id);
      const copy = rawEvent({ name: 'vm-1.abc', namespace: 'vdc-a-x', kind: 'VirtualMachine', objectName: 'vm-1', reason: 'VMPowerOnRequested', component: 'ovim-api', annotations: { 'ovim.io/source-event-id': id, 'ovim.io/actor': 'alice' } });
      const forged = rawEvent({ name: 'vm-1.def', namespace: 'vdc-a-x', kind: 'VirtualMachine', objectName: 'vm-1', reason: 'Forged', component: 'kubelet', annotations: { 'ovim.io/source-event-id': id } });
      archive.ingest(copy);
      archive.ingest(forged);
      await archive.flush();
      const rows = (await list('namespace=vdc-a-x')).events;
      expect(rows.filter((e) => e.reason === 'VMPowerOnRequested' && e.id === copy.metadata?.uid)).to.have.length(0);
      expect(rows.filter((e) => e.id === id)).to.have.length(1);
      // Only the API's own copies are folded: another writer's Event is archived as usual.
      expect(rows.filter((e) => e.id === forged.metadata?.uid)).to.have.length(1);
    });
  });
}
