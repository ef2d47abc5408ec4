// What makes a route not Ready (beyond the CRD's schema), and the API's view of routes: scoped,
// and never a secret (no Secret reference, no URL path or query).
import { expect } from 'chai';
import { routesInScope, toApiRoute } from '../../../src/routes/api.js';
import { validateRoute } from '../../../src/routes/validate.js';
import { route } from './support.js';

describe('route validation and API view', function () {
  const opts = { operatorNamespace: 'ovim-system', allowHttp: false };

  it('a valid route has its scope, format and timeout', function () {
    const v = validateRoute(route('org-a', 'r', { sink: { webhook: { url: 'https://h.example/x', format: 'slack', timeoutSeconds: 3 } } }), opts);
    expect(v.ok).to.equal(true);
    if (v.ok) {
      expect(v.scope).to.deep.equal({ kind: 'organization', organization: 'a' });
      expect(v.format).to.equal('slack');
      expect(v.timeoutMs).to.equal(3000);
    }
  });

  const bad: [string, Parameters<typeof route>[2], string, string, RegExp][] = [
    ['http without the flag', { sink: { webhook: { url: 'http://h.example/' } } }, 'org-a', 'InsecureURL', /--routes-allow-http/],
    ['a namespace that is no organization', {}, 'vdc-a-dev', 'UnsupportedNamespace', /org-<organization>/],
    ['a malformed URL', { sink: { webhook: { url: 'https://' } } }, 'org-a', 'InvalidURL', /not a valid absolute URL/],
    ['credentials in the URL', { sink: { webhook: { url: 'https://u:p@h.example/' } } }, 'org-a', 'InvalidURL', /credentials/],
    ['a bad window', { threshold: { count: 5, window: '5d' } }, 'org-a', 'InvalidThreshold', /window/],
  ];
  for (const [what, spec, ns, reason, message] of bad) {
    it(`not Ready: ${what}`, function () {
      const v = validateRoute(route(ns, 'r', spec), opts);
      expect(v.ok).to.equal(false);
      if (!v.ok) {
        expect(v.reason).to.equal(reason);
        expect(v.message).to.match(message);
      }
    });
  }

  it('http is accepted when the operator allows it', function () {
    expect(validateRoute(route('org-a', 'r', { sink: { webhook: { url: 'http://h.example/' } } }), { ...opts, allowHttp: true }).ok).to.equal(true);
  });

  it('org admins see the routes of their namespace only; system admins all', function () {
    const routes = [route('org-a', 'one'), route('org-a-b', 'two'), route('ovim-system', 'three')];
    expect(routesInScope(routes, { kind: 'organization', organization: 'a' }).map((r) => r.metadata.name)).to.deep.equal(['one']);
    expect(routesInScope(routes, { kind: 'all' })).to.have.length(3);
    expect(routesInScope(routes, { kind: 'own', organization: 'a', username: 'u' })).to.have.length(0);
  });

  it('the API item has no Secret reference and only scheme and host of the URL', function () {
    const r = route('org-a', 'slack', {
      sink: { webhook: { url: 'https://hooks.slack.example/services/T0/B0/TOKEN?x=secret', format: 'slack', secretRef: { name: 'signing', key: 'token' } } },
    });
    r.status = { deliveredCount: 3, failedCount: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    const item = toApiRoute(r);
    expect(item).to.include({ namespace: 'org-a', name: 'slack', format: 'slack', destination: 'https://hooks.slack.example', signed: true, ready: 'True', delivered_count: 3, failed_count: 1 });
    const text = JSON.stringify(item);
    for (const secret of ['TOKEN', 'secret', 'signing', 'services']) expect(text).not.to.include(secret);
  });
});
