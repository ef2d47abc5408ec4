// `npm run bench:api`: the events API served from the EventStore against "the OVIM backend
// way" — a list call to the real API server per request, with the filters applied — over
// loopback HTTP, for three queries as a system admin and as an organization admin.
//
// - The store is filled directly with 50,000 Event objects (shaped like watch events) across
//   500 namespaces (50 organizations x {org-<org>, 9 vdc-<org>-*}).
// - The API-server baseline runs a control plane started here (ControlPlane.start(), stopped at
//   the end) holding BENCH_KUBE_EVENTS events (default 50,000) in as many namespaces, and a
//   second HTTP server with the same routes and the same JWT check whose handler lists Events
//   from kube-apiserver (raw JSON over a keep-alive HTTPS agent — no typed-client overhead),
//   then filters, sorts and pages like the backend.
// - Load comes from a worker thread (its own event loop) with keep-alive connections.
//
// - The physical floor: a bare fastify route on loopback returning, for each row, the very bytes
//   the store's answer had (no auth, no query), driven by the same client in the same run; the
//   table prints store req/s / floor req/s (goal >= 0.7).
// - A second store of 100,000 events: pages 1 and /recent as a system admin, beside the floor.
//
// Environment: BENCH_KUBE_EVENTS, BENCH_CONCURRENCY (default 4), BENCH_SECONDS (per row, default 3).
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { availableParallelism, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import Fastify from 'fastify';
import {
  LIMITS,
  clampLimit,
  compareEvents,
  filterPredicate,
  inScope,
  namespaceInScope,
  orgNamespace,
  pageSlice,
  toApiEvent,
  vdcNamespacePrefix,
  type EventFilters,
  type EventRecord,
  type Scope,
} from '../src/events/query.js';
import { NamespaceOwners } from '../src/events/owners.js';
import { EventStore, compactEvent, type EventObject } from '../src/events/store.js';
import { bearerToken, createVerifier, signToken } from '../src/http/auth.js';
import { scopeForClaims } from '../src/http/scope.js';
import { createApiServer } from '../src/http/server.js';
import { createMetrics } from '../src/metrics.js';
import { ControlPlane } from '../test/support/controlplane.js';

const STORE_EVENTS = 50_000;
const BIG_STORE_EVENTS = 100_000;
const ORGS = 50;
const NAMESPACES_PER_ORG = 10; // org-<org> + 9 VDC namespaces
const SECRET = 'bench-secret-0123456789abcdef0123456789';

interface LoadJob {
  url: string;
  token: string;
  concurrency: number;
  seconds: number;
  minRequests: number;
  maxRequests: number;
  warmup: number;
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  firstError?: string;
}

// ---------------------------------------------------------------------------------------------
// The load generator: plain JavaScript in a worker thread (its own event loop, so the client does
// not compete with the server for one), keep-alive connections, one request at a time each.

const LOAD_WORKER = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
async function runLoad(job) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.concurrency });
  const one = () => new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request(job.url, { agent, headers: { authorization: 'Bearer ' + job.token } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const ok = res.statusCode === 200;
        resolve({ ok, ms, error: ok ? undefined : res.statusCode + ': ' + Buffer.concat(chunks).toString().slice(0, 200) });
      });
    });
    req.on('error', (err) => resolve({ ok: false, ms: 0, error: err.message }));
    req.end();
  });
  for (let i = 0; i < job.warmup; i++) await one();
  const latenciesMs = [];
  let errors = 0, firstError, issued = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + job.seconds * 1000;
  const loop = async () => {
    while ((Date.now() < deadline || issued < job.minRequests) && issued < job.maxRequests) {
      issued++;
      const r = await one();
      if (r.ok) latenciesMs.push(r.ms);
      else { errors++; if (firstError === undefined) firstError = r.error; }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, loop));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return { requests: latenciesMs.length, errors, seconds, latenciesMs, firstError };
}
parentPort.on('message', (job) => { runLoad(job).then((r) => parentPort.postMessage(r)); });
`;

// ---------------------------------------------------------------------------------------------
// Fixtures.

const REASONS: { type: 'Normal' | 'Warning'; reason: string; kind: string; message: (o: string, v: string, i: number) => string }[] = [
  { type: 'Normal', reason: 'VMStarted', kind: 'VirtualMachine', message: (o, v, i) => `VirtualMachine vm-${i} in VDC ${v} of organization ${o} started on node worker-${i % 7}` },
  { type: 'Normal', reason: 'VMStopped', kind: 'VirtualMachine', message: (o, v, i) => `VirtualMachine vm-${i} in VDC ${v} of organization ${o} stopped by request` },
  { type: 'Normal', reason: 'VMCreated', kind: 'VirtualMachine', message: (_o, v, i) => `VirtualMachine vm-${i} created in VDC ${v}` },
  { type: 'Normal', reason: 'VDCUpdated', kind: 'VirtualDataCenter', message: (o, v) => `VDC ${v} of organization ${o} updated: quota cpu 16, memory 64Gi, storage 500Gi` },
  { type: 'Warning', reason: 'QuotaThresholdReached', kind: 'VirtualDataCenter', message: (_o, v) => `VDC ${v} uses 92% of its memory quota (59Gi of 64Gi)` },
  { type: 'Warning', reason: 'StartupFailed', kind: 'VirtualMachine', message: (_o, _v, i) => `VirtualMachine vm-${i} failed to start: exceeded quota: vdc-quota, requested: requests.cpu=2, used: requests.cpu=16, limited: requests.cpu=16` },
];

interface Layout {
  orgs: string[];
  namespaces: string[];
}

function layout(totalNamespaces: number): Layout {
  const orgCount = Math.max(1, Math.round(totalNamespaces / NAMESPACES_PER_ORG));
  const orgs = Array.from({ length: orgCount }, (_, i) => `tenant${String(i).padStart(3, '0')}`);
  const namespaces = orgs.flatMap((org) => [orgNamespace(org), ...Array.from({ length: NAMESPACES_PER_ORG - 1 }, (_, v) => `${vdcNamespacePrefix(org)}vdc${v}`)]);
  return { orgs, namespaces };
}

/** The namespace owners the operator's labels would give (what the namespace informer feeds). */
function ownersOf(l: Layout): NamespaceOwners {
  const owners = new NamespaceOwners();
  for (const org of l.orgs) {
    for (const ns of l.namespaces) if (ns === orgNamespace(org) || ns.startsWith(vdcNamespacePrefix(org))) owners.set(ns, org);
  }
  return owners;
}

/** The JSON text of the i-th Event (as the API server would send it), spread over the namespaces. */
function eventJson(i: number, namespaces: string[], base: number, forCreate = false): string {
  const namespace = namespaces[i % namespaces.length] as string;
  const org = namespace.startsWith('org-') ? namespace.slice(4) : namespace.split('-')[1] as string;
  const vdc = namespace.startsWith('vdc-') ? namespace.slice(`vdc-${org}-`.length) : 'vdc0';
  const spec = REASONS[(i * 7) % REASONS.length] as (typeof REASONS)[number];
  const object = spec.kind === 'VirtualMachine' ? `vm-${i % 97}` : vdc;
  const last = new Date(base + i * 1000).toISOString().replace('.000Z', 'Z');
  const first = new Date(base + i * 1000 - 60_000).toISOString().replace('.000Z', 'Z');
  const name = `${object}.${(0x17a3b4c5d6e7 + i).toString(16)}`;
  const metadata: Record<string, unknown> = {
    name,
    namespace,
    annotations: {
      'ovim.io/organization': org,
      'ovim.io/vdc': vdc,
      'ovim.io/actor': `user${i % 13}`,
    },
  };
  if (!forCreate) {
    Object.assign(metadata, {
      uid: `6f1c2a4e-${(i >>> 16).toString(16).padStart(4, '0')}-4${(i & 0xfff).toString(16).padStart(3, '0')}-8000-${i.toString(16).padStart(12, '0')}`,
      resourceVersion: String(100_000 + i),
      creationTimestamp: first,
      managedFields: [
        {
          manager: 'ovim-operator',
          operation: 'Update',
          apiVersion: 'v1',
          time: last,
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:count': {}, 'f:firstTimestamp': {}, 'f:involvedObject': {}, 'f:lastTimestamp': {}, 'f:message': {}, 'f:reason': {}, 'f:source': { 'f:component': {} }, 'f:type': {} },
        },
      ],
    });
  }
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Event',
    metadata,
    involvedObject: {
      apiVersion: spec.kind === 'VirtualMachine' ? 'kubevirt.io/v1' : 'ovim.io/v1',
      kind: spec.kind,
      name: object,
      namespace,
      uid: `0b5e${i.toString(16).padStart(4, '0')}-0000-4000-8000-000000000000`,
      resourceVersion: String(5000 + (i % 1000)),
    },
    reason: spec.reason,
    message: spec.message(org, vdc, i),
    source: { component: 'ovim-controller' },
    firstTimestamp: first,
    lastTimestamp: last,
    count: 1 + (i % 4),
    type: spec.type,
    reportingComponent: 'ovim-controller',
    reportingInstance: 'ovim-operator-7d9f8b6c5-x2x9k',
  });
}

// ---------------------------------------------------------------------------------------------
// Measuring.

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function settledHeap(gc: () => void): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

interface Pass {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  firstError?: string;
}

/** One row: latency one request at a time, throughput with `concurrency` connections. */
interface Row {
  latency: Pass;
  throughput: Pass;
}

function pass(worker: Worker, job: LoadJob): Promise<Pass> {
  return new Promise((resolve) => {
    worker.once('message', (r: LoadResult) => {
      const sorted = [...r.latenciesMs].sort((a, b) => a - b);
      resolve({
        rps: r.requests / r.seconds,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        requests: r.requests,
        errors: r.errors,
        firstError: r.firstError,
      });
    });
    worker.postMessage(job);
  });
}

async function measure(
  worker: Worker,
  url: string,
  token: string,
  o: { concurrency: number; seconds: number; minRequests: number; warmup: number },
): Promise<Row> {
  const job = { url, token, seconds: o.seconds, minRequests: o.minRequests, maxRequests: 1e9 };
  const latency = await pass(worker, { ...job, concurrency: 1, warmup: o.warmup });
  const throughput = await pass(worker, { ...job, concurrency: o.concurrency, warmup: 0 });
  return { latency, throughput };
}

// ---------------------------------------------------------------------------------------------
// "The OVIM backend way": list from kube-apiserver on every request.

class RawKube {
  private readonly agent: HttpsAgent;
  private readonly base: URL;
  private readonly options: RequestOptions;
  private constructor(kc: KubeConfig, options: RequestOptions) {
    this.base = new URL(kc.getCurrentCluster()?.server as string);
    this.options = options;
    this.agent = new HttpsAgent({ keepAlive: true, maxSockets: 64, ca: options.ca, cert: options.cert, key: options.key });
  }

  static async create(kc: KubeConfig): Promise<RawKube> {
    const options: RequestOptions = {};
    await kc.applyToHTTPSOptions(options);
    return new RawKube(kc, options);
  }

  request(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        new URL(path, this.base),
        { ...this.options, method, agent: this.agent, headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async listEvents(namespace: string | undefined, fieldSelector: string[]): Promise<EventObject[]> {
    const path = namespace ? `/api/v1/namespaces/${namespace}/events` : '/api/v1/events';
    const query = fieldSelector.length ? `?fieldSelector=${encodeURIComponent(fieldSelector.join(','))}` : '';
    const res = await this.request('GET', `${path}${query}`);
    if (res.status !== 200) throw new Error(`list ${path}: ${res.status} ${res.text.slice(0, 200)}`);
    return (JSON.parse(res.text) as { items: EventObject[] }).items;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The baseline server: same routes, same auth and scoping rules, data from kube-apiserver. */
async function startBaseline(kube: RawKube, namespacesOfOrg: (org: string) => string[], owners: NamespaceOwners) {
  const verify = createVerifier({ secret: new TextEncoder().encode(SECRET) });
  const app = Fastify({ logger: false });

  const answer = async (scope: Scope, filters: EventFilters, page: number, limit: number) => {
    const selector = filters.type ? [`type=${filters.type}`] : [];
    let items: EventObject[];
    if (filters.namespace) items = await kube.listEvents(filters.namespace, selector);
    else if (scope.kind === 'all') items = await kube.listEvents(undefined, selector);
    else {
      // The backend knows an organization's VDCs: one list per namespace, plus its Organization's events.
      const lists = await Promise.all([
        ...namespacesOfOrg(scope.organization).map((ns) => kube.listEvents(ns, selector)),
        kube.listEvents('default', [...selector, 'involvedObject.kind=Organization', `involvedObject.name=${scope.organization}`]),
      ]);
      items = lists.flat();
    }
    const predicate = filterPredicate(filters);
    const records = items
      .map((e) => compactEvent(e))
      .filter((r): r is EventRecord => r !== undefined && inScope(r, scope, owners) && (!predicate || predicate(r)))
      .sort(compareEvents);
    return { records: pageSlice(records, { page, limit }), total: records.length };
  };

  const auth = async (authorization: string | undefined): Promise<Scope> => scopeForClaims(await verify(bearerToken(authorization)));

  app.get<{ Querystring: Record<string, string> }>('/api/v1/events', async (req, reply) => {
    const scope = await auth(req.headers.authorization);
    const q = req.query;
    if (q.namespace && !namespaceInScope(q.namespace, scope, owners)) return reply.code(403).send({ error: 'outside your scope' });
    const filters: EventFilters = {};
    if (q.type) filters.type = q.type as 'Normal' | 'Warning';
    if (q.namespace) filters.namespace = q.namespace;
    const limit = clampLimit(q.limit ? Number(q.limit) : undefined, LIMITS.events);
    const page = q.page ? Number(q.page) : 1;
    const { records, total } = await answer(scope, filters, page, limit);
    return { events: records.map(toApiEvent), total_count: total, page, page_size: limit };
  });
  app.get<{ Querystring: Record<string, string> }>('/api/v1/events/recent', async (req) => {
    const scope = await auth(req.headers.authorization);
    const limit = clampLimit(req.query.limit ? Number(req.query.limit) : undefined, LIMITS.recent);
    const { records } = await answer(scope, {}, 1, limit);
    return { events: records.map(toApiEvent), count: records.length };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => app.close() };
}

/** Creates the baseline's namespaces and events in kube-apiserver, `parallel` requests at a time. */
async function populate(kc: KubeConfig, kube: RawKube, count: number, namespaces: string[], base: number): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const name of namespaces) await core.createNamespace({ body: { metadata: { name } } });
  const started = Date.now();
  let next = 0;
  const parallel = 24;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const body = eventJson(i, namespaces, base, true);
      const ns = namespaces[i % namespaces.length] as string;
      const res = await kube.request('POST', `/api/v1/namespaces/${ns}/events`, body);
      if (res.status !== 201) throw new Error(`create event ${i}: ${res.status} ${res.text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return (Date.now() - started) / 1000;
}

