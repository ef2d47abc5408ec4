// The fault-injection suite's harness: the operator as a separate process (src/main.ts, as in
// a pod) against the run's real control plane, storms of Organizations and VDCs made by the
// test, and the counts the faults are judged by (Created events per object uid, phases,
// markers). Faults are asserted on counts and states, never on elapsed time.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { CoreV1Event } from '@kubernetes/client-node';
import { signToken } from '../../src/http/auth.js';
import { freePort, type ControlPlane } from '../../src/sandbox/controlplane.js';
import type { KubeClient } from '../../src/kube/rest.js';
import { markerSettled, readLedgerData } from '../../src/controllers/delivery-ledger.js';
import type { Organization, VirtualDataCenter } from '../../src/resources/types.js';
import { QUIET_LISTENERS } from '../support/program.js';
import { waitFor } from '../support/wait.js';

export const JWT_SECRET = 'e2e-secret-of-enough-length-0123456789abcdef';

/** Storm size: 20 organizations x 10 VDCs with `make soak`; smaller inside `make test`. */
export const STORM = {
  organizations: Number(process.env.E2E_ORGS ?? 8),
  vdcsPerOrganization: Number(process.env.E2E_VDCS ?? 5),
};

export const uniquePrefix = (what: string) => `${what}-${randomBytes(2).toString('hex')}`;

