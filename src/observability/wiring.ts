// The operator's observability, wired in one place (src/operator.ts calls it): the lifecycle log,
// leader_election_master_status, the informers' series, rest_client_requests_total and the slow
// Kubernetes API request threshold.
import type { Logger } from 'winston';
import type { OperatorConfig } from '../config.js';
import type { OperatorInformers } from '../controllers/setup.js';
import type { InformerFactory } from '../kube/factory.js';
import { restClientObserver } from '../kube/rest-observer.js';
import type { Metrics } from '../metrics.js';
import { followLifecycle } from './lifecycle-log.js';
import { registerInformerMetrics, registerLeaderMetric, registerRestClientMetrics } from './runtime-metrics.js';

export function observeOperator(options: {
  config: OperatorConfig;
  informers: OperatorInformers;
  factory: InformerFactory;
  metrics?: Metrics;
  logger: Logger;
  isLeader: () => boolean;
}): void {
  const { config, informers, factory, metrics, logger, isLeader } = options;
  const log = logger.child({ component: 'controller' });
  followLifecycle('Organization', 'organization', informers.organizations, log, isLeader);
  followLifecycle('VirtualDataCenter', 'virtualdatacenter', informers.vdcs, log, isLeader);
  restClientObserver.configure({ slowThresholdMs: config.slowApiRequestThresholdMs, logger: logger.child({ component: 'kube-client' }) });
  if (!metrics) return;
  // Without leader election the one replica is always the leader: "no leader" alerts hold both ways.
  registerLeaderMetric(metrics, config.leaderElection.name, isLeader);
  registerInformerMetrics(metrics, () => factory.all());
  registerRestClientMetrics(metrics);
}
