// The query as pure functions: filtering, ordering, paging, scoping and the item shape.
import { expect } from 'chai';
import {
  LIMITS,
  belongsToOrganization,
  clampLimit,
  compareEvents,
  filterPredicate,
  formatTimestamp,
  inScope,
  namespaceInScope,
  pageSlice,
  runQuery,
  toApiEvent,
  type EventRecord,
  type Scope,
} from '../../../src/events/query.js';
import { NamespaceOwners } from '../../../src/events/owners.js';

const T0 = Date.parse('2025-03-01T12:00:00Z');

function rec(overrides: Partial<EventRecord> & { name: string }): EventRecord {
  return {
    uid: `uid-${overrides.name}-${overrides.namespace ?? 'default'}`,
    namespace: 'default',
    type: 'Normal',
    reason: 'Created',
    message: 'm',
    component: 'ovim-controller',
    kind: 'Pod',
    objectName: overrides.name,
    firstTimestamp: T0,
    lastTimestamp: T0,
    count: 1,
    organization: undefined,
    vdc: undefined,
    actor: undefined,
    owner: undefined,
    ...overrides,
  };
}

const ALL: Scope = { kind: 'all' };

// What the operator's namespace labels say: `vdc-acme-corp-x` is organization acme-corp's VDC x
// (it also starts with `vdc-acme-`); `vdc-acme-ghost` carries no owner label (not ours, or not
// seen yet).
const OWNERS = new NamespaceOwners();
OWNERS.set('org-acme', 'acme');
OWNERS.set('vdc-acme-dev', 'acme');
OWNERS.set('org-acme-corp', 'acme-corp');
OWNERS.set('vdc-acme-corp-x', 'acme-corp');
OWNERS.set('org-globex', 'globex');