/** src/main.ts as a child process with its own API port; its output is kept for diagnosis. */
export class OperatorProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  output = '';
  readonly port: Promise<number>;

  constructor(
    private readonly cp: ControlPlane,
    private readonly options: { nodeArgs?: string[]; env?: Record<string, string>; /** Program flags; default --no-history (the suite checks the runtime, not the archive). */ args?: string[] } = {},
  ) {
    this.port = freePort();
  }

  get apiUrl(): Promise<string> {
    return this.port.then((p) => `http://127.0.0.1:${p}`);
  }

  async start(): Promise<void> {
    const port = await this.port;
    this.output = '';
    const args = [...(this.options.nodeArgs ?? []), '--import', 'tsx', 'src/main.ts', '--kubeconfig', this.cp.kubeconfigPath, ...(this.options.args ?? ['--no-history'])];
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        ...QUIET_LISTENERS,
        OVIM_API_ADDRESS: `127.0.0.1:${port}`,
        OVIM_JWT_SECRET: JWT_SECRET,
        LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
        ...this.options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    this.child = child;
    await waitFor('the operator process to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`the operator exited (${child.exitCode}): ${this.output.slice(-2000)}`);
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
    }, { timeoutMs: 120_000 });
  }

  kill(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  async waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) throw new Error('not started');
    return this.exited;
  }

  /** Stops it if it still runs (SIGKILL: a test ends it on purpose otherwise). */
  async ensureStopped(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** The recorder's counters the process wrote at a graceful exit. */
  exitStats(): { recorded: { reason: string; count: number }[]; dropped: { cause: string; count: number }[] } | undefined {
    const line = this.output.split('\n').find((l) => l.includes('"event recorder at exit"'));
    return line ? (JSON.parse(line) as { recorder: ReturnType<OperatorProcess['exitStats']> }).recorder : undefined;
  }

  /** The heap after GC and the informer caches' sizes (the process runs with --expose-gc). */
  async heap(): Promise<{ heapUsed: number; informers: Record<string, number> }> {
    const before = this.output.split('"heap after gc"').length;
    this.kill('SIGUSR2');
    await waitFor('the heap line', async () => this.output.split('"heap after gc"').length > before, { timeoutMs: 30_000, intervalMs: 50 });
    const lines = this.output.split('\n').filter((l) => l.includes('"heap after gc"'));
    return JSON.parse(lines[lines.length - 1] as string) as { heapUsed: number; informers: Record<string, number> };
  }

  /** The process's JSON log lines (other output skipped). */
  logLines(): { message?: string; path?: string; [key: string]: unknown }[] {
    const lines: { message?: string; path?: string }[] = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as { message?: string; path?: string });
      } catch {
        // a line cut by the process's exit
      }
    }
    return lines;
  }

  async get(path: string): Promise<{ status: number; json: unknown }> {
    const token = await signToken({ userId: 'e2e', username: 'e2e', role: 'system_admin' }, new TextEncoder().encode(JWT_SECRET));
    const res = await fetch(`${await this.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, json: (await res.json()) as unknown };
  }
}

export interface Storm {
  prefix: string;
  organizations: string[];
  /** [namespace, name] of every VDC. */
  vdcs: [string, string][];
}

/** Runs `work` over `items`, `limit` at a time. */
export async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/**
 * Creates the storm's organizations and VDCs (8 requests at a time); `onCreated(n)` after each
 * object lets a test inject its fault at a given point of the storm.
 */
export async function createStorm(api: KubeClient, prefix: string, onCreated?: (n: number) => void | Promise<void>): Promise<Storm> {
  const storm: Storm = { prefix, organizations: [], vdcs: [] };
  for (let o = 0; o < STORM.organizations; o++) {
    const org = `${prefix}-o${o}`;
    storm.organizations.push(org);
    for (let v = 0; v < STORM.vdcsPerOrganization; v++) storm.vdcs.push([`org-${org}`, `v${v}`]);
  }
  let created = 0;
  const done = async () => onCreated?.(++created);
  await inParallel(storm.organizations, 8, async (org) => {
    await retrying(() =>
      api.create('/apis/ovim.io/v1/organizations', {
        apiVersion: 'ovim.io/v1',
        kind: 'Organization',
        metadata: { name: org, annotations: { 'ovim.io/requested-by': 'e2e' } },
        spec: { displayName: org, admins: [`${org}-admins`] },
      }),
    );
    await done();
  });
  // A VDC lives in its organization's namespace: create it once the namespace is there.
  await inParallel(storm.vdcs, 8, async ([ns, name]) => {
    await retrying(() =>
      api.create(`/apis/ovim.io/v1/namespaces/${ns}/virtualdatacenters`, {
        apiVersion: 'ovim.io/v1',
        kind: 'VirtualDataCenter',
        metadata: { name, namespace: ns, annotations: { 'ovim.io/requested-by': 'e2e' } },
        spec: { organizationRef: ns.slice(4), displayName: name, quota: { cpu: '1', memory: '1Gi', storage: '1Gi' } },
      }),
    );
    await done();
  });
  return storm;
}

/** Retries a create until it is accepted (a namespace not there yet, an API server away); 409 is success. */
async function retrying(create: () => Promise<unknown>): Promise<void> {
  await waitFor('a create to be accepted', async () => {
    try {
      await create();
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return true;
      throw err;
    }
  }, { timeoutMs: 180_000, intervalMs: 250 });
}

/**
 * Every object of the storm Active with no owed event left (status.pendingEvents cleared, or its
 * ticket in the delivery ledger, ConfigMap in the operator's namespace `default`).
 */
export async function waitConverged(api: KubeClient, storm: Storm): Promise<void> {
  await waitFor(`every object of ${storm.prefix} Active with its events written`, async () => {
    const ledger = await readLedgerData(api, 'default');
    const orgs = await api.list<Organization>('/apis/ovim.io/v1/organizations');
    const mine = orgs.items.filter((o) => storm.organizations.includes(o.metadata.name ?? ''));
    if (mine.length !== storm.organizations.length || mine.some((o) => o.status?.phase !== 'Active' || !markerSettled(o.status, ledger))) return false;
    const vdcs = await api.list<VirtualDataCenter>('/apis/ovim.io/v1/virtualdatacenters');
    const ours = vdcs.items.filter((v) => v.metadata.name && storm.organizations.includes(v.spec?.organizationRef ?? ''));
    return ours.length === storm.vdcs.length && ours.every((v) => v.status?.phase === 'Active' && markerSettled(v.status, ledger));
  }, { timeoutMs: 300_000, intervalMs: 1_000 });
}

/** Occurrences (sum of Event.count) of a reason per involvedObject uid. */
export async function occurrencesByUid(api: KubeClient, reason: string): Promise<Map<string, number>> {
  const list = await api.list<CoreV1Event>('/api/v1/events', { fieldSelector: `reason=${reason}` });
  const out = new Map<string, number>();
  for (const e of list.items) {
    const uid = e.involvedObject?.uid;
    if (uid) out.set(uid, (out.get(uid) ?? 0) + (e.count ?? 1));
  }
  return out;
}

/** Exactly one OrganizationCreated / VDCCreated per object of the storm: none missing, none repeated. */
export async function expectOneCreatedEach(api: KubeClient, storm: Storm): Promise<void> {
  const orgs = (await api.list<Organization>('/apis/ovim.io/v1/organizations')).items.filter((o) => storm.organizations.includes(o.metadata.name ?? ''));
  const vdcs = (await api.list<VirtualDataCenter>('/apis/ovim.io/v1/virtualdatacenters')).items.filter((v) =>
    storm.organizations.includes(v.spec?.organizationRef ?? ''),
  );
  const orgCreated = await occurrencesByUid(api, 'OrganizationCreated');
  const vdcCreated = await occurrencesByUid(api, 'VDCCreated');
  const count = (m: Map<string, number>, uid: string | undefined) => m.get(uid ?? '') ?? 0;
  const wrong = [
    ...orgs.filter((o) => count(orgCreated, o.metadata.uid) !== 1).map((o) => `${o.metadata.name}: ${count(orgCreated, o.metadata.uid)}`),
    ...vdcs.filter((v) => count(vdcCreated, v.metadata.uid) !== 1).map((v) => `${v.metadata.namespace}/${v.metadata.name}: ${count(vdcCreated, v.metadata.uid)}`),
  ];
  expect(orgs.length + vdcs.length, 'objects of the storm').to.equal(storm.organizations.length + storm.vdcs.length);
  expect(wrong, 'objects whose Created event is missing or repeated').to.deep.equal([]);
}

/**
 * The operator's events API agrees with the API server: `total_count` for `namespace` (all
 * namespaces without one) equals the API server's Event count there. Waited for: Events keep
 * coming while objects settle.
 */
export async function expectStoreMatches(op: OperatorProcess, api: KubeClient, namespace?: string): Promise<void> {
  const count = async () => (await api.list(namespace ? `/api/v1/namespaces/${namespace}/events` : '/api/v1/events')).items.length;
  const apiTotal = async () => ((await op.get(`/api/v1/events?${namespace ? `namespace=${namespace}&` : ''}limit=1`)).json as { total_count: number }).total_count;
  await waitFor(`total_count ${namespace ? `of ${namespace} ` : ''}= the API server's Event count`, async () => (await apiTotal()) === (await count()), { timeoutMs: 60_000 });
}
