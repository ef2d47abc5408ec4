// The route engine: follows the EventRoute objects (an informer), matches every event of the
// event stream (the EventStore's informer, not a second watch) against them through the
// RouteIndex, counts thresholds, and hands deliveries to one RouteQueue per route. Only the
// leader delivers and writes status; followers keep the bookkeeping warm.
//
// No re-send across a leader change: status.deliveredThrough holds the last timestamp of the
// newest occurrence the route delivered. A new leader replays the events already in its cache
// and delivers only occurrences newer than that mark (or, for a route that never delivered,
// not older than the route); from then on it delivers each new occurrence (uid + count) once.
import type { Logger } from 'winston';
import type { EventRecord, NamespaceOwnership } from '../events/query.js';
import { compactEvent, type EventObject } from '../events/store.js';
import type { EventRecording } from '../events/types.js';
import { FIELD_MANAGER, semanticEqual } from '../kube/apply.js';
import { apiErrorMessage, apiStatusCode } from '../kube/errors.js';
import type { InformerFactory, InformerSpec } from '../kube/factory.js';
import type { ResilientInformer } from '../kube/informer.js';
import { resourcePath, type KubeClient } from '../kube/rest.js';
import { findCondition, setCondition } from '../resources/conditions.js';
import { OVIM_API_VERSION } from '../resources/types.js';
import { idempotencyKey, renderBody, type Delivery } from './format.js';
import { WebhookClient } from './http.js';
import { RouteIndex, compileRoute } from './match.js';
import { RouteQueue, DEFAULT_RETRY, type AttemptOutcome, type RetryPolicy } from './queue.js';
import { HEADERS, signature } from './sign.js';
import { AddressGuard, BlockedDestinationError, systemResolver, type Resolver } from './ssrf.js';
import { ThresholdWindow } from './threshold.js';
import { EVENTROUTE_KIND, EVENTROUTE_PLURAL, type EventRoute, type EventRouteStatus } from './types.js';
import { RouteReasons, validateRoute, type ValidRoute } from './validate.js';

/** The event stream: the EventStore's informer (add/update/delete and its cache). */
export interface EventStream {
  on(event: 'add' | 'update' | 'delete', handler: (obj: EventObject, old?: EventObject) => void): unknown;
  list(): EventObject[];
}

export interface RouteEngineOptions {
  client: KubeClient;
  recorder: EventRecording;
  events: EventStream;
  owners: NamespaceOwnership;
  /** Routes here see every event. */
  operatorNamespace: string;
  isLeader: () => boolean;
  allowHttp?: boolean;
  /** CIDRs a webhook may reach although the SSRF guard refuses them. */
  allowCidrs?: readonly string[];
  /** More CIDRs to refuse (the cluster's service and pod ranges). */
  denyCidrs?: readonly string[];
  resolve?: Resolver;
  /** Extra CA certificates for https sinks. */
  ca?: string | Buffer;
  /** The thresholds' clock (ms). */
  now?: () => number;
  retry?: RetryPolicy;
  maxBacklog?: number;
  statusIntervalMs?: number;
  secretRefreshMs?: number;
  leadershipPollMs?: number;
  logger?: Logger;
}

interface Counters {
  delivered: number;
  failed: number;
  dropped: number;
  lastDeliveryTime?: string;
  deliveredThrough?: number;
  lastError?: string;
}

interface RouteState {
  key: string;
  route: EventRoute;
  config?: ValidRoute;
  secret?: Buffer;
  secretCheckedAt: number;
  ready: { status: 'True' | 'False'; reason: string; message: string };
  window?: ThresholdWindow;
  windowSpec?: string;
  queue: RouteQueue;
  counters: Counters;
  overflowReported: boolean;
  dirty: boolean;
  /** Serializes configure() calls of one route. */
  pending: Promise<void>;
  /** Whether this leader has gone through the cached events for this route (once per route). */
  replayed: boolean;
}

const ms = (t: string | Date | undefined): number | undefined => {
  if (t === undefined) return undefined;
  const v = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(v) ? v : undefined;
};

