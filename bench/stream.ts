// `npm run bench:stream`: the live tail under load on loopback. 100 SSE clients (one load
// process) follow GET /api/v1/events/stream as system admins while 200 events/s are recorded
// into the EventStore (20,000 deliveries/s); another process asks for the list's first page
// meanwhile. Prints the delivery delay p50/p99 from the store's insert to the client, the
// server's CPU and heap, and the list's p99 — beside the baseline: the same recording rate with
// no stream open (list p99 then) and the targets (delivery p99 <= 250 ms, list p99 <= 2 ms).
//
// Environment: BENCH_STREAM_CLIENTS (100), BENCH_STREAM_RATE (200 events/s), BENCH_SECONDS (10
// per phase), BENCH_STORE_EVENTS (20,000 events in the store before the run).
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { EventStore, type EventObject } from '../src/events/store.js';
import { signToken } from '../src/http/auth.js';
import { createApiServer } from '../src/http/server.js';
import { createMetrics } from '../src/metrics.js';

const CLIENTS = Number(process.env.BENCH_STREAM_CLIENTS ?? 100);
const RATE = Number(process.env.BENCH_STREAM_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const STORE_EVENTS = Number(process.env.BENCH_STORE_EVENTS ?? 20_000);
const SECRET = 'bench-stream-secret-0123456789abcdef';
const now = () => performance.timeOrigin + performance.now();

let seq = 0;
function event(message: string, at = Date.now()): EventObject {
  const n = ++seq;
  const ts = new Date(at).toISOString();
  return {
    metadata: { name: `vm-${n % 500}.${n}`, namespace: `org-o${n % 20}`, uid: `uid-${n}`, annotations: { 'ovim.io/actor': `u${n % 7}` } },
    involvedObject: { kind: 'VirtualMachine', name: `vm-${n % 500}`, namespace: `org-o${n % 20}` },
    type: n % 10 === 0 ? 'Warning' : 'Normal',
    reason: n % 10 === 0 ? 'StartupFailed' : 'VMStarted',
    message,
    source: { component: 'ovim-controller' },
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
  };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function child(): Promise<{ proc: ChildProcess; next: (type: string) => Promise<Record<string, unknown>> }> {
  const proc = fork(fileURLToPath(new URL('./stream-client.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  proc.on('message', (m: Record<string, unknown>) => {
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(m);
  });
  const next = (type: string) => new Promise<Record<string, unknown>>((resolve) => waiters.push({ type, resolve }));
  return next('ready').then(() => ({ proc, next }));
}

/** Records RATE events/s for `seconds`, each carrying its insert instant; returns how many. */
async function record(store: EventStore, seconds: number): Promise<number> {
  const start = now();
  let done = 0;
  while (now() - start < seconds * 1000) {
    const due = Math.floor(((now() - start) / 1000) * RATE);
    for (; done < due; done++) store.upsert(event(`t=${now().toFixed(3)}`));
    await new Promise((r) => setTimeout(r, 5));
  }
  return done;
}

async function main(): Promise<void> {
  const startLoad = loadavg().map((l) => l.toFixed(1)).join(' ');
  const store = new EventStore({ maxEvents: STORE_EVENTS + RATE * SECONDS * 3 });
  for (let i = 0; i < STORE_EVENTS; i++) store.upsert(event(`filler ${i}`, Date.now() - 86_400_000 + i));
  const server = createApiServer({
    store,
    metrics: createMetrics(),
    auth: { secret: new TextEncoder().encode(SECRET) },
    health: { kubernetesReachable: () => true, informersSynced: () => true, leadership: () => 'disabled' },
  });
  // The server's own share of a list answer: fastify's time from the request to the response (no
  // client, no connection queueing), and how long the server's event loop was held up.
  let serverListMs: number[] = [];
  server.app.addHook('onResponse', async (req, reply) => {
    if (req.url.startsWith('/api/v1/events?') || req.url === '/api/v1/events') serverListMs.push(reply.elapsedTime);
  });
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const url = await server.listen('127.0.0.1:0');
  const tokens: string[] = [];
  for (let i = 0; i < CLIENTS; i++) tokens.push(await signToken({ userId: `b${i}`, username: `bench${i}`, role: 'system_admin' }, SECRET));

  const lister = await child();
  lister.proc.send({ type: 'start', role: 'list', url, tokens: [tokens[0]] });

  // Phase 1, the baseline: recording, no stream open.
  let cpu = process.cpuUsage();
  let t0 = now();
  const heap0 = process.memoryUsage().heapUsed;
  await record(store, SECONDS);
  const baseCpu = process.cpuUsage(cpu);
  const baseSeconds = (now() - t0) / 1000;
  lister.proc.send({ type: 'stop' });
  const base = (await lister.next('result')) as { latencies: number[] };
  const baseServerList = serverListMs;
  serverListMs = [];
  const baseLoop = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };

  // Phase 2: CLIENTS streams.
  const streams = await child();
  streams.proc.send({ type: 'start', role: 'streams', url, tokens });
  await new Promise<void>((resolve) => {
    streams.proc.on('message', (m: { type: string; open?: number }) => {
      if (m.type === 'open' && m.open === CLIENTS) resolve();
    });
  });
  const lister2 = await child();
  lister2.proc.send({ type: 'start', role: 'list', url, tokens: [tokens[0]] });
  streams.proc.send({ type: 'reset' });
  serverListMs = [];
  loopDelay.reset();
  let heapMax = 0;
  const heapTimer = setInterval(() => (heapMax = Math.max(heapMax, process.memoryUsage().heapUsed)), 100);
  cpu = process.cpuUsage();
  t0 = now();
  const recorded = await record(store, SECONDS);
  const loadCpu = process.cpuUsage(cpu);
  const loadSeconds = (now() - t0) / 1000;
  clearInterval(heapTimer);
  // Let the last deliveries land, then collect.
  const deliveredBefore = server.stream.stats().delivered;
  await new Promise((r) => setTimeout(r, 1000));
  lister2.proc.send({ type: 'stop' });
  streams.proc.send({ type: 'stop' });
  const load = (await lister2.next('result')) as { latencies: number[] };
  const got = (await streams.next('result')) as { delays: number[]; errors: number; open: number };
  const stats = server.stream.stats();
  const loadLoop = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  loopDelay.disable();

  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const cpuPct = (u: NodeJS.CpuUsage, s: number) => `${(((u.user + u.system) / 1e6 / s) * 100).toFixed(0)}% of one core`;
  console.log(`bench:stream — ${CLIENTS} SSE clients, ${RATE} events/s for ${SECONDS} s, ${STORE_EVENTS} events in the store; load average ${startLoad} at the start`);
  console.log('');
  console.log('                          baseline (no streams)     with streams        target');
  console.log(`events recorded           ${String(Math.round((RATE * baseSeconds))).padEnd(26)}${String(recorded).padEnd(20)}`);
  console.log(`deliveries                ${'0'.padEnd(26)}${String(got.delays.length).padEnd(20)}${recorded * CLIENTS} expected`);
  console.log(`delivery delay p50        ${'-'.padEnd(26)}${ms(percentile(got.delays, 50)).padEnd(20)}`);
  console.log(`delivery delay p99        ${'-'.padEnd(26)}${ms(percentile(got.delays, 99)).padEnd(20)}<= 250 ms`);
  console.log(`delivery delay max        ${'-'.padEnd(26)}${ms(got.delays.reduce((a, b) => Math.max(a, b), 0)).padEnd(20)}`);
  console.log(`server CPU                ${cpuPct(baseCpu, baseSeconds).padEnd(26)}${cpuPct(loadCpu, loadSeconds).padEnd(20)}`);
  console.log(`server heap (max)         ${`${(heap0 / 2 ** 20).toFixed(0)} MiB`.padEnd(26)}${`${(heapMax / 2 ** 20).toFixed(0)} MiB`.padEnd(20)}`);
  console.log(`list p50                  ${ms(percentile(base.latencies, 50)).padEnd(26)}${ms(percentile(load.latencies, 50)).padEnd(20)}`);
  console.log(`list p99                  ${ms(percentile(base.latencies, 99)).padEnd(26)}${ms(percentile(load.latencies, 99)).padEnd(20)}<= 2 ms`);
  console.log(`list, server side p50     ${ms(percentile(baseServerList, 50)).padEnd(26)}${ms(percentile(serverListMs, 50)).padEnd(20)}(fastify request -> response)`);
  console.log(`list, server side p99     ${ms(percentile(baseServerList, 99)).padEnd(26)}${ms(percentile(serverListMs, 99)).padEnd(20)}`);
  console.log(`server event-loop delay   ${`p99 ${ms(baseLoop.p99)}, max ${ms(baseLoop.max)}`.padEnd(26)}${`p99 ${ms(loadLoop.p99)}, max ${ms(loadLoop.max)}`.padEnd(20)}`);
  console.log(`list requests             ${String(base.latencies.length).padEnd(26)}${String(load.latencies.length).padEnd(20)}`);
  console.log(`streams dropped           ${'-'.padEnd(26)}${String(stats.dropped).padEnd(20)}0; peak bytes queued per stream ${stats.peakBufferedBytes}`);
  console.log(`client errors             ${'-'.padEnd(26)}${String(got.errors).padEnd(20)}; hub deliveries counted ${deliveredBefore}`);
  console.log(`load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (const c of [lister, lister2, streams]) c.proc.kill();
  await server.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
