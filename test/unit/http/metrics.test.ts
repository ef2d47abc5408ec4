// The recorder's and the event store's collectors on the process registry, read from providers
// at scrape time (a provider built here stands in for the recorder), and over /metrics.
import { expect } from 'chai';
import type { RecorderStats } from '../../../src/events/types.js';
import { createMetrics, registerEventStoreMetrics, registerRecorderMetrics } from '../../../src/metrics.js';
import { startServer } from './support.js';

function stats(overrides: Partial<RecorderStats> = {}): RecorderStats {
  return {
    recorded: [
      { type: 'Normal', reason: 'VDCCreated', count: 4 },
      { type: 'Warning', reason: 'QuotaExceeded', count: 2 },
    ],
    dropped: [
      { cause: 'queue_full', count: 3 },
      { cause: 'namespace_terminating', count: 1 },
    ],
    written: 5,
    patched: 7,
    aggregated: 2,
    spamFiltered: 9,
    writeFailures: 1,
    queueDepth: 6,
    delivered: 12,
    ...overrides,
  };
}

describe('metrics of the recorder and the event store', () => {
  it('exports the recorder counters by type/reason and cause, read at scrape time', async () => {
    const metrics = createMetrics();
    let current = stats();
    registerRecorderMetrics(metrics, () => current);
    let text = await metrics.registry.metrics();
    expect(text).to.contain('# TYPE ovim_events_recorded_total counter');
    expect(text).to.match(/^ovim_events_recorded_total\{type="Normal",reason="VDCCreated"\} 4$/m);
    expect(text).to.match(/^ovim_events_recorded_total\{type="Warning",reason="QuotaExceeded"\} 2$/m);
    expect(text).to.match(/^ovim_events_dropped_total\{cause="queue_full"\} 3$/m);
    expect(text).to.match(/^ovim_events_dropped_total\{cause="namespace_terminating"\} 1$/m);
    expect(text).to.match(/^ovim_events_written_total 5$/m);
    expect(text).to.match(/^ovim_events_patched_total 7$/m);
    expect(text).to.match(/^ovim_events_aggregated_total 2$/m);
    expect(text).to.match(/^ovim_events_spam_filtered_total 9$/m);
    expect(text).to.match(/^ovim_events_write_failures_total 1$/m);
    expect(text).to.match(/^ovim_events_delivered_total 12$/m);
    expect(text).to.contain('# TYPE ovim_events_queue_depth gauge');
    expect(text).to.match(/^ovim_events_queue_depth 6$/m);

    current = stats({ written: 8, queueDepth: 0, recorded: [{ type: 'Normal', reason: 'VDCCreated', count: 5 }] });
    text = await metrics.registry.metrics();
    expect(text).to.match(/^ovim_events_written_total 8$/m);
    expect(text).to.match(/^ovim_events_queue_depth 0$/m);
    expect(text).to.match(/^ovim_events_recorded_total\{type="Normal",reason="VDCCreated"\} 5$/m);
  });

  it('registering again replaces the provider (no duplicate-metric error)', async () => {
    const metrics = createMetrics();
    registerRecorderMetrics(metrics, () => stats({ written: 1 }));
    registerRecorderMetrics(metrics, () => stats({ written: 2 }));
    registerEventStoreMetrics(metrics, () => ({ size: 1, maxEvents: 10, evictions: 0 }));
    registerEventStoreMetrics(metrics, () => ({ size: 4, maxEvents: 10, evictions: 3, namespaceEvictions: 2 }));
    const text = await metrics.registry.metrics();
    expect(text).to.match(/^ovim_events_written_total 2$/m);
    expect(text).to.match(/^ovim_event_store_events 4$/m);
    expect(text).to.match(/^ovim_event_store_evictions_total 3$/m);
    expect(text).to.match(/^ovim_event_store_namespace_evictions_total 2$/m);
    expect(text).to.match(/^ovim_event_store_max_events 10$/m);
  });

  it('a failing provider does not break the scrape', async () => {
    const metrics = createMetrics();
    registerRecorderMetrics(metrics, () => {
      throw new Error('boom');
    });
    const text = await metrics.registry.metrics();
    expect(text).to.match(/^ovim_events_written_total 0$/m);
    expect(text).to.contain('controller_runtime_reconcile_total');
  });

  it('the server exports the recorder counters when given a provider', async () => {
    const srv = await startServer({ recorderStats: () => stats() });
    try {
      const res = await srv.get('/metrics');
      expect(res.status).to.equal(200);
      expect(res.text).to.match(/^ovim_events_recorded_total\{type="Warning",reason="QuotaExceeded"\} 2$/m);
      expect(res.text).to.match(/^ovim_event_store_events 0$/m);
    } finally {
      await srv.close();
    }
  });
});
