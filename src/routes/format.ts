// The request bodies of the three sink formats (pure). Event text comes from tenants: it is
// escaped where the receiver renders markup (Slack) and cut to the receiver's limits.
import { toApiEvent, type EventRecord } from '../events/query.js';
import type { RouteFormat } from './types.js';

export interface Delivery {
  route: { namespace: string; name: string };
  record: EventRecord;
  /** Event uid + count: the same occurrence always carries the same key. */
  idempotencyKey: string;
  /** Set when a threshold fired: how many occurrences within which window. */
  threshold?: { count: number; window: string };
}

export function idempotencyKey(record: EventRecord): string {
  return `${record.uid}:${record.count}`;
}

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** Slack's mrkdwn control characters (its documented escaping: &, <, >). */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function headline(d: Delivery): string {
  const r = d.record;
  const what = d.threshold ? `threshold reached (${d.threshold.count} within ${d.threshold.window}): ` : '';
  return `${what}${r.type} ${r.reason} on ${r.kind} ${r.namespace}/${r.objectName}`;
}

export function jsonBody(d: Delivery): unknown {
  return {
    route: d.route,
    idempotencyKey: d.idempotencyKey,
    event: toApiEvent(d.record),
    ...(d.threshold ? { threshold: d.threshold } : {}),
  };
}

/** Slack incoming webhook: `text` (fallback) and `blocks` (a section of mrkdwn, a context line). */
export function slackBody(d: Delivery): unknown {
  const r = d.record;
  const title = slackEscape(cut(headline(d), 300));
  const message = slackEscape(cut(r.message, 2_500));
  return {
    text: cut(`${title}: ${message}`, 3_000),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: cut(`*${title}*\n${message}`, 3_000) } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: cut(slackEscape(`count ${r.count} · last ${new Date(r.lastTimestamp).toISOString()} · route ${d.route.namespace}/${d.route.name}`), 3_000),
          },
        ],
      },
    ],
  };
}

/** Alertmanager API v2 `POST /api/v2/alerts`: an array of postable alerts. */
export function alertmanagerBody(d: Delivery): unknown {
  const r = d.record;
  const labels: Record<string, string> = {
    alertname: r.reason || 'Event',
    severity: r.type === 'Warning' ? 'warning' : 'info',
    namespace: r.namespace,
    kind: r.kind,
    name: r.objectName,
    route: `${d.route.namespace}/${d.route.name}`,
  };
  if (r.organization !== undefined) labels.organization = r.organization;
  if (r.vdc !== undefined) labels.vdc = r.vdc;
  if (d.threshold) labels.threshold = `${d.threshold.count}/${d.threshold.window}`;
  return [
    {
      labels,
      annotations: { summary: cut(headline(d), 500), description: cut(r.message, 4_000), idempotency_key: d.idempotencyKey },
      startsAt: new Date(r.firstTimestamp).toISOString(),
    },
  ];
}

export function renderBody(format: RouteFormat, d: Delivery): string {
  const body = format === 'slack' ? slackBody(d) : format === 'alertmanager' ? alertmanagerBody(d) : jsonBody(d);
  return JSON.stringify(body);
}
