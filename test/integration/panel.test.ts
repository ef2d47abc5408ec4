// The events panel in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against the API fed from a real control plane, with the archive on (stats, export, cursors):
// sign-in kept for the tab, every filter changes the request and the rows, the URL reproduces a
// view, the chart's bars equal the stats endpoint's numbers, one object's timeline, live mode and
// its pause, exports, planted HTML shown as text, keyboard use, and screenshots at a desktop's
// 1280×800 and a phone's 390×844 saved under test-output/panel/.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { NamespaceOwners } from '../../src/events/owners.js';
import { EVENTS_INFORMER, EventStore, type EventObject } from '../../src/events/store.js';
import type { ResilientInformer } from '../../src/kube/informer.js';
import { signToken } from '../../src/http/auth.js';
import { createApiServer, type ApiServer } from '../../src/http/server.js';
import { HistoryArchive } from '../../src/history/archive.js';
import { SqliteEngine } from '../../src/history/sqlite.js';
import { createMetrics } from '../../src/metrics.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import { informerFor } from '../support/informers.js';

const SECRET = 'panel-secret-0123456789abcdef0123';
const NS_A = 'panel-a';
const NS_B = 'panel-b';
const XSS = '<img src=x onerror="window.__xss=1">';
export const SCREENSHOT_DIR = join(process.cwd(), 'test-output', 'panel');

/** An element with data attributes (the tests compile without the DOM library; used inside the page). */
type WithData = { dataset: Record<string, string | undefined> };

interface Planted {
  name: string;
  namespace: string;
  kind: string;
  object: string;
  reason: string;
  type?: 'Normal' | 'Warning';
  message?: string;
  component?: string;
  actor?: string;
  organization?: string;
  vdc?: string;
  /** Seconds before the suite's base time. */
  ago: number;
}

const planted: Planted[] = [
  { name: 'p1', namespace: NS_A, kind: 'VirtualMachine', object: 'vm-1', reason: 'PanelVMStarted', actor: 'panel-alice', organization: 'porg', vdc: 'pv1', ago: 300 },
  { name: 'p2', namespace: NS_A, kind: 'VirtualMachine', object: 'vm-1', reason: 'PanelStartupFailed', type: 'Warning', message: XSS, actor: 'panel-bob', organization: 'porg', vdc: 'pv1', ago: 240 },
  { name: 'p3', namespace: NS_A, kind: 'VirtualMachine', object: 'vm-1', reason: 'PanelVMStopped', actor: 'panel-alice', organization: 'porg', vdc: 'pv1', ago: 180 },
  { name: 'p4', namespace: NS_B, kind: 'VirtualDataCenter', object: 'pv2', reason: 'PanelVDCCreated', component: 'ovim-webhook', actor: 'panel-carol', organization: 'porg2', vdc: 'pv2', ago: 120 },
  { name: 'p5', namespace: NS_B, kind: 'Pod', object: 'launcher', reason: 'PanelPulled', component: 'ovim-launcher', ago: 60 },
  { name: 'p6', namespace: NS_A, kind: 'VirtualMachine', object: 'vm-9', reason: 'PanelOld', type: 'Warning', ago: 3 * 86400 },
];

