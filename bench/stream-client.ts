// A load process of `npm run bench:stream` (bench/stream.ts starts it): role `streams` opens one
// SSE connection per token and records, per event, the delay from the store's insert (the
// event's message carries that instant) to its arrival here; role `list` asks for the list's
// first page again and again and records each answer's latency. Reports to the parent over IPC.
import { request, Agent } from 'node:http';
import { performance } from 'node:perf_hooks';

interface Job {
  role: 'streams' | 'list';
  url: string;
  tokens: string[];
}

const now = () => performance.timeOrigin + performance.now();
const delays: number[] = [];
const latencies: number[] = [];
let stopped = false;
let open = 0;
let errors = 0;

function stream(url: string, token: string): void {
  const req = request(`${url}/api/v1/events/stream?limit=1`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
    if (res.statusCode !== 200) {
      errors++;
      res.resume();
      return;
    }
    open++;
    process.send?.({ type: 'open', open });
    res.setEncoding('utf8');
    let carry = '';
    res.on('data', (chunk: string) => {
      const at = now();
      const text = carry + chunk;
      const re = /"message":"t=([0-9.]+)"/g;
      let m: RegExpExecArray | null;
      let end = 0;
      while ((m = re.exec(text))) {
        delays.push(at - Number(m[1]));
        end = re.lastIndex;
      }
      carry = text.slice(Math.max(end, text.length - 200));
    });
    res.on('end', () => open--);
  });
  req.on('error', () => errors++);
  req.end();
}

async function list(url: string, token: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (!stopped) {
    const t0 = now();
    await new Promise<void>((resolve) => {
      const req = request(`${url}/api/v1/events?limit=50`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(now() - t0);
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
    // About 50 requests a second: a panel user's load, not a flood.
    await new Promise((r) => setTimeout(r, 20));
  }
}

process.on('message', (msg: { type: string } & Partial<Job>) => {
  if (msg.type === 'start') {
    const job = msg as Job;
    if (job.role === 'streams') for (const t of job.tokens) stream(job.url, t);
    else void list(job.url, job.tokens[0] as string);
  } else if (msg.type === 'reset') {
    delays.length = 0;
    latencies.length = 0;
  } else if (msg.type === 'stop') {
    stopped = true;
    process.send?.({ type: 'result', delays, latencies, errors, open }, () => process.exit(0));
  }
});
process.send?.({ type: 'ready' });
