// The one way the operator records events: record() turns a call into a core/v1 Event
// description, correlates it (EventCorrelator) and hands it to the EventSink, which writes in
// the background. record() never throws and never waits: it does no I/O, and when the bounded
// queue is full the record is dropped and counted.
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import winston from 'winston';
import {
  EVENT_CATALOG,
  KIND_API_VERSIONS,
  ORGANIZATION_KIND,
  Reasons,
  VDC_KIND,
  isEventReason,
  reasonAllowsKind,
  soleKind,
  type CatalogKind,
  type EventReason,
  type ReasonType,
} from './catalog.js';
import { EventCorrelator, type CorrelatorOptions, type EventInput, type InvolvedObject } from './correlator.js';
import { sanitizeAnnotation, sanitizeMessage } from './redact.js';
import {
  EventSink,
  ClientEventApi,
  emptyDeliveryCounters,
  type DeliveryCounters,
  type EventApi,
  type EventSinkOptions,
} from './sink.js';
import { EVENT_ANNOTATIONS, type ActorVerification, type DeliveryCallback, type DropCause, type EventRecording, type EventType, type RecordOptions, type RecorderStats } from './types.js';
import { ANNOTATIONS, LABELS, type Organization, type VirtualDataCenter } from '../resources/types.js';
import type { AnyKubeObject, KubeObject } from '../kube/meta.js';

export type RecorderComponent = 'ovim-controller' | 'ovim-api';

export interface EventRecorderOptions {
  /** source.component and reportingComponent of every Event. */
  component: RecorderComponent;
  /** reportingInstance: default the pod name (POD_NAME) or the host name. */
  reportingInstance?: string;
  /** Distinct Events waiting to be written before new ones are dropped (default 1000). */
  queueSize?: number;
  logger?: winston.Logger;
  /** Correlation tuning; client-go's defaults otherwise. */
  correlator?: CorrelatorOptions;
  /** Delivery tuning (concurrency, tries, backoff, request timeout). */
  sink?: Pick<EventSinkOptions, 'concurrency' | 'maxTries' | 'backoff' | 'requestTimeoutMs'>;
  /** Checks the webhook's actor stamps; without it every actor is recorded as unverified. */
  actorVerifier?: ActorVerification;
}

export const DEFAULT_QUEUE_SIZE = 1000;
const MAX_ANNOTATION_VALUE = 253;
const MAX_REPORTING_INSTANCE = 128;

export const DROP_CAUSES: readonly DropCause[] = [
  'queue_full',
  'no_object',
  'rejected',
  'namespace_terminating',
  'retries_exhausted',
  'shutdown',
];

function silentLogger(): winston.Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

function cut(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value;
}

interface ObjectLike extends KubeObject {
  spec?: { organizationRef?: unknown };
}

/** Who is behind a change of this object, per the contract's annotations; undefined if unknown. */
function requestedBy(object: AnyKubeObject | null | undefined): string | undefined {
  return object?.metadata?.annotations?.[ANNOTATIONS.requestedBy] || undefined;
}

function forcedBy(object: AnyKubeObject | null | undefined): string | undefined {
  return object?.metadata?.annotations?.[ANNOTATIONS.forceReconcileBy] || undefined;
}

function generationNote(object: AnyKubeObject): string {
  const generation = object.metadata?.generation;
  return generation !== undefined ? ` (generation ${generation})` : '';
}

function orgName(org: Organization | string | undefined, vdc: VirtualDataCenter): string | undefined {
  if (typeof org === 'string') return org || undefined;
  return org?.metadata?.name ?? vdc.spec?.organizationRef ?? undefined;
}

/** A problem with a record() call worth a (one-time) warning; the event is still recorded. */
export interface RecordIssue {
  key: string;
  message: string;
  meta: Record<string, unknown>;
}

// Shared empty list: most calls have no issue, and record() should not allocate for nothing.
const NO_ISSUES: readonly RecordIssue[] = Object.freeze([]);

