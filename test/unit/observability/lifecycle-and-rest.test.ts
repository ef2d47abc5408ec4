// The lifecycle log (one info line per object becoming Active, Failed, or deleted), the slow
// Kubernetes API request log (counted, rate-limited) and the duration flags.
import { expect } from 'chai';
import type { InformerEvent } from '../../../src/kube/informer.js';
import { restClientObserver, SLOW_API_REQUEST_MS } from '../../../src/kube/rest-observer.js';
import { followLifecycle } from '../../../src/observability/lifecycle-log.js';
import { parseDurationMs } from '../../../src/observability/slow-reconcile.js';
import type { Condition } from '../../../src/resources/types.js';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { capturedLogger } from './capture.js';

type Obj = { metadata: { name: string; namespace?: string }; status?: { phase?: string; conditions?: Condition[] } };

class FakeInformer {
  private readonly handlers: Record<string, ((o: Obj, old?: Obj) => void)[]> = {};
  on(event: InformerEvent, h: (o: Obj, old?: Obj) => void): this {
    (this.handlers[event] ??= []).push(h);
    return this;
  }
  list(): Obj[] {
    return [];
  }
  emit(event: InformerEvent, o: Obj, old?: Obj): void {
    for (const h of this.handlers[event] ?? []) h(o, old);
  }
}

const vdc = (phase?: string, reason = 'Provisioned', message = 'ok'): Obj => ({
  metadata: { name: 'dev', namespace: 'org-a' },
  status: { phase, conditions: [{ type: 'Ready', status: phase === 'Active' ? ('True' as const) : ('False' as const), reason, message, lastTransitionTime: '' }] },
});

describe('lifecycle log', function () {
  it('one info line per object that becomes Active, Failed or is deleted; nothing for the first list, other phases or a repeat', () => {
    const { logger, lines } = capturedLogger('info');
    const informer = new FakeInformer();
    let leader = true;
    followLifecycle('VirtualDataCenter', 'vdc', informer, logger, () => leader);
    informer.emit('add', vdc('Active'));
    informer.emit('update', vdc('Pending'), vdc(undefined));
    informer.emit('update', vdc('Active'), vdc('Pending'));
    informer.emit('update', vdc('Active'), vdc('Active'));
    informer.emit('update', vdc('Failed', 'OrganizationNotFound', "organization 'a' not found"), vdc('Active'));
    informer.emit('delete', vdc('Terminating'));
    expect(lines.map((l) => [l.level, l.message])).to.deep.equal([
      ['info', 'VirtualDataCenter org-a/dev is Active'],
      ['info', "VirtualDataCenter org-a/dev is Failed: organization 'a' not found"],
      ['info', 'VirtualDataCenter org-a/dev deleted'],
    ]);
    for (const l of lines) expect(l).to.include({ controller: 'vdc', controllerKind: 'VirtualDataCenter', namespace: 'org-a', name: 'dev' });
    expect(lines[1]).to.include({ phase: 'Failed', reason: 'OrganizationNotFound' });
    // A follower does not log (the leader does).
    leader = false;
    informer.emit('delete', vdc('Terminating'));
    expect(lines).to.have.length(3);
  });
});

describe('slow Kubernetes API requests', function () {
  afterEach(() => restClientObserver.configure({ slowThresholdMs: SLOW_API_REQUEST_MS }));

  it('counts each request by code, method and host; counts and logs the slow ones, one line per period with the rest summed', () => {
    const { logger, lines } = capturedLogger();
    restClientObserver.configure({ slowThresholdMs: 200, logger });
    const host = `unit-${Math.random().toString(36).slice(2)}:6443`;
    const count = (code: string, method: string) => restClientObserver.requests().find((r) => r.host === host && r.code === code && r.method === method)?.count;
    const slowCount = () => restClientObserver.slowRequests().find((r) => r.host === host)?.count ?? 0;
    restClientObserver.observe('GET', host, '/api/v1/namespaces/a', 200, 5);
    restClientObserver.observe('GET', host, '/api/v1/namespaces/b', 404, 5);
    restClientObserver.observe('GET', host, '/api/v1/namespaces/c', undefined, 30_000);
    expect(count('200', 'GET')).to.equal(1);
    expect(count('404', 'GET')).to.equal(1);
    expect(count('<error>', 'GET')).to.equal(1);
    expect(slowCount()).to.equal(1);
    restClientObserver.observe('GET', host, '/api/v1/namespaces/d?watch=1', 200, 250);
    restClientObserver.observe('GET', host, '/api/v1/namespaces/e', 200, 199);
    expect(slowCount()).to.equal(2);
    const slowLines = lines.filter((l) => String(l.message).startsWith('slow Kubernetes API request'));
    // The second slow request fell within the log period: counted, not logged.
    expect(slowLines).to.have.length(1);
    expect(slowLines[0]).to.include({ level: 'warn', method: 'GET', host, code: '<error>', ms: 30_000, thresholdMs: 200 });
    expect(slowLines[0]?.message).to.equal('slow Kubernetes API request: GET /api/v1/namespaces/c took 30000 ms');
  });
});

describe('duration flags', function () {
  it('parses 500ms, 10s, 2m and plain seconds; refuses the rest with a clear message', () => {
    expect(parseDurationMs('x', '500ms')).to.equal(500);
    expect(parseDurationMs('x', '10s')).to.equal(10_000);
    expect(parseDurationMs('x', '2m')).to.equal(120_000);
    expect(parseDurationMs('x', '3')).to.equal(3_000);
    expect(parseDurationMs('x', '0')).to.equal(0);
    expect(() => parseDurationMs('--slow-reconcile-threshold', '-1s')).to.throw(/--slow-reconcile-threshold must be a duration/);
    expect(() => parseDurationMs('x', '2h')).to.throw(/duration/);
    expect(() => parseDurationMs('x', '61m')).to.throw(/at most 1 h/);
  });

  it('--slow-reconcile-threshold and --slow-api-request-threshold (and their variables) reach the configuration', () => {
    const cfg = loadConfig(['--slow-reconcile-threshold', '250ms', '--slow-api-request-threshold=2s'], {});
    expect(cfg.slowReconcileThresholdMs).to.equal(250);
    expect(cfg.slowApiRequestThresholdMs).to.equal(2_000);
    expect(loadConfig([], { OVIM_SLOW_RECONCILE_THRESHOLD: '30s' }).slowReconcileThresholdMs).to.equal(30_000);
    expect(loadConfig([], {}).slowReconcileThresholdMs).to.equal(undefined);
    expect(() => loadConfig(['--slow-reconcile-threshold', 'soon'], {})).to.throw(ConfigError, /--slow-reconcile-threshold must be a duration/);
  });
});
