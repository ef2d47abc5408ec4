// The EventRoute custom resource (crds/ovim.io_eventroutes.yaml, DESIGN.md section 9).
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Condition } from '../resources/types.js';

export const EVENTROUTE_KIND = 'EventRoute';
export const EVENTROUTE_PLURAL = 'eventroutes';

export type RouteFormat = 'json' | 'slack' | 'alertmanager';

export interface RouteMatchSpec {
  types?: string[];
  reasons?: string[];
  kinds?: string[];
  names?: string[];
  vdcs?: string[];
  messageContains?: string;
}

export interface WebhookSpec {
  url: string;
  format?: RouteFormat;
  secretRef?: { name: string; key: string };
  timeoutSeconds?: number;
}

export interface EventRouteSpec {
  match?: RouteMatchSpec;
  threshold?: { count: number; window: string };
  sink: { webhook: WebhookSpec };
}

export interface EventRouteStatus {
  observedGeneration?: number;
  deliveredCount?: number;
  failedCount?: number;
  droppedCount?: number;
  lastDeliveryTime?: string;
  deliveredThrough?: string;
  lastError?: string;
  conditions?: Condition[];
}

export interface EventRoute {
  apiVersion?: string;
  kind?: string;
  // A watch hands the timestamp over as a string, client-node's type says Date: ms() reads both.
  metadata: V1ObjectMeta;
  spec?: EventRouteSpec;
  status?: EventRouteStatus;
}