/** Objects from typed list calls come without kind: the catalog usually knows it. */
function inferKind(object: ObjectLike, reason: string): string | undefined {
  if (!isEventReason(reason)) return undefined;
  const sole = soleKind(reason);
  if (sole) return sole;
  if (reasonAllowsKind(reason, VDC_KIND) && (object.metadata?.namespace || object.spec?.organizationRef)) return VDC_KIND;
  if (reasonAllowsKind(reason, ORGANIZATION_KIND) && !object.metadata?.namespace) return ORGANIZATION_KIND;
  return undefined;
}

function organizationOf(object: ObjectLike, kind: string | undefined): string | undefined {
  if (kind === ORGANIZATION_KIND) return object.metadata?.name;
  if (kind === VDC_KIND && typeof object.spec?.organizationRef === 'string') return object.spec.organizationRef;
  const label = object.metadata?.labels?.[LABELS.organization];
  if (label) return label;
  const ns = object.metadata?.namespace;
  return ns?.startsWith('org-') ? ns.slice(4) : undefined;
}

function vdcOf(object: ObjectLike, kind: string | undefined): string | undefined {
  if (kind === VDC_KIND) return object.metadata?.name;
  return object.metadata?.labels?.[LABELS.vdc] || undefined;
}

/**
 * What an Event says for one record() call, as plain data: the involved object's reference,
 * the Event's namespace (`default` for cluster-scoped objects), the catalog's type for the
 * reason, the context annotations and the redacted, cut message. Pure; `issues` lists what
 * the recorder warns about.
 */
export function describeEvent(
  object: AnyKubeObject,
  type: EventType,
  reason: string,
  message: string,
  options: RecordOptions | undefined,
  source: { component: string; reportingInstance: string },
  verifier?: ActorVerification,
): { input: EventInput; issues: readonly RecordIssue[] } {
  let issues: RecordIssue[] | undefined;
  let eventType: EventType = type;
  if (isEventReason(reason)) {
    const expected = EVENT_CATALOG[reason].type;
    if (expected !== type) {
      (issues ??= []).push({
        key: `type:${reason}:${String(type)}`,
        message: 'reason recorded with the wrong type; using the catalog type',
        meta: { reason, type, expected },
      });
      eventType = expected;
    }
  } else {
    (issues ??= []).push({ key: `reason:${reason}`, message: 'reason not in the event catalog', meta: { reason } });
    if (type !== 'Normal' && type !== 'Warning') eventType = 'Warning';
  }

  const obj = object as ObjectLike;
  const meta = obj.metadata ?? {};
  const kind = obj.kind || inferKind(obj, reason);
  const involvedObject: InvolvedObject = { name: meta.name ?? '' };
  const apiVersion = obj.apiVersion || (kind && kind in KIND_API_VERSIONS ? KIND_API_VERSIONS[kind as CatalogKind] : undefined);
  if (apiVersion) involvedObject.apiVersion = apiVersion;
  if (kind) involvedObject.kind = kind;
  if (meta.namespace) involvedObject.namespace = meta.namespace;
  if (meta.uid) involvedObject.uid = meta.uid;
  if (meta.resourceVersion) involvedObject.resourceVersion = meta.resourceVersion;
  if (kind && isEventReason(reason) && !reasonAllowsKind(reason, kind)) {
    (issues ??= []).push({
      key: `kind:${reason}:${kind}`,
      message: 'reason recorded on a kind the catalog does not list',
      meta: { reason, kind },
    });
  }

  // Fixed key order: the annotations are part of the correlation key.
  const annotations: Record<string, string> = {};
  const organization = options?.organization || organizationOf(obj, kind);
  const vdc = options?.vdc || vdcOf(obj, kind);
  // An explicit `actor` key (even undefined) means the caller decided; otherwise the object says.
  const actor = options && 'actor' in options ? options.actor : requestedBy(obj);
  const owner = options?.owner || meta.annotations?.[ANNOTATIONS.owner] || undefined;
  if (organization) annotations[EVENT_ANNOTATIONS.organization] = cut(organization, MAX_ANNOTATION_VALUE);
  if (vdc) annotations[EVENT_ANNOTATIONS.vdc] = cut(vdc, MAX_ANNOTATION_VALUE);
  // Tenant-written annotations: redacted like messages (a token there must not be copied).
  if (actor) annotations[EVENT_ANNOTATIONS.actor] = sanitizeAnnotation(actor);
  if (owner) annotations[EVENT_ANNOTATIONS.owner] = sanitizeAnnotation(owner);
  if (actor) {
    const verified = options?.actorVerified ?? verifier?.actorVerified(obj, actor) ?? false;
    annotations[EVENT_ANNOTATIONS.actorVerified] = String(verified);
  }
  if (owner) annotations[EVENT_ANNOTATIONS.ownerVerified] = String(verifier?.ownerVerified(obj, owner) ?? false);
  if (options?.sourceEventId) annotations[EVENT_ANNOTATIONS.sourceEventId] = cut(options.sourceEventId, MAX_ANNOTATION_VALUE);

  return {
    input: {
      // Cluster-scoped objects' Events live in `default`: the API server accepts no other.
      namespace: meta.namespace || 'default',
      involvedObject,
      type: eventType,
      reason,
      message: sanitizeMessage(typeof message === 'string' ? message : String(message)),
      component: source.component,
      reportingInstance: source.reportingInstance,
      annotations,
    },
    issues: issues ?? NO_ISSUES,
  };
}

