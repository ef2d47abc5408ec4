// Defect D, the pure parts: the informers' retry delay is capped so that they follow the server
// again soon after an outage; /health says degraded while a cache does not follow the server,
// while /readyz keeps serving; ovim_events_dropped_total exists from zero.
import { expect } from 'chai';
import { EventRecorder } from '../../../src/events/recorder.js';
import type { EventApi } from '../../../src/events/sink.js';
import { healthReport, isReady, type HealthSources } from '../../../src/http/health.js';
import { backoffDelay } from '../../../src/kube/backoff.js';
import { INFORMER_BACKOFF } from '../../../src/kube/informer.js';
import { createMetrics, registerRecorderMetrics } from '../../../src/metrics.js';

const store = { size: 0, maxEvents: 10, evictions: 0 };

describe('fault handling: informer backoff, /health, /readyz, dropped-events series', () => {
  it('an informer retries at most 5 s apart however many failures came before (it resumes <= 5 s after the server answers)', () => {
    for (let failures = 0; failures < 60; failures++) {
      expect(backoffDelay(failures, INFORMER_BACKOFF, () => 1), `delay after ${failures} failures`).to.be.at.most(5_000);
    }
  });

  it('/health is degraded while an informer is not watching; /readyz stays ready from the caches', () => {
    let watching = true;
    let reachable = true;
    const sources: HealthSources = {
      kubernetesReachable: () => reachable,
      informersSynced: () => true,
      informersWatching: () => watching,
      leadership: () => 'disabled',
    };
    expect(healthReport(sources, store).status).to.equal('ok');
    // The API server went away: the probe and the informers notice.
    reachable = false;
    watching = false;
    const outage = healthReport(sources, store);
    expect(outage.status).to.equal('degraded');
    expect(outage.checks.informers.status).to.equal('disconnected');
    expect(isReady(sources), '/readyz during the outage').to.equal(true);
    // It answers again, but an informer still sits in its backoff: not ok yet.
    reachable = true;
    expect(healthReport(sources, store).status).to.equal('degraded');
    watching = true;
    expect(healthReport(sources, store).status).to.equal('ok');
  });

  it('ovim_events_dropped_total has a zero series per cause before the first drop', async () => {
    const api: EventApi = {
      create: async (_ns, e) => e,
      patch: async () => ({}) as never,
      read: async () => ({}) as never,
    };
    const recorder = new EventRecorder(api, { component: 'ovim-controller' });
    const metrics = createMetrics();
    registerRecorderMetrics(metrics, () => recorder.stats());
    const text = await metrics.registry.metrics();
    for (const cause of ['queue_full', 'no_object', 'rejected', 'namespace_terminating', 'retries_exhausted', 'shutdown']) {
      expect(text).to.match(new RegExp(`^ovim_events_dropped_total\\{cause="${cause}"\\} 0$`, 'm'));
    }
    await recorder.stop(100);
  });
});
