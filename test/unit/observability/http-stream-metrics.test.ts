// The live stream's responses are hijacked (fastify skips onResponse for them): they are counted
// in ovim_api_requests_total and ovim_api_request_duration_seconds when they close.
import { expect } from 'chai';
import { startServer, token, type TestServer } from '../http/support.js';
import { waitFor } from '../../support/wait.js';

const ROUTE = 'route="/api/v1/events/stream"';

async function value(server: TestServer, name: string, labels: string): Promise<number> {
  const text = await server.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((p) => l.includes(p)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('HTTP metrics of the live stream', function () {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => server?.close());

  it('counts a stream (200) when it closes, with its duration; a refused stream (400) as before', async () => {
    const tok = await token('system_admin');
    expect(await value(server, 'ovim_api_requests_total', `${ROUTE},code="200"`)).to.equal(0);
    const abort = new AbortController();
    const res = await fetch(`${server.url}/api/v1/events/stream`, { headers: { authorization: `Bearer ${tok}` }, signal: abort.signal });
    expect(res.status).to.equal(200);
    // Open: not counted yet (it has no status of its end, no duration).
    expect(await value(server, 'ovim_api_requests_total', `${ROUTE},code="200"`)).to.equal(0);
    abort.abort();
    await res.body?.cancel().catch(() => undefined);
    await waitFor('the closed stream counted', async () => (await value(server, 'ovim_api_requests_total', `${ROUTE},method="GET",code="200"`)) === 1 || undefined);
    expect(await value(server, 'ovim_api_request_duration_seconds_count', `${ROUTE},method="GET"`)).to.equal(1);
    const bad = await fetch(`${server.url}/api/v1/events/stream?until=2020-01-01T00:00:00Z`, { headers: { authorization: `Bearer ${tok}` } });
    expect(bad.status).to.equal(400);
    await bad.text();
    await waitFor('the 400 counted once', async () => (await value(server, 'ovim_api_requests_total', `${ROUTE},code="400"`)) === 1 || undefined);
    expect(await value(server, 'ovim_api_requests_total', `${ROUTE},code="200"`)).to.equal(1);
  });
});