export class EventRecorder implements EventRecording {
  readonly component: RecorderComponent;
  readonly reportingInstance: string;
  readonly queueSize: number;
  readonly correlator: EventCorrelator;
  private readonly source: { component: string; reportingInstance: string };
  private readonly sink: EventSink;
  private readonly logger: winston.Logger;
  private readonly verifier: ActorVerification | undefined;
  private readonly counters: DeliveryCounters = emptyDeliveryCounters();
  /** record() calls accepted, by reason then type (no key string built per call). */
  private readonly recorded = new Map<string, Partial<Record<EventType, { type: EventType; reason: string; count: number }>>>();
  private readonly warned = new Set<string>();
  private aggregatedCount = 0;
  private stopped = false;

  /** A recorder writing through the cluster of `kc`. */
  static create(
    kc: KubeConfig,
    options: { component: RecorderComponent; reportingInstance?: string; queueSize?: number; logger?: winston.Logger } &
      Omit<EventRecorderOptions, 'component' | 'reportingInstance' | 'queueSize' | 'logger'>,
  ): EventRecorder {
    return new EventRecorder(ClientEventApi.forCluster(kc), options);
  }

  /** A recorder over any EventApi (the benchmark counts requests with an in-memory one). */
  constructor(
    private readonly api: EventApi,
    options: EventRecorderOptions,
  ) {
    this.component = options.component;
    this.reportingInstance = cut(
      options.reportingInstance || process.env.POD_NAME || hostname() || 'unknown',
      MAX_REPORTING_INSTANCE,
    );
    this.queueSize = Math.max(1, options.queueSize ?? DEFAULT_QUEUE_SIZE);
    this.source = { component: this.component, reportingInstance: this.reportingInstance };
    this.logger = (options.logger ?? silentLogger()).child({ component: 'event-recorder' });
    this.correlator = new EventCorrelator(options.correlator);
    this.verifier = options.actorVerifier;
    this.sink = new EventSink(api, {
      ...options.sink,
      logger: this.logger,
      counters: this.counters,
      // The spam filter's clock is the correlator's (tests inject one).
      spam: { cacheSize: options.correlator?.cacheSize, clock: options.correlator?.clock },
      onDropped: (series, cause) => {
        // A rejected Event is not patched later: the next record starts afresh. So does one never
        // created (out of tries): a record made again later must not carry the lost count.
        if (cause === 'rejected' || cause === 'namespace_terminating' || this.sink.deliveredCount(series) === 0) this.correlator.forget(series);
      },
    });
  }

  /**
   * Records an event about `object`. Never throws, never waits. `type` must be the catalog's
   * type for `reason` (enforced by the compiler; corrected, with a warning, at run time).
   */
  record<R extends EventReason>(
    object: AnyKubeObject | null | undefined,
    type: ReasonType<R>,
    reason: R,
    message: string,
    options?: RecordOptions,
  ): void {
    try {
      this.recordUnchecked(object, type, reason, message, options);
    } catch (err) {
      // A bug here must never reach the reconciler that called record().
      this.logger.error('record() failed', { reason, error: err instanceof Error ? err.message : String(err) });
    }
  }

