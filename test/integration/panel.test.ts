// The events panel in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against the API fed from a real control plane: enter a token, see the events, filter by type,
// auto-refresh and pause. The page's timers run on Playwright's fake clock, so refresh intervals
// are stepped through instead of waited for.
import { expect } from 'chai';
import { CoreV1Api } from '@kubernetes/client-node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { EventStore, type EventObject } from '../../src/events/store.js';
import { ResilientInformer } from '../../src/kube/informer.js';
import { signToken } from '../../src/http/auth.js';
import { createApiServer, type ApiServer } from '../../src/http/server.js';
import { createMetrics } from '../../src/metrics.js';
import { controlPlane } from '../support/hooks.js';
import { waitFor } from '../support/wait.js';
import type { ControlPlane } from '../support/controlplane.js';

const SECRET = 'panel-secret-0123456789abcdef0123';
const NS = 'panel-test';
/** A second namespace, so that the namespace filter has rows to take away. */
const OTHER_NS = 'panel-test-other';
const XSS = '<img src=x onerror="window.__xss=1">';

describe('events panel in Chromium', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let store: EventStore;
  const informers: ResilientInformer<EventObject>[] = [];
  let server: ApiServer;
  let url: string;
  let browser: Browser | undefined;
  let page: Page;
  let seq = 0;
  let base = 0;

  async function createEvent(type: 'Normal' | 'Warning', reason: string, message: string, namespace = NS): Promise<void> {
    // One second apart: Event timestamps have second precision, and ties would sort by name.
    const now = new Date(base + ++seq * 1000);
    await core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name: `panel.${seq}`, namespace },
        involvedObject: { kind: 'VirtualMachine', name: `vm-${seq}`, namespace },
        type,
        reason,
        message,
        source: { component: 'ovim-controller' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    await waitFor(`${reason} in the store`, async () => [...store.records()].some((r) => r.reason === reason));
  }

  const rows = () =>
    page.$$eval('#events tbody tr', (trs) =>
      trs.map((tr) => ({
        type: tr.querySelector('td.type')?.textContent ?? '',
        reason: tr.querySelector('td.reason')?.textContent ?? '',
        message: tr.querySelector('td.message')?.textContent ?? '',
      })),
    );
  /** Polls the page (the panel's CSP forbids the string predicates of waitForFunction). */
  const until = (what: string, probe: () => Promise<boolean>) => waitFor(what, probe, { timeoutMs: 15_000, intervalMs: 50 });
  const reasons = async () => (await rows()).map((r) => r.reason);
  const apiCalls: string[] = [];

  before(async function () {
    this.timeout(180_000);
    cp = await controlPlane();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    store = new EventStore();
    // Only this test's two namespaces: the shared control plane holds other suites' events,
    // some newer than these, and the page shows the newest first.
    for (const namespace of [NS, OTHER_NS]) {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      const informer = new ResilientInformer<EventObject>(cp.kubeConfig, {
        path: `/api/v1/namespaces/${namespace}/events`,
        list: (o) => core.listNamespacedEvent({ namespace, limit: o.limit, _continue: o._continue }),
      });
      store.follow(informer);
      informer.start();
      await informer.waitForSync();
      informers.push(informer);
    }
    server = createApiServer({
      store,
      auth: { secret: new TextEncoder().encode(SECRET) },
      metrics: createMetrics(),
      health: { kubernetesReachable: () => true, informersSynced: () => informers.every((i) => i.hasSynced()), leadership: () => 'disabled' },
    });
    url = await server.listen('127.0.0.1:0');
    base = Math.floor(Date.now() / 1000) * 1000;
    await createEvent('Normal', 'PanelVMStarted', 'vm started');
    await createEvent('Warning', 'PanelStartupFailed', XSS);
    await createEvent('Normal', 'PanelVMStopped', 'vm stopped');
    await createEvent('Normal', 'OtherNamespaceVMStarted', 'vm started elsewhere', OTHER_NS);

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
    page.on('request', (req) => {
      if (req.url().includes('/api/v1/events')) apiCalls.push(req.url());
    });
    await page.clock.install();
    await page.goto(`${url}/`);
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close();
    for (const i of informers) i.stop();
    await server?.close();
    for (const namespace of [NS, OTHER_NS]) await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('asks for a token first, and says when a token is rejected', async function () {
    this.timeout(30_000);
    expect(await page.title()).to.equal('OVIM events');
    expect(await page.textContent('#status')).to.match(/Enter a token/);
    await page.fill('#token', 'not-a-token');
    await page.click('#use-token');
    await until('the rejection', async () => /Token rejected/.test((await page.textContent('#status')) ?? ''));
    expect(await page.textContent('#status')).to.match(/Token rejected: token is malformed/);
  });

  it('shows the events once a token is entered, newest first, as text', async function () {
    this.timeout(30_000);
    const token = await signToken({ userId: '1', username: 'root', role: 'system_admin' }, SECRET);
    await page.fill('#token', token);
    await page.click('#use-token');
    await until('the four rows', async () => (await rows()).length >= 4);
    const mine = (await rows()).filter((r) => r.reason.startsWith('Panel'));
    expect(mine.map((r) => r.reason)).to.deep.equal(['PanelVMStopped', 'PanelStartupFailed', 'PanelVMStarted']);
    // An event message is data, never markup.
    expect(mine[1]?.message).to.equal(XSS);
    expect(await page.evaluate('window.__xss')).to.equal(undefined);
    expect(await page.inputValue('#token')).to.equal('', 'the token is not left in the field');
    expect(await page.textContent('#status')).to.match(/of \d+ events/);
  });

  it('filters by type', async function () {
    this.timeout(30_000);
    await page.selectOption('#type', 'Warning');
    await until('only warnings', async () => (await rows()).every((r) => r.type === 'Warning'));
    const shown = await rows();
    expect(shown.length).to.be.greaterThan(0);
    expect(shown.every((r) => r.type === 'Warning')).to.equal(true);
    expect(shown.map((r) => r.reason)).to.include('PanelStartupFailed');
    expect(apiCalls.at(-1)).to.contain('type=Warning');

    await page.selectOption('#type', 'Normal');
    await until('only normal events', async () => {
      const shown = await rows();
      return shown.length > 0 && shown.every((r) => r.type === 'Normal');
    });
    expect(await reasons()).to.include.members(['PanelVMStarted', 'PanelVMStopped']);
    await page.selectOption('#type', '');
    await until('all types again', async () => new Set((await rows()).map((r) => r.type)).size === 2);
  });

  it('filters by namespace and reason', async function () {
    this.timeout(30_000);
    await page.fill('#reason', 'PanelVMStopped');
    await page.clock.runFor(400); // the typing debounce
    await until('one row', async () => (await rows()).length === 1);
    expect(await reasons()).to.deep.equal(['PanelVMStopped']);
    await page.fill('#reason', '');
    await page.clock.runFor(400);
    await until('both namespaces\' rows', async () => (await rows()).length === 4);
    expect(await reasons()).to.include('OtherNamespaceVMStarted');
    await page.fill('#namespace', NS);
    await page.clock.runFor(400);
    await until('the namespace\'s rows', async () => (await rows()).length === 3);
    expect(await reasons()).to.deep.equal(['PanelVMStopped', 'PanelStartupFailed', 'PanelVMStarted']);
    expect(apiCalls.at(-1)).to.contain(`namespace=${NS}`);
    await page.fill('#namespace', OTHER_NS);
    await page.clock.runFor(400);
    await until('the other namespace\'s row', async () => (await rows()).length === 1);
    expect(await reasons()).to.deep.equal(['OtherNamespaceVMStarted']);
    // Back to this test's namespace for the refresh test below.
    await page.fill('#namespace', NS);
    await page.clock.runFor(400);
    await until('the namespace\'s rows again', async () => (await rows()).length === 3);
  });

  it('refreshes automatically, and not while paused', async function () {
    this.timeout(60_000);
    await createEvent('Normal', 'PanelAutoRefreshed', 'new while watching');
    await page.clock.runFor(5_500);
    await until('the auto-refreshed event', async () => (await reasons()).includes('PanelAutoRefreshed'));

    await page.click('#pause');
    expect(await page.getAttribute('#pause', 'aria-pressed')).to.equal('true');
    expect(await page.textContent('#pause')).to.equal('Resume');
    await createEvent('Warning', 'PanelWhilePaused', 'new while paused');
    const calls = apiCalls.length;
    await page.clock.runFor(30_000);
    expect(apiCalls.length, 'no requests while paused').to.equal(calls);
    expect(await reasons()).to.not.include('PanelWhilePaused');

    await page.click('#pause');
    expect(await page.textContent('#pause')).to.equal('Pause');
    await until('the event after resuming', async () => (await reasons()).includes('PanelWhilePaused'));
  });
});
