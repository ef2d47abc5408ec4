// Which events reach which routes: spec.match field by field, the tenant scope (the API's
// org_admin scope: org a never sees org a-b), and the index agreeing with a plain scan.
import { expect } from 'chai';
import { NamespaceOwners } from '../../../src/events/owners.js';
import { scopeMatcher, type EventRecord } from '../../../src/events/query.js';
import { RouteIndex, compileRoute, matchPredicate, routeScope } from '../../../src/routes/match.js';
import type { RouteMatchSpec } from '../../../src/routes/types.js';
import { seededRandom } from '../../support/random.js';
import { record, route } from './support.js';

describe('route matching', function () {
  const owners = new NamespaceOwners();
  owners.set('org-a', 'a');
  owners.set('org-a-b', 'a-b');
  owners.set('vdc-a-dev', 'a');
  owners.set('vdc-a-b-x', 'a-b');

  const table: [string, RouteMatchSpec | undefined, Partial<EventRecord>, boolean][] = [
    ['no match spec takes everything', undefined, {}, true],
    ['empty lists take everything', { types: [], reasons: [] }, {}, true],
    ['type hit', { types: ['Warning'] }, {}, true],
    ['type miss', { types: ['Normal'] }, {}, false],
    ['reason hit', { reasons: ['VDCCreated', 'QuotaExceeded'] }, {}, true],
    ['reason miss', { reasons: ['VDCCreated'] }, {}, false],
    ['kind hit', { kinds: ['VirtualDataCenter'] }, {}, true],
    ['kind miss', { kinds: ['Organization'] }, {}, false],
    ['name hit', { names: ['dev'] }, {}, true],
    ['name miss', { names: ['prod'] }, {}, false],
    ['vdc hit', { vdcs: ['dev'] }, {}, true],
    ['vdc miss', { vdcs: ['prod'] }, {}, false],
    ['vdc list never matches an event without a vdc', { vdcs: ['dev'] }, { vdc: undefined }, false],
    ['message substring hit', { messageContains: 'cpu 4/4' }, {}, true],
    ['message substring is case-sensitive', { messageContains: 'CPU' }, {}, false],
    ['all fields must hold', { types: ['Warning'], reasons: ['QuotaExceeded'], names: ['prod'] }, {}, false],
  ];
  for (const [title, match, over, want] of table) {
    it(title, function () {
      expect(matchPredicate(match)(record(over))).to.equal(want);
    });
  }

  it('a route in org-<org> has the org_admin scope; the operator namespace sees all; other namespaces none', function () {
    expect(routeScope('org-a', 'ovim-system')).to.deep.equal({ kind: 'organization', organization: 'a' });
    expect(routeScope('ovim-system', 'ovim-system')).to.deep.equal({ kind: 'all' });
    expect(routeScope('vdc-a-dev', 'ovim-system')).to.equal(undefined);
    expect(routeScope('kube-system', 'ovim-system')).to.equal(undefined);
    expect(routeScope('org-', 'ovim-system')).to.equal(undefined);
  });

  // The tenant matrix of the API tests: what org a's route sees is exactly what org a's admins see.
  const events: [string, Partial<EventRecord>, boolean][] = [
    ['org-a', { namespace: 'org-a' }, true],
    ['vdc-a-dev (labelled a)', { namespace: 'vdc-a-dev' }, true],
    ['org-a-b', { namespace: 'org-a-b', organization: 'a-b' }, false],
    ['vdc-a-b-x (labelled a-b)', { namespace: 'vdc-a-b-x', organization: 'a' }, false],
    ['vdc-a-unknown (no owner label)', { namespace: 'vdc-a-unknown', organization: 'a' }, false],
    ["Organization a's events in default", { namespace: 'default', kind: 'Organization', objectName: 'a' }, true],
    ["Organization a-b's events in default", { namespace: 'default', kind: 'Organization', objectName: 'a-b', organization: 'a' }, false],
    ['kube-system, annotated as a', { namespace: 'kube-system', organization: 'a' }, false],
  ];
  for (const [title, over, want] of events) {
    it(`a route in org-a ${want ? 'receives' : 'never receives'} ${title}`, function () {
      const index = new RouteIndex(owners);
      const r = route('org-a', 'r');
      const scope = routeScope('org-a', 'ovim-system');
      if (!scope) throw new Error('no scope');
      index.set(compileRoute(r, scope, owners));
      const e = record(over);
      expect(index.match(e).map((c) => c.key)).to.deep.equal(want ? ['org-a/r'] : []);
      // The same answer as the API's scope function for org a's admins.
      expect(scopeMatcher({ kind: 'organization', organization: 'a' }, owners)(e)).to.equal(want);
    });
  }

  it('the index gives the same routes as checking every route (random routes and events)', function () {
    const random = seededRandom(20);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    const reasons = ['QuotaExceeded', 'VDCCreated', 'ReconcileFailed', 'DeletionBlocked'];
    const namespaces = ['org-a', 'org-a-b', 'vdc-a-dev', 'vdc-a-b-x', 'default', 'kube-system', 'ovim-system'];
    const index = new RouteIndex(owners);
    const all = [];
    for (let i = 0; i < 60; i++) {
      const ns = pick(['org-a', 'org-a-b', 'ovim-system']);
      const spec: RouteMatchSpec = {};
      if (random() < 0.6) spec.reasons = [pick(reasons)];
      if (random() < 0.3) spec.types = [pick(['Normal', 'Warning'])];
      const scope = routeScope(ns, 'ovim-system');
      if (!scope) continue;
      const c = compileRoute(route(ns, `r${i}`, { match: spec }), scope, owners);
      index.set(c);
      all.push(c);
    }
    // Replacing a route keeps one entry.
    const first = all[0];
    if (first) index.set(first);
    for (let i = 0; i < 500; i++) {
      const e = record({
        uid: `u${i}`,
        namespace: pick(namespaces),
        reason: pick(reasons),
        type: pick(['Normal', 'Warning']),
        kind: pick(['Organization', 'VirtualDataCenter']),
        objectName: pick(['a', 'a-b', 'dev']),
      });
      const want = all.filter((c) => c.matches(e)).map((c) => c.key).sort();
      expect(index.match(e).map((c) => c.key).sort()).to.deep.equal(want);
    }
    index.delete('org-a/nothing');
    const size = index.size;
    if (first) index.delete(first.key);
    expect(index.size).to.equal(size - (first ? 1 : 0));
  });
});