describe('events panel in Chromium', function () {
  let core: CoreV1Api;
  let store: EventStore;
  let informer: ResilientInformer<EventObject>;
  let archive: HistoryArchive;
  let server: ApiServer;
  let url: string;
  let dir: string;
  let browser: Browser | undefined;
  let page: Page;
  let admin: string;
  const base = Math.floor(Date.now() / 1000) * 1000;
  const apiCalls: string[] = [];

  const until = (what: string, probe: () => Promise<boolean>, timeoutMs = 15_000) => waitFor(what, async () => (await probe()) || undefined, { timeoutMs, intervalMs: 50 });

  async function plant(p: Planted, at = new Date(base - p.ago * 1000)): Promise<void> {
    const annotations: Record<string, string> = {};
    if (p.actor) annotations['ovim.io/actor'] = p.actor;
    if (p.organization) annotations['ovim.io/organization'] = p.organization;
    if (p.vdc) annotations['ovim.io/vdc'] = p.vdc;
    await core.createNamespacedEvent({
      namespace: p.namespace,
      body: {
        metadata: { name: `${p.object}.${p.name}`, namespace: p.namespace, annotations },
        involvedObject: { kind: p.kind, name: p.object, namespace: p.namespace },
        type: p.type ?? 'Normal',
        reason: p.reason,
        message: p.message ?? `${p.reason} of ${p.object}`,
        source: { component: p.component ?? 'ovim-controller' },
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      },
    });
  }

  async function api(path: string): Promise<{ events: { id: string; reason: string; [k: string]: unknown }[]; total_count: number; [k: string]: unknown }> {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status, path).to.equal(200);
    return (await res.json()) as never;
  }

  const rows = (p: Page = page) =>
    p.$$eval('#events tbody tr', (trs) =>
      trs.map((tr) => ({
        id: (tr as unknown as WithData).dataset.id ?? '',
        type: tr.querySelector('td.type')?.textContent ?? '',
        namespace: tr.querySelector('td.namespace')?.textContent ?? '',
        reason: tr.querySelector('td.reason')?.textContent ?? '',
        message: tr.querySelector('td.message')?.textContent ?? '',
        actor: tr.querySelector('td.actor')?.textContent ?? '',
        organization: tr.querySelector('td.organization')?.textContent ?? '',
        vdc: tr.querySelector('td.vdc')?.textContent ?? '',
      })),
    );
  const reasons = async (p: Page = page) => (await rows(p)).map((r) => r.reason);

  /** Sets exactly these filters through the form, applies them, and waits for the rows the API gives. */
  async function applyFilters(filters: Record<string, string>, range = ''): Promise<string> {
    await page.click('#clear');
    for (const [key, value] of Object.entries(filters)) {
      if (key === 'type') await page.selectOption('#type', value);
      else await page.fill(`#${key}`, value);
    }
    const calls = apiCalls.length;
    if (range) await page.click(`[data-preset="${range}"]`);
    else await page.click('#apply');
    await until('the list request', async () => apiCalls.slice(calls).some((c) => c.includes('/api/v1/events?')));
    const request = apiCalls.slice(calls).filter((c) => c.includes('/api/v1/events?')).at(-1) as string;
    const query = new URL(request).search;
    const expected = (await api(`/api/v1/events${query}`)).events.map((e) => e.id);
    await until(`the rows of ${query}`, async () => JSON.stringify((await rows()).map((r) => r.id)) === JSON.stringify(expected));
    return request;
  }

  before(async function () {
    this.timeout(180_000);
    const cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    for (const ns of [NS_A, NS_B]) await core.createNamespace({ body: { metadata: { name: ns } } });
    dir = mkdtempSync(join(tmpdir(), 'ovim-panel-'));
    const owners = new NamespaceOwners();
    store = new EventStore({ namespaceOwners: owners });
    informer = await informerFor(cp.kubeConfig, EVENTS_INFORMER);
    store.follow(informer);
    archive = await HistoryArchive.open({ engine: new SqliteEngine(join(dir, 'history.db')), owners, flushDelayMs: 20 });
    archive.follow(informer);
    informer.start();
    await informer.waitForSync();
    server = createApiServer({
      store,
      history: archive,
      auth: { secret: new TextEncoder().encode(SECRET) },
      metrics: createMetrics(),
      health: { kubernetesReachable: () => true, informersSynced: () => informer.hasSynced(), leadership: () => 'disabled' },
    });
    url = await server.listen('127.0.0.1:0');
    admin = await signToken({ userId: '1', username: 'root', role: 'system_admin' }, SECRET);
    for (const p of planted) await plant(p);
    await until('the planted events in the archive', async () => (await api(`/api/v1/events?reason=PanelPulled`)).total_count === 1 && (await api(`/api/v1/events?namespace=${NS_A}&since=2000-01-01T00:00:00Z`)).total_count === 4, 30_000);

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('request', (req) => {
      if (req.url().includes('/api/v1/events')) apiCalls.push(req.url());
    });
    await page.goto(`${url}/`);
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close();
    informer?.stop();
    await server?.close();
    await archive?.close();
    for (const ns of [NS_A, NS_B]) await core?.deleteNamespace({ name: ns }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('says when a token is rejected, and keeps a good one for the tab only', async function () {
    this.timeout(30_000);
    expect(await page.title()).to.equal('OVIM events');
    expect(await page.textContent('#status')).to.match(/Enter a token/);
    await page.fill('#token', 'not-a-token');
    await page.click('#use-token');
    await until('the rejection', async () => /Token rejected/.test((await page.textContent('#status')) ?? ''));
    await page.fill('#token', admin);
    await page.click('#use-token');
    await until('rows', async () => (await rows()).length > 0);
    expect(await page.inputValue('#token')).to.equal('', 'the token is not left in the field');
    const storage = await page.evaluate("({ session: sessionStorage.getItem('ovim-events-token'), local: localStorage.length })");
    expect(storage).to.deep.equal({ session: admin, local: 0 });
    expect(page.url()).to.not.contain(admin.slice(0, 20));
    expect(apiCalls.every((c) => !c.includes(admin.slice(0, 20)))).to.equal(true);
  });

  const filterCases: { filters: Record<string, string>; param: string; check: (r: Awaited<ReturnType<typeof rows>>[number]) => boolean; includes: string }[] = [
    { filters: { type: 'Warning', namespace: NS_A }, param: 'type=Warning', check: (r) => r.type === 'Warning', includes: 'PanelStartupFailed' },
    { filters: { namespace: NS_B }, param: `namespace=${NS_B}`, check: (r) => r.namespace === NS_B, includes: 'PanelPulled' },
    { filters: { reason: 'PanelVDCCreated' }, param: 'reason=PanelVDCCreated', check: (r) => r.reason === 'PanelVDCCreated', includes: 'PanelVDCCreated' },
    { filters: { kind: 'VirtualDataCenter', namespace: NS_B }, param: 'kind=VirtualDataCenter', check: (r) => r.reason === 'PanelVDCCreated', includes: 'PanelVDCCreated' },
    { filters: { name: 'vm-1', namespace: NS_A }, param: 'name=vm-1', check: (r) => r.namespace === NS_A && r.reason !== 'PanelOld', includes: 'PanelVMStopped' },
    { filters: { organization: 'porg2' }, param: 'organization=porg2', check: (r) => r.organization === 'porg2', includes: 'PanelVDCCreated' },
    { filters: { vdc: 'pv1' }, param: 'vdc=pv1', check: (r) => r.vdc === 'pv1', includes: 'PanelStartupFailed' },
    { filters: { actor: 'panel-alice' }, param: 'actor=panel-alice', check: (r) => r.actor.startsWith('panel-alice'), includes: 'PanelVMStarted' },
    { filters: { component: 'ovim-launcher' }, param: 'component=ovim-launcher', check: (r) => r.reason === 'PanelPulled', includes: 'PanelPulled' },
    {
      filters: { namespace: NS_A, until: new Date(base - 200_000).toISOString().replace('.000Z', 'Z') },
      param: 'until=',
      check: (r) => r.reason !== 'PanelVMStopped',
      includes: 'PanelStartupFailed',
    },
    { filters: { namespace: NS_A, since: new Date(base - 250_000).toISOString().replace('.000Z', 'Z') }, param: 'since=', check: (r) => r.reason !== 'PanelVMStarted', includes: 'PanelStartupFailed' },
  ];
  for (const c of filterCases) {
    it(`filter ${Object.keys(c.filters).join(' + ')} changes the request and the rows`, async function () {
      this.timeout(30_000);
      const request = await applyFilters(c.filters);
      expect(request).to.contain(c.param);
      const shown = await rows();
      expect(shown.length).to.be.greaterThan(0);
      expect(shown.every(c.check), JSON.stringify(shown.map((r) => r.reason))).to.equal(true);
      expect(shown.map((r) => r.reason)).to.include(c.includes);
    });
  }

  it('time presets: 24 h leaves out a 3-day-old event, 7 d shows it', async function () {
    this.timeout(30_000);
    await page.fill('#namespace', NS_A);
    let request = await applyFilters({ namespace: NS_A }, '24h');
    expect(request).to.contain('since=');
    expect(await reasons()).to.not.include('PanelOld');
    expect(await reasons()).to.include('PanelVMStarted');
    request = await applyFilters({ namespace: NS_A }, '7d');
    expect(await reasons()).to.include('PanelOld');
    expect(page.url()).to.contain('range=7d');
  });

  it('shows the actor (marked unverified), organization and VDC, and planted HTML as text', async function () {
    this.timeout(30_000);
    await applyFilters({ name: 'vm-1', namespace: NS_A });
    const failed = (await rows()).find((r) => r.reason === 'PanelStartupFailed');
    expect(failed?.message).to.equal(XSS);
    expect(failed?.actor).to.equal('panel-bob(unverified)');
    expect(failed?.organization).to.equal('porg');
    expect(failed?.vdc).to.equal('pv1');
    expect(await page.evaluate('window.__xss')).to.equal(undefined);
    expect(await page.$$('#events tbody img')).to.have.length(0);
  });

  it("colours each row by its category with the categories endpoint's colours", async function () {
    this.timeout(30_000);
    const request = await applyFilters({ namespace: NS_B });
    const want = (await api(`/api/v1/events${new URL(request).search}`)).events.map((e) => [e.id, e.category]);
    const colours = (await (await fetch(`${url}/api/v1/events/categories`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { categories: { name: string; color: string }[] };
    const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;
    const shown = await page.$$eval('#events tbody tr', (trs) =>
      trs.map((tr) => {
        const swatch = tr.querySelector('td.time .cat-swatch');
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the page's window (the tests compile without the DOM library)
        const style = swatch ? (globalThis as any).getComputedStyle(swatch).backgroundColor : '';
        return [(tr as unknown as WithData).dataset.id ?? '', swatch ? ((swatch as unknown as WithData).dataset.category ?? '') : '', style];
      }),
    );
    expect(shown.map(([id, category]) => [id, category])).to.deep.equal(want);
    expect(new Set(shown.map(([, category]) => category))).to.deep.equal(new Set(['vdc', 'system']));
    for (const [, category, style] of shown) {
      expect(style, category).to.equal(rgb(colours.categories.find((c) => c.name === category)?.color ?? ''));
    }
  });

  it('the URL reproduces a view (filters, never the token)', async function () {
    this.timeout(30_000);
    await applyFilters({ type: 'Normal', namespace: NS_A, actor: 'panel-alice' });
    const link = page.url();
    expect(link).to.contain('type=Normal').and.contain(`namespace=${NS_A}`).and.contain('actor=panel-alice');
    expect(link).to.not.contain(admin.slice(0, 20));
    const shown = (await rows()).map((r) => r.id);
    const other = await page.context().browser()!.newPage(); // another tab: no token yet
    try {
      await other.goto(link);
      expect(await other.inputValue('#namespace')).to.equal(NS_A);
      expect(await other.inputValue('#actor')).to.equal('panel-alice');
      expect(await other.inputValue('#type')).to.equal('Normal');
      expect(await other.textContent('#status')).to.match(/Enter a token/);
      await other.fill('#token', admin);
      await other.click('#use-token');
      await until('the same rows in the other tab', async () => JSON.stringify((await rows(other)).map((r) => r.id)) === JSON.stringify(shown));
    } finally {
      await other.close();
    }
  });

  it('pages with the cursor', async function () {
    this.timeout(30_000);
    // More than one page of this namespace: 55 more events.
    for (let i = 0; i < 55; i++) await plant({ name: `bulk${i}`, namespace: NS_B, kind: 'Pod', object: `bulk-${i}`, reason: 'PanelBulk', ago: 1000 + i });
    await until('bulk in the archive', async () => (await api(`/api/v1/events?reason=PanelBulk`)).total_count === 55, 30_000);
    await applyFilters({ reason: 'PanelBulk' });
    const first = (await rows()).map((r) => r.id);
    expect(first).to.have.length(50);
    await page.click('#next-page');
    await until('page 2', async () => (await rows()).length === 5);
    expect(apiCalls.some((c) => c.includes('/api/v1/events?') && c.includes('cursor='))).to.equal(true);
    const second = (await rows()).map((r) => r.id);
    expect(second.filter((id) => first.includes(id))).to.deep.equal([]);
    await page.click('#prev-page');
    await until('page 1 again', async () => JSON.stringify((await rows()).map((r) => r.id)) === JSON.stringify(first));
  });

  it("the chart's bars equal the stats endpoint's numbers", async function () {
    this.timeout(30_000);
    const calls = apiCalls.length;
    await applyFilters({ namespace: NS_A }, '7d');
    await until('the stats request', async () => apiCalls.slice(calls).some((c) => c.includes('/stats?') && c.includes('group_by=type')));
    const statsUrl = new URL(apiCalls.slice(calls).filter((c) => c.includes('/stats?') && c.includes('group_by=type')).at(-1) as string);
    const stats = (await api(`/api/v1/events/stats${statsUrl.search}`)) as unknown as { buckets: { start: string; total: number; counts: { key: string; count: number }[] }[]; total: number };
    expect(stats.total).to.equal(4);
    await until('bars drawn', async () => (await page.$$('#chart .bar')).length > 0);
    const bars = await page.$$eval('#chart .bar', (els) =>
      els.map((b) => ({ total: Number((b as unknown as WithData).dataset.total), segs: [...b.querySelectorAll('.seg')].map((s) => [(s as unknown as WithData).dataset.type, Number((s as unknown as WithData).dataset.count)]) })),
    );
    const nonEmpty = bars.filter((b) => b.total > 0);
    expect(nonEmpty.map((b) => b.total)).to.deep.equal(stats.buckets.map((b) => b.total));
    expect(nonEmpty.map((b) => b.segs)).to.deep.equal(stats.buckets.map((b) => b.counts.map((c) => [c.key, c.count])));
    const top = await page.$$eval('#reasons li', (lis) => lis.map((li) => (li as unknown as WithData).dataset.reason));
    expect(top).to.include.members(['PanelVMStarted', 'PanelStartupFailed', 'PanelVMStopped', 'PanelOld']);
  });

  it("clicking an object shows exactly its events in order, and the describe line; keyboard only", async function () {
    this.timeout(30_000);
    await applyFilters({ namespace: NS_A }, '7d');
    const button = page.locator('#events tbody tr', { hasText: 'PanelVMStopped' }).locator('button.object');
    await button.focus();
    await page.keyboard.press('Enter');
    await until('the timeline', async () => (await page.$$('#timeline-events li')).length === 3);
    const items = await page.$$eval('#timeline-events li', (lis) => lis.map((li) => li.textContent ?? ''));
    expect(items.map((t) => /Panel\w+/.exec(t)?.[0])).to.deep.equal(['PanelVMStarted', 'PanelStartupFailed', 'PanelVMStopped']);
    expect(items[1]).to.contain(XSS);
    expect(await page.inputValue('#describe')).to.equal(`kubectl describe virtualmachine vm-1 -n ${NS_A}`);
    expect(page.url()).to.contain(`object=VirtualMachine%2F${NS_A}%2Fvm-1`);
    await page.keyboard.press('Escape');
    await until('timeline closed', async () => await page.isHidden('#timeline'));
  });

  it('exports the view as NDJSON and CSV', async function () {
    this.timeout(30_000);
    await applyFilters({ namespace: NS_A }, '7d');
    for (const format of ['ndjson', 'csv']) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#export-${format}`)]);
      const text = readFileSync((await download.path()) as string, 'utf8');
      const lines = text.split(/\r?\n/).filter(Boolean);
      expect(lines.length, format).to.equal(format === 'csv' ? 5 : 4);
      if (format === 'ndjson') expect(lines.map((l) => JSON.parse(l).namespace)).to.deep.equal([NS_A, NS_A, NS_A, NS_A]);
    }
  });

  it('live mode shows a new event within 2 s, and stops when paused', async function () {
    this.timeout(60_000);
    await applyFilters({ namespace: NS_A });
    const opened = server.stream.stats().open;
    const delivered = server.stream.stats().delivered;
    await page.click('#live');
    expect(await page.getAttribute('#live', 'aria-pressed')).to.equal('true');
    // Open, and its snapshot sent (it ends with the ready message): what follows is live.
    await until('the stream open', async () => server.stream.stats().open === opened + 1 && server.stream.stats().delivered > delivered);
    await plant({ name: 'live1', namespace: NS_A, kind: 'VirtualMachine', object: 'vm-live', reason: 'PanelLiveOne', ago: -1 }, new Date());
    await until('the event in the store', async () => [...store.records()].some((r) => r.reason === 'PanelLiveOne'));
    await until('the live row within 2 s', async () => (await reasons()).includes('PanelLiveOne'), 2_000);

    await page.click('#pause');
    expect(await page.textContent('#pause')).to.equal('Resume');
    const before = server.stream.stats().delivered;
    await plant({ name: 'live2', namespace: NS_A, kind: 'VirtualMachine', object: 'vm-live', reason: 'PanelWhilePaused', ago: -2 }, new Date(Date.now() + 1000));
    await until('delivered to the paused page', async () => server.stream.stats().delivered > before);
    expect(await reasons()).to.not.include('PanelWhilePaused');
    await page.click('#pause');
    await until('the event after resuming', async () => (await reasons()).includes('PanelWhilePaused'));
    await page.click('#live');
    await until('the stream closed', async () => server.stream.stats().open === opened);
  });

  it('is readable at 1280×800 and at 390×844 (screenshots saved)', async function () {
    this.timeout(30_000);
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await applyFilters({ namespace: NS_A }, '7d');
    await until('bars drawn', async () => (await page.$$('#chart .bar .seg')).length > 0);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'panel-1280x800.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    // No sideways scrolling on a phone: the page is no wider than the screen.
    const width = await page.evaluate('document.documentElement.scrollWidth');
    expect(width).to.be.at.most(390);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'panel-390x844.png') });
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'panel-390x844-full.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