/** The floor: a bare fastify server answering each (path, token) with bytes captured before. */
async function startFloor(): Promise<{ url: string; capture: (url: string, token: string) => Promise<string>; close: () => Promise<void> }> {
  const answers = new Map<string, Buffer>();
  const app = Fastify({ logger: false });
  app.get('/*', (req, reply) => {
    const body = answers.get(`${req.url}|${req.headers.authorization ?? ''}`);
    if (!body) return reply.code(404).send();
    return reply.type('application/json; charset=utf-8').send(body);
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  /** Fetches `url` once and serves the same bytes at the same path; returns the floor's URL. */
  const capture = async (target: string, token: string): Promise<string> => {
    const res = await fetch(target, { headers: { authorization: `Bearer ${token}` } });
    const path = new URL(target).pathname + new URL(target).search;
    answers.set(`${path}|Bearer ${token}`, Buffer.from(await res.arrayBuffer()));
    return `${url}${path}`;
  };
  return { url, capture, close: () => app.close() };
}

// ---------------------------------------------------------------------------------------------

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pad = (s: string, w: number) => s.padEnd(w);
const lpad = (s: string, w: number) => s.padStart(w);

async function main(): Promise<void> {
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  const kubeEvents = Number(process.env.BENCH_KUBE_EVENTS ?? STORE_EVENTS);
  const startLoad = loadavg().map((l) => l.toFixed(2)).join(' ');
  const gc = gcFunction();
  const base = Date.parse('2025-06-01T00:00:00Z');
  const storeLayout = layout(ORGS * NAMESPACES_PER_ORG);

  // Heap per cached event: the store fed with parsed Event objects that are then dropped.
  const heap0 = settledHeap(gc);
  const store = new EventStore({ namespaceOwners: ownersOf(storeLayout) });
  for (let i = 0; i < STORE_EVENTS; i++) store.upsert(JSON.parse(eventJson(i, storeLayout.namespaces, base)) as EventObject);
  const heap1 = settledHeap(gc);
  const perEvent = (heap1 - heap0) / store.size;
  // For comparison: what the full objects cost (the informer's own cache holds these).
  const raws: unknown[] = [];
  const heap2 = settledHeap(gc);
  for (let i = 0; i < 5_000; i++) raws.push(JSON.parse(eventJson(i, storeLayout.namespaces, base)));
  const perRaw = (settledHeap(gc) - heap2) / raws.length;
  raws.length = 0;

  const metrics = createMetrics();
  const api = createApiServer({
    store,
    metrics,
    auth: { secret: new TextEncoder().encode(SECRET) },
    health: { kubernetesReachable: () => true, informersSynced: () => true, leadership: () => 'disabled' },
  });
  const storeUrl = await api.listen('127.0.0.1:0');

  const sysToken = await signToken({ userId: '1', username: 'root', role: 'system_admin' }, SECRET);
  const org = storeLayout.orgs[17] as string;
  const orgToken = await signToken({ userId: '2', username: 'boss', role: 'org_admin', orgId: org }, SECRET);

  const worker = new Worker(LOAD_WORKER, { eval: true });
  const scenarios = (namespace: string) => [
    { name: '(a) page 1 of all events', path: '/api/v1/events' },
    { name: `(b) type=Warning&namespace=<one>`, path: `/api/v1/events?type=Warning&namespace=${namespace}` },
    { name: '(c) /recent', path: '/api/v1/events/recent' },
  ];

  const storeRows = new Map<string, Row>();
  const floorRows = new Map<string, Row>();
  const floor = await startFloor();
  const ns = `${vdcNamespacePrefix(org)}vdc3`;
  const storeAndFloor = async (key: string, url: string, token: string) => {
    const floorUrl = await floor.capture(url, token);
    const o = { concurrency, seconds, minRequests: 1000, warmup: 500 };
    storeRows.set(key, await measure(worker, url, token, o));
    floorRows.set(key, await measure(worker, floorUrl, token, o));
  };
  for (const [role, token] of [['system_admin', sysToken], ['org_admin', orgToken]] as const) {
    for (const s of scenarios(ns)) await storeAndFloor(`${s.name}|${role}`, `${storeUrl}${s.path}`, token);
  }
  await api.close();
  // 100k events: the same program with twice the store.
  const big = new EventStore({ namespaceOwners: ownersOf(storeLayout), maxEvents: BIG_STORE_EVENTS });
  for (let i = 0; i < BIG_STORE_EVENTS; i++) big.upsert(JSON.parse(eventJson(i, storeLayout.namespaces, base)) as EventObject);
  const bigApi = createApiServer({
    store: big,
    metrics: createMetrics(),
    auth: { secret: new TextEncoder().encode(SECRET) },
    health: { kubernetesReachable: () => true, informersSynced: () => true, leadership: () => 'disabled' },
  });
  const bigUrl = await bigApi.listen('127.0.0.1:0');
  const bigScenarios = scenarios(ns).filter((s) => !s.path.includes('type='));
  for (const s of bigScenarios) await storeAndFloor(`${s.name}|system_admin|100k`, `${bigUrl}${s.path}`, sysToken);
  await bigApi.close();
  await floor.close();

  // The API-server way.
  process.stdout.write(`starting a control plane and creating ${int(kubeEvents)} events for the API-server baseline...\n`);
  const cp = await ControlPlane.start({ controllerManager: false });
  const baselineRows = new Map<string, Row>();
  let populateSeconds = 0;
  let kubeNamespaces = 0;
  try {
    const kube = await RawKube.create(cp.kubeConfig);
    const kubeLayout = layout(Math.min(storeLayout.namespaces.length, Math.max(NAMESPACES_PER_ORG, Math.round(kubeEvents / 100))));
    kubeNamespaces = kubeLayout.namespaces.length;
    populateSeconds = await populate(cp.kubeConfig, kube, kubeEvents, kubeLayout.namespaces, base);
    const kubeOrg = kubeLayout.orgs[Math.min(17, kubeLayout.orgs.length - 1)] as string;
    const kubeOrgToken = await signToken({ userId: '2', username: 'boss', role: 'org_admin', orgId: kubeOrg }, SECRET);
    const namespacesOfOrg = (o: string) => kubeLayout.namespaces.filter((n) => n === orgNamespace(o) || n.startsWith(vdcNamespacePrefix(o)));
    const baseline = await startBaseline(kube, namespacesOfOrg, ownersOf(kubeLayout));
    try {
      const kubeNs = `${vdcNamespacePrefix(kubeOrg)}vdc3`;
      for (const [role, token] of [['system_admin', sysToken], ['org_admin', kubeOrgToken]] as const) {
        for (const s of scenarios(kubeNs)) {
          const row = await measure(worker, `${baseline.url}${s.path}`, token, { concurrency, seconds, minRequests: 5, warmup: 2 });
          baselineRows.set(`${s.name}|${role}`, row);
        }
      }
    } finally {
      await baseline.close();
      kube.close();
    }
  } finally {
    await cp.stop();
  }
  await worker.terminate();

  // The table.
  const lines: string[] = [];
  lines.push('');
  lines.push(`events API benchmark (npm run bench:api) — Node ${process.version}, ${availableParallelism()} CPUs, loopback HTTP with keep-alive, load from a worker thread`);
  lines.push(`  EventStore: ${int(store.size)} events in ${storeLayout.namespaces.length} namespaces (${storeLayout.orgs.length} organizations); the org admin ("${org}") sees ${NAMESPACES_PER_ORG} namespaces`);
  lines.push(`  API-server way: this run's kube-apiserver holding ${int(kubeEvents)} events in ${kubeNamespaces} namespaces (created in ${fmt(populateSeconds, 1)} s); per request one list call (one per namespace for an org admin; type as a fieldSelector), then filter/sort/page`);
  lines.push(`  heap per cached event: ${int(perEvent)} bytes (target <= 1,536); for comparison a full Event object as parsed from the API: ${int(perRaw)} bytes`);
  lines.push(`  p50/p99: one request at a time; req/s: ${concurrency} concurrent connections; ${seconds} s per pass`);
  lines.push('');
  const header = `${pad('query', 34)}${pad('role', 14)}${lpad('store req/s', 12)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}  |${lpad('API-server req/s', 17)}${lpad('p50 ms', 9)}${lpad('p99 ms', 9)}  |${lpad('ratio req/s', 12)}${lpad('ratio p50', 10)}`;
  lines.push(header);
  lines.push('-'.repeat(header.length));
  let worstP99 = 0;
  let worstRatio = Infinity;
  const problems: string[] = [];
  const samples: string[] = [];
  for (const role of ['system_admin', 'org_admin']) {
    for (const s of scenarios('')) {
      const key = `${s.name}|${role}`;
      const a = storeRows.get(key) as Row;
      const b = baselineRows.get(key) as Row;
      const ratio = a.throughput.rps / b.throughput.rps;
      worstP99 = Math.max(worstP99, a.latency.p99);
      worstRatio = Math.min(worstRatio, ratio);
      for (const [what, row] of [['store', a], ['API-server', b]] as const) {
        for (const p of [row.latency, row.throughput]) if (p.errors) problems.push(`${what} ${key}: ${p.errors} errors, first: ${p.firstError}`);
      }
      samples.push(`${a.latency.requests}+${a.throughput.requests} / ${b.latency.requests}+${b.throughput.requests}`);
      lines.push(
        `${pad(s.name, 34)}${pad(role, 14)}${lpad(int(a.throughput.rps), 12)}${lpad(fmt(a.latency.p50), 8)}${lpad(fmt(a.latency.p99), 8)}  |` +
          `${lpad(fmt(b.throughput.rps, 1), 17)}${lpad(fmt(b.latency.p50, 1), 9)}${lpad(fmt(b.latency.p99, 1), 9)}  |` +
          `${lpad(`${int(ratio)}x`, 12)}${lpad(`${int(b.latency.p50 / a.latency.p50)}x`, 10)}`,
      );
    }
  }
  lines.push('');
  lines.push(`requests per row (latency+throughput passes), store / API-server: ${samples.join('; ')}`);
  lines.push('');
  lines.push('The physical floor: a bare fastify route returning the same bytes (no auth, no query), same client, same run');
  const floorHeader = `${pad('query', 34)}${pad('role', 14)}${lpad('events', 8)}${lpad('store req/s', 12)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}  |${lpad('floor req/s', 12)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}  |${lpad('store/floor', 12)}${lpad('>= 0.7', 8)}`;
  lines.push(floorHeader);
  lines.push('-'.repeat(floorHeader.length));
  let worstFloorRatio = Infinity;
  for (const [key, f] of floorRows) {
    const a = storeRows.get(key) as Row;
    const [name, role, size] = key.split('|') as [string, string, string | undefined];
    const ratio = a.throughput.rps / f.throughput.rps;
    worstFloorRatio = Math.min(worstFloorRatio, ratio);
    for (const p of [f.latency, f.throughput]) if (p.errors) problems.push(`floor ${key}: ${p.errors} errors, first: ${p.firstError}`);
    lines.push(
      `${pad(name, 34)}${pad(role, 14)}${lpad(size === '100k' ? '100k' : '50k', 8)}${lpad(int(a.throughput.rps), 12)}${lpad(fmt(a.latency.p50), 8)}${lpad(fmt(a.latency.p99), 8)}  |` +
        `${lpad(int(f.throughput.rps), 12)}${lpad(fmt(f.latency.p50), 8)}${lpad(fmt(f.latency.p99), 8)}  |${lpad(fmt(ratio), 12)}${lpad(ratio >= 0.7 ? 'yes' : 'NO', 8)}`,
    );
  }
  lines.push(
    `targets: store p99 <= 5 ms: ${worstP99 <= 5 ? 'met' : 'NOT met'} (worst ${fmt(worstP99)} ms); ` +
      `>= 50x the API-server way: ${worstRatio >= 50 ? 'met' : 'NOT met'} (lowest ${int(worstRatio)}x); ` +
      `heap per event <= 1.5 KB: ${perEvent <= 1536 ? 'met' : 'NOT met'} (${int(perEvent)} B); ` +
      `store req/s >= 0.7x the floor: ${worstFloorRatio >= 0.7 ? 'met' : 'NOT met'} (lowest ${fmt(worstFloorRatio)})`,
  );
  lines.push(`machine load average (1/5/15 min) at the start: ${startLoad}; at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const p of problems) lines.push(`ERROR ${p}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (problems.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