  // --- domain helpers (DESIGN.md section 4) ---

  recordOrganizationCreated(org: Organization | null | undefined, actor?: string, onDelivered?: DeliveryCallback): void {
    this.recordOrganization(org, Reasons.OrganizationCreated, (name, who) => `Organization '${name}' created by ${who}`, actor, true, onDelivered);
  }

  recordOrganizationUpdated(org: Organization | null | undefined, actor?: string, onDelivered?: DeliveryCallback): void {
    this.recordOrganization(
      org,
      Reasons.OrganizationUpdated,
      (name, who, o) => `Organization '${name}' updated by ${who}${generationNote(o)}`,
      actor,
      true,
      onDelivered,
    );
  }

  recordOrganizationDeleted(org: Organization | null | undefined, actor?: string): void {
    // The deleter, never the requester: an unknown deleter is said to be unknown.
    this.recordOrganization(org, Reasons.OrganizationDeleted, (name, who) => `Organization '${name}' deleted by ${who}`, actor, false);
  }

  /** "Manual reconciliation triggered for organization '<name>' by <actor>" (DESIGN.md section 3). */
  recordOrganizationReconcileForced(org: Organization | null | undefined, actor?: string): void {
    const who = actor || forcedBy(org);
    this.recordOrganization(
      org,
      Reasons.ReconcileForced,
      (name, w) => `Manual reconciliation triggered for organization '${name}' by ${w}`,
      who,
      false,
    );
  }

  recordVdcCreated(vdc: VirtualDataCenter | null | undefined, org: Organization | string | undefined, actor?: string, onDelivered?: DeliveryCallback): void {
    this.recordVdc(vdc, org, Reasons.VDCCreated, (name, o, who) => `VDC '${name}' created in organization '${o}' by ${who}`, actor, true, onDelivered);
  }

  recordVdcUpdated(vdc: VirtualDataCenter | null | undefined, org: Organization | string | undefined, actor?: string, onDelivered?: DeliveryCallback): void {
    this.recordVdc(
      vdc,
      org,
      Reasons.VDCUpdated,
      (name, o, who, v) => `VDC '${name}' in organization '${o}' updated by ${who}${generationNote(v)}`,
      actor,
      true,
      onDelivered,
    );
  }

  recordVdcDeleted(vdc: VirtualDataCenter | null | undefined, org: Organization | string | undefined, actor?: string): void {
    this.recordVdc(vdc, org, Reasons.VDCDeleted, (name, o, who) => `VDC '${name}' deleted from organization '${o}' by ${who}`, actor, false);
  }

  /** "Manual reconciliation triggered for VDC '<name>' by <actor>". */
  recordVdcReconcileForced(vdc: VirtualDataCenter | null | undefined, actor?: string): void {
    const who = actor || forcedBy(vdc);
    this.recordVdc(
      vdc,
      undefined,
      Reasons.ReconcileForced,
      (name, _o, w) => `Manual reconciliation triggered for VDC '${name}' by ${w}`,
      who,
      false,
    );
  }

  // --- lifecycle and counters ---

  /**
   * Waits until everything queued is written: true when it was, false when `timeoutMs` passed
   * first or an event was given up meanwhile (rejected, namespace gone, out of tries).
   */
  flush(timeoutMs: number): Promise<boolean> {
    return this.sink.flush(timeoutMs);
  }

