// Random archived events for the history suite: a few organizations (one name a prefix of
// another), their namespaces, foreign namespaces, actors and owners, spread over 30 days.
import { NamespaceOwners } from '../../../src/events/owners.js';
import {
  compareEvents,
  filterPredicate,
  scopeMatcher,
  type EventRecord,
  type NamespaceOwnership,
  type Scope,
} from '../../../src/events/query.js';
import type { HistoryArchive } from '../../../src/history/archive.js';
import type { HistorySelection, ItemRow } from '../../../src/history/sql.js';
import { seededRandom } from '../../support/random.js';
import type { EventObject } from '../../../src/events/store.js';

export const NOW = Date.parse('2026-03-01T00:00:00Z');
export const DAY = 86_400_000;

export const NAMESPACES = ['org-a', 'org-a-b', 'vdc-a-x', 'vdc-a-b-y', 'vdc-a-gone', 'vdc-a-unowned', 'default', 'kube-system', 'apps'];
/** The owner labels of the managed namespaces (vdc-a-unowned has none). */
export const OWNERS: [string, string][] = [
  ['org-a', 'a'],
  ['org-a-b', 'a-b'],
  ['vdc-a-x', 'a'],
  ['vdc-a-b-y', 'a-b'],
  ['vdc-a-gone', 'a'],
];
const USERS = ['alice', 'bob', 'carol', undefined];
const REASONS: [string, string, string][] = [
  ['VDCCreated', 'Normal', 'VirtualDataCenter'],
  ['QuotaExceeded', 'Warning', 'VirtualDataCenter'],
  ['OrganizationCreated', 'Normal', 'Organization'],
  ['VMStarted', 'Normal', 'VirtualMachine'],
  ['StartupFailed', 'Warning', 'VirtualMachine'],
  ['AccessDenied', 'Warning', 'Organization'],
  ['DeletionRequested', 'Normal', 'VirtualDataCenter'],
  ['Pulled', 'Normal', 'Pod'],
];
const COMPONENTS = ['ovim-controller', 'ovim-api', 'kubelet'];

const iso = (ms: number) => new Date(ms).toISOString();

/** `n` random Events as a watch delivers them (timestamps as strings), all archived by default. */
export function randomEvents(n: number, seed = 7): EventObject[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const out: EventObject[] = [];
  for (let i = 0; i < n; i++) {
    const [reason, type, kind] = pick(REASONS);
    let namespace = pick(NAMESPACES);
    // Every event is one the archive keeps by default: outside managed namespaces, OVIM's kinds.
    const objectKind = namespace === 'kube-system' || namespace === 'apps' ? (kind === 'Pod' ? 'VirtualMachine' : kind) : kind;
    if (namespace === 'default' && objectKind !== 'Organization') namespace = 'org-a';
    const objectName = objectKind === 'Organization' ? pick(['a', 'a-b', 'c']) : `obj-${Math.floor(rnd() * 5)}`;
    // Whole seconds, many ties (the order's tie-breakers matter).
    const last = NOW - Math.floor(rnd() * 30 * 24 * 60) * 60_000;
    const actor = pick(USERS);
    const owner = pick(USERS);
    const annotations: Record<string, string> = {};
    if (actor) annotations['ovim.io/actor'] = actor;
    if (owner) annotations['ovim.io/owner'] = owner;
    out.push({
      metadata: { name: `${objectName}.${i.toString(16)}`, namespace, uid: `uid-${seed}-${i}`, annotations },
      involvedObject: { kind: objectKind, name: objectName, namespace },
      type,
      reason,
      message: `${reason} #${i}`,
      source: { component: pick(COMPONENTS) },
      firstTimestamp: iso(last - Math.floor(rnd() * 3600) * 1000),
      lastTimestamp: iso(last),
      count: 1 + Math.floor(rnd() * 4),
    });
  }
  return out;
}

export const SCOPES: Scope[] = [
  { kind: 'all' },
  { kind: 'organization', organization: 'a' },
  { kind: 'organization', organization: 'a-b' },
  { kind: 'organization', organization: 'c' },
  { kind: 'own', organization: 'a', username: 'alice' },
  { kind: 'own', organization: 'a-b', username: 'bob' },
];

export function liveOwners(): NamespaceOwners {
  const owners = new NamespaceOwners();
  for (const [ns, org] of OWNERS) owners.set(ns, org);
  return owners;
}

export const ids = (rows: readonly { uid: string }[]) => rows.map((r) => r.uid);

/** The brute-force reference: every record, scope and filters applied, in the API's order. */
export function reference(records: readonly EventRecord[], selection: HistorySelection, owners: NamespaceOwnership): EventRecord[] {
  const { filters: f, scope } = selection;
  const visible = scopeMatcher(scope, owners);
  const match = filterPredicate(f);
  return records
    .filter((r) => visible(r) && (!match || match(r)))
    .filter((r) => (f.until === undefined || r.lastTimestamp <= f.until) && (f.actor === undefined || r.actor === f.actor))
    .sort(compareEvents);
}

/** Every page through next cursors. */
export async function allByCursor(archive: HistoryArchive, selection: HistorySelection, limit: number): Promise<ItemRow[]> {
  const out: ItemRow[] = [];
  let page = await archive.list(selection, { limit, offset: 0 });
  out.push(...page.items);
  while (page.next) {
    page = await archive.list(selection, { limit, offset: 0, after: page.next });
    out.push(...page.items);
  }
  return out;
}