function countersFrom(status: EventRouteStatus | undefined): Counters {
  return {
    delivered: status?.deliveredCount ?? 0,
    failed: status?.failedCount ?? 0,
    dropped: status?.droppedCount ?? 0,
    lastDeliveryTime: status?.lastDeliveryTime,
    deliveredThrough: ms(status?.deliveredThrough),
    lastError: status?.lastError,
  };
}

const routeKey = (r: EventRoute) => `${r.metadata.namespace ?? ''}/${r.metadata.name ?? ''}`;

/** The EventRoute informer the engine follows (ask the InformerFactory). */
export const ROUTES_INFORMER: InformerSpec<EventRoute> = { apiVersion: OVIM_API_VERSION, kind: EVENTROUTE_KIND, plural: EVENTROUTE_PLURAL };

export class RouteEngine {
  private readonly states = new Map<string, RouteState>();
  private readonly index: RouteIndex;
  /** The highest count seen per event uid: each occurrence is handled once. */
  private readonly seen = new Map<string, number>();
  private readonly webhook: WebhookClient;
  private readonly now: () => number;
  private readonly maxBacklog: number;
  private leading = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly informer: ResilientInformer<EventRoute>,
    private readonly options: RouteEngineOptions,
  ) {
    this.index = new RouteIndex(options.owners);
    this.now = options.now ?? Date.now;
    this.maxBacklog = options.maxBacklog ?? 1_000;
    this.webhook = new WebhookClient({
      guard: new AddressGuard({ allow: options.allowCidrs, deny: options.denyCidrs }),
      resolve: options.resolve ?? systemResolver,
      ca: options.ca,
    });
  }

  /** Starts following routes and events; resolves once the routes are listed. */
  async start(): Promise<void> {
    this.informer.on('add', (r) => this.upsert(r));
    this.informer.on('update', (r) => this.upsert(r));
    this.informer.on('delete', (r) => this.remove(r));
    this.informer.start();
    // A cluster without the EventRoute CRD (crds/ovim.io_eventroutes.yaml) lists nothing: say so.
    const waiting = setInterval(() => this.options.logger?.warn('still waiting for the first list of EventRoutes (is the CRD installed?)'), 30_000);
    waiting.unref();
    await this.informer.waitForSync().finally(() => clearInterval(waiting));
    await Promise.all([...this.states.values()].map((s) => s.pending));
    this.options.events.on('add', (e) => this.onEvent(e, false));
    this.options.events.on('update', (e) => this.onEvent(e, false));
    this.options.events.on('delete', (e) => {
      if (e.metadata?.uid) this.seen.delete(e.metadata.uid);
    });
    // Whatever the stream already held counts as seen until this replica leads.
    for (const e of this.options.events.list()) this.markSeen(e);
    this.timers.push(setInterval(() => this.pollLeadership(), this.options.leadershipPollMs ?? 250));
    this.timers.push(
      setInterval(() => {
        this.refreshSecrets();
        this.flushStatus().catch((err: unknown) => this.options.logger?.error(`route status: ${apiErrorMessage(err)}`));
      }, this.options.statusIntervalMs ?? 1_000),
    );
    for (const t of this.timers) t.unref();
    this.pollLeadership();
  }

  /** The routes as the informer holds them (for the API). */
  routes(): EventRoute[] {
    return this.informer.list();
  }

  isLeading(): boolean {
    return this.leading;
  }

  /** Resolves when every route's queue (or the one of `route`, namespace/name) is empty (true), or at the timeout (false). */
  async waitIdle(timeoutMs = 30_000, route?: string): Promise<boolean> {
    const states = [...this.states.values()].filter((s) => route === undefined || s.key === route);
    const results = await Promise.all(states.map((s) => s.queue.waitIdle(timeoutMs)));
    return results.every(Boolean);
  }

  /** Stops: lets the deliveries in flight finish (bounded), writes the status, stops following. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.leading) {
      await this.waitIdle(timeoutMs);
      for (const s of this.states.values()) s.queue.close();
      await this.flushStatus();
    }
    for (const s of this.states.values()) s.queue.close();
    this.leading = false;
    this.informer.stop();
    this.webhook.close();
  }

  // --- routes ---

  private newQueue(key: string): RouteQueue {
    return new RouteQueue(
      {
        attempt: (d) => this.attempt(key, d),
        delivered: (d) => this.delivered(key, d),
        failed: (d, error, attempts) => this.failed(key, d, error, attempts),
        dropped: () => this.dropped(key),
      },
      this.maxBacklog,
      this.options.retry ?? DEFAULT_RETRY,
    );
  }

  private upsert(route: EventRoute): void {
    const key = routeKey(route);
    let state = this.states.get(key);
    if (!state) {
      state = {
        key,
        route,
        secretCheckedAt: 0,
        ready: { status: 'False', reason: 'Pending', message: 'not checked yet' },
        queue: this.newQueue(key),
        counters: countersFrom(route.status),
        overflowReported: false,
        dirty: true,
        pending: Promise.resolve(),
        replayed: false,
      };
      this.states.set(key, state);
    } else {
      const sameGeneration = state.route.metadata.generation === route.metadata.generation;
      state.route = route;
      // Our own status writes come back as updates: nothing to reconfigure.
      if (sameGeneration) return;
    }
    const s = state;
    s.pending = s.pending.then(() => this.configure(s)).catch((err: unknown) => {
      this.options.logger?.error(`route ${key}: ${apiErrorMessage(err)}`);
    });
  }

  private remove(route: EventRoute): void {
    const key = routeKey(route);
    this.index.delete(key);
    this.states.get(key)?.queue.close();
    this.states.delete(key);
  }

  private async configure(s: RouteState): Promise<void> {
    try {
      await this.reconfigure(s);
    } finally {
      // After the await as well: a status flushed meanwhile must not hide the outcome.
      s.dirty = true;
    }
  }

  private async reconfigure(s: RouteState): Promise<void> {
    const route = s.route;
    const verdict = validateRoute(route, { operatorNamespace: this.options.operatorNamespace, allowHttp: this.options.allowHttp ?? false });
    s.dirty = true;
    if (!verdict.ok) {
      this.index.delete(s.key);
      s.config = undefined;
      s.ready = { status: 'False', reason: verdict.reason, message: verdict.message };
      return;
    }
    const ref = route.spec?.sink.webhook.secretRef;
    s.secretCheckedAt = Date.now();
    if (!ref) s.secret = undefined;
    else {
      // Loaded aside and swapped in whole: a delivery in flight never goes out unsigned.
      const loaded = await this.loadSecret(route.metadata.namespace ?? '', ref);
      if (this.states.get(s.key) !== s) return; // deleted meanwhile
      if ('secret' in loaded) s.secret = loaded.secret;
      else if (!(loaded.transient && s.secret && s.config)) {
        this.index.delete(s.key);
        s.config = undefined;
        s.secret = undefined;
        s.ready = { status: 'False', reason: loaded.reason, message: loaded.message };
        return;
      }
      // A transient failure keeps the key this route already had.
    }
    s.config = verdict;
    const spec = verdict.threshold ? `${verdict.threshold.count}/${verdict.threshold.windowMs}` : undefined;
    if (spec !== s.windowSpec) {
      s.windowSpec = spec;
      s.window = verdict.threshold ? new ThresholdWindow(verdict.threshold.count, verdict.threshold.windowMs) : undefined;
    }
    const compiled = compileRoute(route, verdict.scope, this.options.owners);
    this.index.set(compiled);
    // A route the leader gets after the events that followed its creation (the two watches are
    // not ordered): those events are in the cache. Same tick as index.set, so no live event
    // can be handled twice.
    if (this.leading && !s.replayed) {
      s.replayed = true;
      for (const r of this.cachedRecords()) {
        if (compiled.matches(r) && this.newerThanMark(s, r)) this.handle(s, verdict, r, r.count, Math.min(r.lastTimestamp, this.now()));
      }
    }
    const host = verdict.url.host;
    s.ready = {
      status: 'True',
      reason: RouteReasons.Ready,
      message: `delivering ${verdict.format} to ${host}${s.secret ? ' (signed)' : ''}${verdict.threshold ? ` when ${verdict.threshold.count} occur within ${verdict.threshold.window}` : ''}`,
    };
  }

  private async loadSecret(
    namespace: string,
    ref: { name: string; key: string },
  ): Promise<{ secret: Buffer } | { reason: string; message: string; transient: boolean }> {
    try {
      const secret = await this.options.client.get<{ data?: Record<string, string> }>(
        resourcePath({ apiVersion: 'v1', plural: 'secrets', namespace, name: ref.name }),
      );
      const value = secret.data?.[ref.key];
      if (!value) return { reason: RouteReasons.SecretKeyMissing, message: `Secret ${ref.name} has no key ${ref.key}`, transient: false };
      return { secret: Buffer.from(value, 'base64') };
    } catch (err) {
      const code = apiStatusCode(err);
      if (code === 404) return { reason: RouteReasons.SecretNotFound, message: `Secret ${ref.name} not found in ${namespace}`, transient: false };
      return {
        reason: RouteReasons.SecretUnreadable,
        message: `cannot read Secret ${ref.name} in ${namespace}${code ? ` (HTTP ${code})` : ''}: the operator reads route Secrets only in organization namespaces and its own`,
        transient: code !== 403 && code !== 401,
      };
    }
  }

  // --- events ---

  private markSeen(e: EventObject): void {
    const uid = e.metadata?.uid;
    if (!uid) return;
    const count = Math.max(e.count ?? 0, e.series?.count ?? 0) || 1;
    if ((this.seen.get(uid) ?? 0) < count) this.seen.set(uid, count);
  }

  private onEvent(e: EventObject, replay: boolean): void {
    const record = compactEvent(e);
    if (record) this.onRecord(record, replay);
  }

  private onRecord(record: EventRecord, replay: boolean): void {
    const before = this.seen.get(record.uid) ?? 0;
    if (!replay && record.count <= before) return;
    if (record.count > before) this.seen.set(record.uid, record.count);
    if (!this.leading) return;
    const occurrences = replay ? record.count : record.count - before;
    for (const compiled of this.index.match(record)) {
      const s = this.states.get(compiled.key);
      if (!s?.config) continue;
      if (replay && !this.newerThanMark(s, record)) continue;
      this.handle(s, s.config, record, occurrences, replay ? Math.min(record.lastTimestamp, this.now()) : this.now());
    }
  }

  /** Replays only what this route has not delivered (see the header comment). */
  private newerThanMark(s: RouteState, record: EventRecord): boolean {
    const through = s.counters.deliveredThrough;
    if (through !== undefined) return record.lastTimestamp > through;
    const created = ms(s.route.metadata.creationTimestamp) ?? 0;
    return record.lastTimestamp >= created;
  }

  private handle(s: RouteState, config: ValidRoute, record: EventRecord, occurrences: number, at: number): void {
    const [namespace = '', name = ''] = s.key.split('/');
    const delivery: Delivery = { route: { namespace, name }, record, idempotencyKey: idempotencyKey(record) };
    if (s.window && config.threshold) {
      if (!s.window.add(occurrences, at)) return;
      delivery.threshold = { count: config.threshold.count, window: config.threshold.window };
      this.record(s, 'Normal', 'RouteTriggered', `Threshold reached: ${config.threshold.count} matching occurrences within ${config.threshold.window} (last: ${record.reason} on ${record.kind} ${record.namespace}/${record.objectName})`);
    }
    s.queue.push(delivery);
  }

  // --- delivery ---

  private async attempt(key: string, d: Delivery): Promise<AttemptOutcome> {
    const s = this.states.get(key);
    const config = s?.config;
    if (!s || !config) return { ok: false, error: 'the route was deleted or is not ready', retry: false };
    const body = renderBody(config.format, d);
    const headers: Record<string, string> = { [HEADERS.idempotencyKey]: d.idempotencyKey, 'user-agent': 'ovim-operator/routes' };
    if (s.secret) {
      const ts = Math.floor(Date.now() / 1000);
      headers[HEADERS.timestamp] = String(ts);
      headers[HEADERS.signature] = signature(s.secret, ts, body);
    }
    try {
      const res = await this.webhook.post(config.url, body, headers, config.timeoutMs);
      if (res.status >= 200 && res.status < 300) return { ok: true };
      const retry = res.status === 408 || res.status === 429 || res.status >= 500;
      return { ok: false, error: `${config.url.host} answered HTTP ${res.status}`, retry, retryAfterMs: res.retryAfterMs };
    } catch (err) {
      if (err instanceof BlockedDestinationError) return { ok: false, error: err.message, retry: false };
      return { ok: false, error: `${config.url.host}: ${err instanceof Error ? err.message : String(err)}`, retry: true };
    }
  }

  private delivered(key: string, d: Delivery): void {
    const s = this.states.get(key);
    if (!s) return;
    const c = s.counters;
    c.delivered++;
    c.lastDeliveryTime = new Date().toISOString();
    c.deliveredThrough = Math.max(c.deliveredThrough ?? 0, d.record.lastTimestamp);
    if (s.queue.length <= 1) s.overflowReported = false;
    s.dirty = true;
  }

  private failed(key: string, d: Delivery, error: string, attempts: number): void {
    const s = this.states.get(key);
    if (!s) return;
    s.counters.failed++;
    s.counters.lastError = error.slice(0, 1024);
    if (s.queue.length <= 1) s.overflowReported = false;
    s.dirty = true;
    const r = d.record;
    this.record(s, 'Warning', 'DeliveryFailed', `Delivery of ${r.type} ${r.reason} on ${r.kind} ${r.namespace}/${r.objectName} (${d.idempotencyKey}) failed after ${attempts} attempt(s): ${error}`);
  }

  private dropped(key: string): void {
    const s = this.states.get(key);
    if (!s) return;
    s.counters.dropped++;
    s.dirty = true;
    if (s.overflowReported) return;
    s.overflowReported = true;
    this.record(s, 'Warning', 'DeliveryFailed', `The route's backlog of ${this.maxBacklog} deliveries is full: further occurrences are dropped and counted in status.droppedCount`);
  }

  private record(s: RouteState, type: 'Normal' | 'Warning', reason: 'RouteTriggered' | 'DeliveryFailed', message: string): void {
    try {
      const ns = s.route.metadata.namespace ?? '';
      const organization = ns.startsWith('org-') ? ns.slice(4) : undefined;
      if (type === 'Normal' && reason === 'RouteTriggered') this.options.recorder.record(s.route, 'Normal', 'RouteTriggered', message.slice(0, 1024), { organization });
      else if (type === 'Warning' && reason === 'DeliveryFailed') this.options.recorder.record(s.route, 'Warning', 'DeliveryFailed', message.slice(0, 1024), { organization });
    } catch (err) {
      this.options.logger?.warn(`recording ${reason} failed: ${apiErrorMessage(err)}`);
    }
  }

  // --- leadership and status ---

  private pollLeadership(): void {
    if (this.stopped) return;
    const leader = this.options.isLeader();
    if (leader === this.leading) return;
    if (leader) {
      // The previous leader's counters and mark are in the routes' status.
      for (const s of this.states.values()) {
        const current = this.informer.get(s.route.metadata.name ?? '', s.route.metadata.namespace);
        if (current) s.route = current;
        s.counters = countersFrom(s.route.status);
        s.dirty = true;
      }
      this.leading = true;
      // Routes not ready yet replay theirs when they become ready (reconfigure).
      for (const s of this.states.values()) if (s.config) s.replayed = true;
      for (const r of this.cachedRecords()) this.onRecord(r, true);
    } else {
      this.leading = false;
      for (const s of this.states.values()) {
        s.queue.close();
        s.queue = this.newQueue(s.key);
      }
    }
  }

  /** The events in the stream's cache, oldest first (thresholds count them at their own time). */
  private cachedRecords(): EventRecord[] {
    return this.options.events
      .list()
      .map((e) => compactEvent(e))
      .filter((r): r is EventRecord => r !== undefined)
      .sort((a, b) => a.lastTimestamp - b.lastTimestamp);
  }

  private nextStatus(s: RouteState): EventRouteStatus {
    const prev = s.route.status;
    const c = s.counters;
    const status: EventRouteStatus = {
      observedGeneration: s.route.metadata.generation,
      deliveredCount: c.delivered,
      failedCount: c.failed,
      droppedCount: c.dropped,
      conditions: setCondition(prev?.conditions, { type: 'Ready', ...s.ready, observedGeneration: s.route.metadata.generation }, new Date()),
    };
    if (c.lastDeliveryTime) status.lastDeliveryTime = c.lastDeliveryTime;
    if (c.deliveredThrough !== undefined) status.deliveredThrough = new Date(c.deliveredThrough).toISOString();
    if (c.lastError) status.lastError = c.lastError;
    return status;
  }

  /** Writes each changed route's status (leader only); an unchanged status is not written. */
  private async flushStatus(): Promise<void> {
    if (!this.leading) return;
    const writes: Promise<void>[] = [];
    for (const s of this.states.values()) {
      if (!s.dirty) continue;
      s.dirty = false;
      const next = this.nextStatus(s);
      const prev = s.route.status ?? {};
      const ready = findCondition(prev.conditions, 'Ready');
      const want = findCondition(next.conditions, 'Ready');
      const same =
        semanticEqual({ ...prev, conditions: undefined }, { ...next, conditions: undefined }) &&
        ready?.status === want?.status &&
        ready?.reason === want?.reason &&
        ready?.message === want?.message &&
        ready?.observedGeneration === want?.observedGeneration;
      if (same) continue;
      writes.push(
        this.options.client
          .patch<EventRoute>(
            resourcePath({ apiVersion: OVIM_API_VERSION, plural: EVENTROUTE_PLURAL, namespace: s.route.metadata.namespace, name: s.route.metadata.name, subresource: 'status' }),
            { status: next },
            'merge',
            { fieldManager: FIELD_MANAGER },
          )
          .then((written) => {
            if (this.states.get(s.key) === s && written?.metadata) s.route = { ...s.route, status: written.status };
          })
          .catch((err: unknown) => {
            if (apiStatusCode(err) !== 404) {
              s.dirty = true;
              this.options.logger?.warn(`status of route ${s.key}: ${apiErrorMessage(err)}`);
            }
          }),
      );
    }
    await Promise.all(writes);
  }

  /**
   * Secrets rotate or appear after their route: look again now and then (a get; no watch, no
   * cluster-wide access), on every replica so that a new leader holds current keys. A route
   * waiting for its Secret looks every 5 s.
   */
  private refreshSecrets(): void {
    const refresh = this.options.secretRefreshMs ?? 60_000;
    const now = Date.now();
    for (const s of this.states.values()) {
      if (!s.route.spec?.sink?.webhook?.secretRef) continue;
      const every = s.config ? refresh : Math.min(refresh, 5_000);
      if (now - s.secretCheckedAt <= every) continue;
      s.secretCheckedAt = now;
      s.pending = s.pending.then(() => this.configure(s)).catch(() => undefined);
    }
  }
}

/** Builds and starts the engine on the process's EventRoute informer (the wiring of main.ts). */
export async function startRouteEngine(informers: InformerFactory, options: RouteEngineOptions): Promise<RouteEngine> {
  const informer = informers.informer(ROUTES_INFORMER);
  const engine = new RouteEngine(informer, options);
  await engine.start();
  return engine;
}