describe('events query (pure)', () => {
  describe('order', () => {
    it('sorts by last_timestamp descending, ties by name, then namespace and uid', () => {
      const a = rec({ name: 'a', lastTimestamp: T0 });
      const b = rec({ name: 'b', lastTimestamp: T0 });
      const newest = rec({ name: 'z', lastTimestamp: T0 + 1000 });
      const bOther = rec({ name: 'b', namespace: 'other', lastTimestamp: T0 });
      const sorted = [a, bOther, b, newest].sort(compareEvents);
      expect(sorted.map((r) => `${r.namespace}/${r.name}`)).to.deep.equal(['default/z', 'default/a', 'default/b', 'other/b']);
    });

    it('is a total order: only a record equals itself', () => {
      const x = rec({ name: 'x', uid: '1' });
      const y = rec({ name: 'x', uid: '2' });
      expect(compareEvents(x, x)).to.equal(0);
      expect(compareEvents(x, y)).to.be.lessThan(0);
      expect(compareEvents(y, x)).to.be.greaterThan(0);
    });
  });

  describe('filters', () => {
    const e = rec({
      name: 'ev',
      namespace: 'vdc-acme-dev',
      type: 'Warning',
      reason: 'QuotaExceeded',
      component: 'OVIM-Controller',
      kind: 'VirtualDataCenter',
      objectName: 'dev',
      organization: 'acme',
      vdc: 'dev',
      lastTimestamp: T0,
    });
    const cases: [string, Parameters<typeof filterPredicate>[0], boolean][] = [
      ['type', { type: 'Warning' }, true],
      ['type (other)', { type: 'Normal' }, false],
      ['component substring, case-insensitive', { component: 'controller' }, true],
      ['component upper-case query', { component: 'OVIM-CONT' }, true],
      ['component no match', { component: 'ovim-api' }, false],
      ['namespace exact', { namespace: 'vdc-acme-dev' }, true],
      ['namespace is not a prefix match', { namespace: 'vdc-acme' }, false],
      ['reason', { reason: 'QuotaExceeded' }, true],
      ['reason is case-sensitive', { reason: 'quotaexceeded' }, false],
      ['kind', { kind: 'VirtualDataCenter' }, true],
      ['kind (other)', { kind: 'Organization' }, false],
      ['name (involved object)', { name: 'dev' }, true],
      ['name is not the event name', { name: 'ev' }, false],
      ['organization', { organization: 'acme' }, true],
      ['organization (other)', { organization: 'acme-corp' }, false],
      ['vdc', { vdc: 'dev' }, true],
      ['vdc (other)', { vdc: 'prod' }, false],
      ['since equal to last timestamp', { since: T0 }, true],
      ['since after last timestamp', { since: T0 + 1 }, false],
      ['all together', { type: 'Warning', namespace: 'vdc-acme-dev', reason: 'QuotaExceeded', kind: 'VirtualDataCenter', name: 'dev', organization: 'acme', vdc: 'dev', since: T0 - 1, component: 'ovim' }, true],
      ['all together but one', { type: 'Warning', namespace: 'vdc-acme-dev', reason: 'QuotaExceeded', kind: 'VirtualDataCenter', name: 'dev', organization: 'acme', vdc: 'prod' }, false],
    ];
    for (const [what, filters, expected] of cases) {
      it(`${what} → ${expected ? 'match' : 'no match'}`, () => {
        const predicate = filterPredicate(filters);
        expect(predicate, 'a predicate').to.be.a('function');
        expect(predicate?.(e)).to.equal(expected);
      });
    }

    it('no filters → no predicate (everything matches)', () => {
      expect(filterPredicate({})).to.equal(undefined);
    });
  });

  describe('paging', () => {
    it('returns 1-based stable slices, [] beyond the end', () => {
      const items = Array.from({ length: 7 }, (_, i) => i);
      expect(pageSlice(items, { page: 1, limit: 3 })).to.deep.equal([0, 1, 2]);
      expect(pageSlice(items, { page: 3, limit: 3 })).to.deep.equal([6]);
      expect(pageSlice(items, { page: 4, limit: 3 })).to.deep.equal([]);
      expect(pageSlice(items, { page: 1e18, limit: 200 })).to.deep.equal([]);
    });

    it('clamps limits to the route maximum and defaults them', () => {
      expect(clampLimit(undefined, LIMITS.events)).to.equal(50);
      expect(clampLimit(1000, LIMITS.events)).to.equal(200);
      expect(clampLimit(200, LIMITS.events)).to.equal(200);
      expect(clampLimit(7, LIMITS.events)).to.equal(7);
      expect(clampLimit(undefined, LIMITS.recent)).to.equal(10);
      expect(clampLimit(51, LIMITS.recent)).to.equal(50);
    });

    it('runQuery counts all matches and pages them in order', () => {
      const records = Array.from({ length: 25 }, (_, i) =>
        rec({ name: `e${String(i).padStart(2, '0')}`, lastTimestamp: T0 + (i % 5) * 1000, type: i % 2 ? 'Warning' : 'Normal' }),
      );
      const all = runQuery(records, {}, ALL, { page: 1, limit: 100 }, OWNERS);
      expect(all.total).to.equal(25);
      for (let i = 1; i < all.items.length; i++) {
        expect(compareEvents(all.items[i - 1] as EventRecord, all.items[i] as EventRecord)).to.be.lessThan(0);
      }
      const pages = [1, 2, 3].flatMap((page) => runQuery(records, {}, ALL, { page, limit: 10 }, OWNERS).items);
      expect(pages).to.deep.equal(all.items);
      const warnings = runQuery(records, { type: 'Warning' }, ALL, { page: 2, limit: 5 }, OWNERS);
      expect(warnings.total).to.equal(12);
      expect(warnings.items).to.have.length(5);
      expect(warnings.items.every((r) => r.type === 'Warning')).to.equal(true);
      expect(runQuery(records, { reason: 'nothing' }, ALL, { page: 1, limit: 5 }, OWNERS)).to.deep.equal({ items: [], total: 0 });
    });
  });

  describe('scopes', () => {
    const acmeHome = rec({ name: 'h', namespace: 'org-acme', organization: 'acme' });
    const acmeVdc = rec({ name: 'v', namespace: 'vdc-acme-dev' });
    const acmeVdcAnnotated = rec({ name: 'va', namespace: 'vdc-acme-dev', organization: 'acme' });
    const acmeOrgObject = rec({ name: 'o', namespace: 'default', kind: 'Organization', objectName: 'acme', organization: 'acme' });
    const otherOrgObject = rec({ name: 'o2', namespace: 'default', kind: 'Organization', objectName: 'globex' });
    const defaultPod = rec({ name: 'p', namespace: 'default', kind: 'Pod', objectName: 'acme' });
    const globex = rec({ name: 'g', namespace: 'org-globex', organization: 'globex' });
    // Organization "acme-corp"'s VDC "x" has namespace vdc-acme-corp-x, which also starts with vdc-acme-.
    const acmeCorpVdc = rec({ name: 'c', namespace: 'vdc-acme-corp-x', organization: 'acme-corp' });
    const foreign = rec({ name: 'f', namespace: 'kube-system' });

    // A kubelet/scheduler/KubeVirt event: no ovim annotations at all.
    const acmeCorpKubelet = rec({ name: 'k', namespace: 'vdc-acme-corp-x', component: 'kubelet' });
    // Annotations are not evidence of ownership: this one names acme, but the namespace is acme-corp's.
    const acmeCorpForged = rec({ name: 'fa', namespace: 'vdc-acme-corp-x', organization: 'acme', actor: 'alex', actorVerified: true });
    // A vdc-* namespace nobody is known to own (no label, or not seen yet).
    const ghost = rec({ name: 'gh', namespace: 'vdc-acme-ghost' });
    const ghostAnnotated = rec({ name: 'gha', namespace: 'vdc-acme-ghost', organization: 'acme', actor: 'alex' });
    const acme: Scope = { kind: 'organization', organization: 'acme' };
    const acmeCorp: Scope = { kind: 'organization', organization: 'acme-corp' };

    it('an organization admin sees org-<org>, its labelled vdc-* namespaces and their Organization object in default', () => {
      const visible = [acmeHome, acmeVdc, acmeVdcAnnotated, acmeOrgObject];
      const hidden = [otherOrgObject, defaultPod, globex, acmeCorpVdc, acmeCorpKubelet, acmeCorpForged, ghost, ghostAnnotated, foreign];
      for (const r of visible) expect(inScope(r, acme, OWNERS), `${r.namespace}/${r.name}`).to.equal(true);
      for (const r of hidden) expect(inScope(r, acme, OWNERS), `${r.namespace}/${r.name}`).to.equal(false);
    });

    it('the other organization sees its own VDC namespace that shares the prefix, annotated or not', () => {
      expect(belongsToOrganization(acmeCorpVdc, 'acme-corp', OWNERS)).to.equal(true);
      expect(belongsToOrganization(acmeCorpVdc, 'acme', OWNERS)).to.equal(false);
      for (const r of [acmeCorpVdc, acmeCorpKubelet, acmeCorpForged]) {
        expect(inScope(r, acmeCorp, OWNERS), r.name).to.equal(true);
        expect(inScope(r, acme, OWNERS), r.name).to.equal(false);
      }
      for (const r of [acmeHome, acmeVdc, acmeOrgObject]) expect(inScope(r, acmeCorp, OWNERS), r.name).to.equal(false);
    });

    it('a vdc-* namespace with an unknown owner is visible to system admins only', () => {
      for (const r of [ghost, ghostAnnotated]) {
        expect(inScope(r, ALL, OWNERS)).to.equal(true);
        expect(inScope(r, acme, OWNERS)).to.equal(false);
        expect(inScope(r, acmeCorp, OWNERS)).to.equal(false);
        expect(inScope(r, { kind: 'own', organization: 'acme', username: 'alex' }, OWNERS)).to.equal(false);
      }
      expect(namespaceInScope('vdc-acme-ghost', acme, OWNERS)).to.equal(false);
      // Without any known owners, no vdc-* namespace is anybody's (fail closed).
      const none = new NamespaceOwners();
      expect(inScope(acmeVdc, acme, none)).to.equal(false);
      expect(namespaceInScope('vdc-acme-dev', acme, none)).to.equal(false);
      expect(inScope(acmeHome, acme, none)).to.equal(false, 'org-* namespaces need their owner label too');
    });

    // Regression (issue 10, M3): an org_admin token of a non-existent organization `zzz` saw the
    // events of an unlabelled, foreign namespace that happened to be called `org-zzz`.
    it('an org-* namespace is the organization\'s only when labelled as its own', () => {
      const zzz: Scope = { kind: 'organization', organization: 'zzz' };
      const planted = rec({ name: 'z', namespace: 'org-zzz', organization: 'zzz' });
      expect(inScope(planted, zzz, OWNERS)).to.equal(false);
      expect(inScope(planted, { kind: 'own', organization: 'zzz', username: 'alex' }, OWNERS)).to.equal(false);
      expect(namespaceInScope('org-zzz', zzz, OWNERS)).to.equal(false);
      expect(runQuery([planted], {}, zzz, { page: 1, limit: 50 }, OWNERS).total).to.equal(0);
      // A label naming another organization does not make it zzz's either.
      const owners = new NamespaceOwners();
      owners.set('org-zzz', 'globex');
      expect(inScope(planted, zzz, owners)).to.equal(false);
      owners.set('org-zzz', 'zzz');
      expect(inScope(planted, zzz, owners)).to.equal(true);
      expect(namespaceInScope('org-zzz', zzz, owners)).to.equal(true);
    });

    // Regression (issue 10): anyone who can create Events in `default` could plant one that an
    // organization admin saw as being about their Organization.
    it('Organization events in default count only when the operator\'s controller reported them', () => {
      const planted = rec({ name: 'pl', namespace: 'default', kind: 'Organization', objectName: 'acme', component: 'kubectl' });
      const unnamed = rec({ name: 'un', namespace: 'default', kind: 'Organization', objectName: 'acme', component: '' });
      const denied = rec({ name: 'ad', namespace: 'default', kind: 'Organization', objectName: 'acme', component: 'ovim-api', reason: 'AccessDenied' });
      for (const r of [planted, unnamed, denied]) {
        expect(inScope(r, acme, OWNERS), r.name).to.equal(false);
        expect(inScope(r, ALL, OWNERS), r.name).to.equal(true);
      }
      expect(inScope(acmeOrgObject, acme, OWNERS)).to.equal(true);
    });

    it('a label that contradicts the name gives nothing (vdc-<owner>-* only)', () => {
      const owners = new NamespaceOwners();
      owners.set('vdc-globex-a', 'acme');
      const r = rec({ name: 'x', namespace: 'vdc-globex-a' });
      expect(inScope(r, acme, owners)).to.equal(false);
      expect(inScope(r, { kind: 'organization', organization: 'globex' }, owners)).to.equal(false);
      expect(namespaceInScope('vdc-globex-a', acme, owners)).to.equal(false);
    });

    it('an organization user sees only their organization\'s events that name them as actor or owner', () => {
      const scope: Scope = { kind: 'own', organization: 'acme', username: 'alex' };
      const mine = rec({ name: 'm', namespace: 'vdc-acme-dev', actor: 'alex', actorVerified: true });
      const owned = rec({ name: 'o', namespace: 'org-acme', owner: 'alex', ownerVerified: true });
      const someoneElse = rec({ name: 's', namespace: 'org-acme', actor: 'sam', actorVerified: true });
      const mineElsewhere = rec({ name: 'e', namespace: 'org-globex', actor: 'alex', actorVerified: true });
      expect(inScope(mine, scope, OWNERS)).to.equal(true);
      expect(inScope(owned, scope, OWNERS)).to.equal(true);
      // Names only stated in annotations (no webhook stamp) show nobody anything.
      expect(inScope({ ...mine, actorVerified: false }, scope, OWNERS)).to.equal(false);
      expect(inScope({ ...owned, ownerVerified: false }, scope, OWNERS)).to.equal(false);
      expect(inScope({ ...owned, actorVerified: true, ownerVerified: false }, scope, OWNERS)).to.equal(false);
      expect(inScope(someoneElse, scope, OWNERS)).to.equal(false);
      expect(inScope(mineElsewhere, scope, OWNERS)).to.equal(false);
      // vdc-acme-corp-x is acme-corp's: being named as actor there does not make it acme's.
      expect(inScope(acmeCorpForged, scope, OWNERS)).to.equal(false);
      expect(inScope(acmeCorpForged, { kind: 'own', organization: 'acme-corp', username: 'alex' }, OWNERS)).to.equal(true);
    });

    it('a system admin sees everything', () => {
      for (const r of [acmeHome, foreign, globex, acmeCorpKubelet, ghost]) expect(inScope(r, ALL, OWNERS)).to.equal(true);
    });

    it('namespace filters inside and outside the scope', () => {
      expect(namespaceInScope('org-acme', acme, OWNERS)).to.equal(true);
      expect(namespaceInScope('vdc-acme-dev', acme, OWNERS)).to.equal(true);
      expect(namespaceInScope('default', acme, OWNERS)).to.equal(true);
      expect(namespaceInScope('org-globex', acme, OWNERS)).to.equal(false);
      expect(namespaceInScope('org-acme2', acme, OWNERS)).to.equal(false);
      expect(namespaceInScope('org-acme-corp', acme, OWNERS)).to.equal(false);
      expect(namespaceInScope('vdc-acme-corp-x', acme, OWNERS)).to.equal(false);
      expect(namespaceInScope('vdc-acme-corp-x', acmeCorp, OWNERS)).to.equal(true);
      expect(namespaceInScope('kube-system', acme, OWNERS)).to.equal(false);
      expect(namespaceInScope('kube-system', ALL, OWNERS)).to.equal(true);
    });

    it('runQuery applies the scope before counting', () => {
      const records = [acmeHome, acmeVdc, globex, foreign, acmeCorpVdc, acmeCorpKubelet, ghost];
      const result = runQuery(records, {}, acme, { page: 1, limit: 50 }, OWNERS);
      expect(result.total).to.equal(2);
      expect(result.items.map((r) => r.name).sort()).to.deep.equal(['h', 'v']);
      const corp = runQuery(records, {}, acmeCorp, { page: 1, limit: 50 }, OWNERS);
      expect(corp.items.map((r) => r.name).sort()).to.deep.equal(['c', 'k']);
    });
  });

  describe('item shape', () => {
    it('formats timestamps as RFC 3339 UTC (fraction only when non-zero)', () => {
      expect(formatTimestamp(Date.parse('2025-03-01T12:00:00Z'))).to.equal('2025-03-01T12:00:00Z');
      expect(formatTimestamp(Date.parse('2025-03-01T12:00:00.250Z'))).to.equal('2025-03-01T12:00:00.250Z');
      expect(formatTimestamp(Date.parse('2025-03-01T14:00:00+02:00'))).to.equal('2025-03-01T12:00:00Z');
      expect(formatTimestamp(Date.parse('2025-03-01T12:00:00.005Z'))).to.equal('2025-03-01T12:00:00.005Z');
      expect(formatTimestamp(Date.parse('2025-03-01T12:00:00.050Z'))).to.equal('2025-03-01T12:00:00.050Z');
      expect(formatTimestamp(0)).to.equal('1970-01-01T00:00:00Z');
    });

    it('formats like Date.toISOString (minus a zero fraction) across days, years and edges', () => {
      const reference = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
      let ms = Date.parse('1999-12-31T23:59:58.999Z');
      for (let i = 0; i < 20_000; i++) {
        expect(formatTimestamp(ms)).to.equal(reference(ms));
        ms += 1 + ((i * 7919) % 9_000_000);
      }
      for (const edge of [Date.parse('2024-02-29T23:59:59.999Z'), Date.parse('9999-12-31T23:59:59Z'), Date.parse('0001-01-01T00:00:00Z'), -1]) {
        expect(formatTimestamp(edge)).to.equal(reference(edge));
      }
    });

    it('maps every field and includes organization, vdc and actor only when known', () => {
      const full = toApiEvent(
        rec({ name: 'n', namespace: 'vdc-a-b', uid: 'u1', organization: 'a', vdc: 'b', actor: 'someone', count: 3, kind: 'VirtualDataCenter', objectName: 'b' }),
      );
      expect(full).to.deep.equal({
        id: 'u1',
        name: 'n',
        namespace: 'vdc-a-b',
        type: 'Normal',
        reason: 'Created',
        message: 'm',
        component: 'ovim-controller',
        involved_object_kind: 'VirtualDataCenter',
        involved_object_name: 'b',
        first_timestamp: '2025-03-01T12:00:00Z',
        last_timestamp: '2025-03-01T12:00:00Z',
        count: 3,
        category: 'vdc',
        organization: 'a',
        vdc: 'b',
        actor: 'someone',
        actor_verified: false,
      });
      const bare = toApiEvent(rec({ name: 'n' }));
      expect(bare).to.not.have.any.keys('organization', 'vdc', 'actor');
    });
  });
});