  /**
   * Stops accepting records, delivers what is queued within `timeoutMs` (default 10 s), then
   * drops what is left (counted as `shutdown`). Safe to call twice.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    const delivered = await this.sink.stop(timeoutMs);
    this.api.close?.();
    if (!delivered) this.logger.warn('event recorder stopped before every event was written', { dropped: this.counters.dropped.shutdown });
  }

  stats(): RecorderStats & { delivered: number } {
    const c = this.counters;
    return {
      recorded: [...this.recorded.values()].flatMap((byType) => Object.values(byType).map((r) => ({ ...r }))),
      dropped: DROP_CAUSES.map((cause) => ({ cause, count: c.dropped[cause] })),
      written: c.written,
      patched: c.patched,
      aggregated: this.aggregatedCount,
      spamFiltered: c.spamFiltered,
      writeFailures: c.writeFailures,
      queueDepth: this.sink.pendingCount,
      delivered: c.delivered,
    };
  }

  // --- internals ---

  private recordOrganization(
    org: Organization | null | undefined,
    reason: 'OrganizationCreated' | 'OrganizationUpdated' | 'OrganizationDeleted' | 'ReconcileForced',
    message: (name: string, actor: string, org: Organization) => string,
    actor: string | undefined,
    useRequestedBy = true,
    onDelivered?: DeliveryCallback,
  ): void {
    if (!org) {
      if (onDelivered) queueMicrotask(() => onDelivered(false));
      return this.noObject(reason);
    }
    const who = actor || (useRequestedBy ? requestedBy(org) : undefined);
    const name = org.metadata?.name ?? '';
    this.record(org, 'Normal', reason, message(name, who ?? 'unknown', org), { actor: who, organization: name || undefined, onDelivered });
  }

  private recordVdc(
    vdc: VirtualDataCenter | null | undefined,
    org: Organization | string | undefined,
    reason: 'VDCCreated' | 'VDCUpdated' | 'VDCDeleted' | 'ReconcileForced',
    message: (name: string, org: string, actor: string, vdc: VirtualDataCenter) => string,
    actor: string | undefined,
    useRequestedBy = true,
    onDelivered?: DeliveryCallback,
  ): void {
    if (!vdc) {
      if (onDelivered) queueMicrotask(() => onDelivered(false));
      return this.noObject(reason);
    }
    const who = actor || (useRequestedBy ? requestedBy(vdc) : undefined);
    const organization = orgName(org, vdc);
    const name = vdc.metadata?.name ?? '';
    this.record(vdc, 'Normal', reason, message(name, organization ?? 'unknown', who ?? 'unknown', vdc), {
      actor: who,
      organization,
      vdc: name || undefined,
      onDelivered,
    });
  }

  private noObject(reason: string): void {
    this.counters.dropped.no_object += 1;
    this.logger.debug('nothing recorded: no object', { reason });
  }

  private recordUnchecked(
    object: AnyKubeObject | null | undefined,
    type: EventType,
    reason: string,
    message: string,
    options: RecordOptions | undefined,
  ): void {
    const onDelivered = options?.onDelivered;
    const givenUp = () => {
      if (onDelivered) queueMicrotask(() => onDelivered(false));
    };
    if (this.stopped) {
      this.counters.dropped.shutdown += 1;
      return givenUp();
    }
    if (!object || !object.metadata?.name) {
      givenUp();
      return this.noObject(reason);
    }

    const { input, issues } = describeEvent(object, type, reason, message, options, this.source, this.verifier);
    for (const issue of issues) this.warnOnce(issue.key, issue.message, issue.meta);
    const eventType = input.type;
    // Full: only records that fold into an Event already queued get in.
    const observation = this.correlator.correlate(input, { full: this.sink.pendingCount >= this.queueSize, isPending: (series) => this.sink.isPending(series) });
    if (observation.action === 'skip') {
      this.counters.dropped.queue_full += 1;
      return givenUp();
    }
    let byType = this.recorded.get(reason);
    if (!byType) this.recorded.set(reason, (byType = {}));
    const entry = byType[eventType];
    if (entry) entry.count += 1;
    else byType[eventType] = { type: eventType, reason, count: 1 };
    if (observation.aggregated) this.aggregatedCount += 1;
    if (onDelivered) this.sink.whenDelivered(observation.series, observation.series.count, onDelivered);
    this.sink.submit(observation.series);
  }

  private warnOnce(key: string, message: string, meta: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    if (this.warned.size < 1000) this.warned.add(key);
    this.logger.warn(message, meta);
  }
}

export { EVENT_CATALOG, Reasons } from './catalog.js';
export type { EventReason, ReasonType } from './catalog.js';
