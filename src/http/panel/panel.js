// The events panel: one page, no build step, no framework. Every filter of the API (kept in the
// page's URL so a link shows the same view; the token never is), cursor pages, a chart from
// /api/v1/events/stats, one object's timeline, a live tail read from /api/v1/events/stream with a
// streaming fetch (EventSource cannot send the Authorization header), exports. Everything from the
// API is rendered as text, never as HTML. The token is kept for this tab only (sessionStorage).
'use strict';

(function () {
  const TOKEN_KEY = 'ovim-events-token';
  const FILTERS = ['type', 'namespace', 'reason', 'kind', 'name', 'organization', 'vdc', 'actor', 'component', 'since', 'until'];
  const PRESETS = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };
  const PAGE_SIZE = 50;
  const MAX_ROWS = 500;
  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const tbody = document.querySelector('#events tbody');

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let cursors = [undefined]; // cursor of each page seen; the last one is the current page's
  let nextCursor = undefined;
  let page = 1;
  let inflight = undefined;
  let generation = 0;
  let live = undefined; // { controller, paused }
  let lastEventId = undefined;
  let preset = '';

  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function formatTime(value) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
  }

  // --- filters and the URL ---------------------------------------------------------------------

  function filters() {
    const out = {};
    for (const key of FILTERS) {
      const v = $(key).value.trim();
      if (v) out[key] = v;
    }
    if (preset && PRESETS[preset]) {
      out.since = new Date(Date.now() - PRESETS[preset]).toISOString().replace(/\.\d{3}Z$/, 'Z');
      delete out.until;
    }
    return out;
  }

  function writeUrl() {
    const params = new URLSearchParams();
    for (const key of FILTERS) {
      const v = $(key).value.trim();
      if (v && !(preset && (key === 'since' || key === 'until'))) params.set(key, v);
    }
    if (preset) params.set('range', preset);
    if (timelineObject) params.set('object', timelineObject.join('/'));
    const search = params.toString();
    history.replaceState(null, '', search ? '?' + search : location.pathname);
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    for (const key of FILTERS) $(key).value = params.get(key) || '';
    preset = PRESETS[params.get('range')] ? params.get('range') : '';
    markPreset();
    const object = params.get('object');
    if (object && object.split('/').length === 3) timelineObject = object.split('/');
  }

  function markPreset() {
    for (const b of document.querySelectorAll('[data-preset]')) b.setAttribute('aria-pressed', String(b.dataset.preset === preset));
  }

  function query(extra) {
    const params = new URLSearchParams(filters());
    for (const [k, v] of Object.entries(extra || {})) if (v !== undefined) params.set(k, String(v));
    return params.toString();
  }

  async function api(path, signal) {
    const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' }, signal, cache: 'no-store' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(body && body.error ? body.error : 'HTTP ' + res.status);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function explain(err) {
    if (err.status === 401) return 'Token rejected: ' + err.message;
    return 'Error: ' + err.message;
  }

  // --- the table ---------------------------------------------------------------------------------

  // OVIM's categories (GET /api/v1/events/categories); their colours are in panel.css.
  const CATEGORIES = ['organization', 'vdc', 'vm', 'security', 'performance', 'integration', 'system', 'audit', 'quota', 'network', 'storage', 'backup'];

  /** A square in the category's colour (panel.css), named for assistive technology and on hover. */
  function categorySwatch(category) {
    const swatch = el('span', undefined, 'cat-swatch');
    swatch.setAttribute('role', 'img');
    swatch.setAttribute('aria-label', 'category ' + category);
    swatch.title = 'Category: ' + category;
    swatch.dataset.category = category;
    return swatch;
  }

  function row(e, fresh) {
    // Only known names become a class (the colour); anything else is shown as text only.
    const category = CATEGORIES.includes(e.category) ? ' cat-' + e.category : '';
    const tr = el('tr', undefined, (e.type === 'Warning' ? 'Warning' : 'Normal') + category + (fresh ? ' fresh' : ''));
    tr.dataset.id = e.id;
    const td = (text, className, label) => {
      const cell = el('td', text, className);
      cell.dataset.label = label;
      return cell;
    };
    const time = td(formatTime(e.last_timestamp), 'time', 'Last seen');
    time.title = e.last_timestamp;
    // The row's edge and this square carry the category's colour (no column: the table keeps its width).
    if (category) time.prepend(categorySwatch(e.category));
    const object = td(undefined, 'object', 'Object');
    const link = el('button', e.involved_object_kind + '/' + e.involved_object_name, 'object');
    link.type = 'button';
    link.title = 'Show the timeline of this object';
    link.addEventListener('click', () => openTimeline([e.involved_object_kind, e.namespace, e.involved_object_name]));
    object.append(link);
    const actor = td(e.actor || '', 'actor', 'Actor');
    if (e.actor && e.actor_verified !== true) {
      const mark = el('span', '(unverified)', 'unverified');
      mark.title = 'Taken from an annotation that the admission webhook did not vouch for';
      actor.append(mark);
    }
    tr.append(
      time,
      td(e.type, 'type', 'Type'),
      td(e.namespace, 'namespace', 'Namespace'),
      object,
      td(e.reason, 'reason', 'Reason'),
      td(e.message, 'message', 'Message'),
      actor,
      td(e.organization || '', 'organization', 'Organization'),
      td(e.vdc || '', 'vdc', 'VDC'),
      td(String(e.count), 'count', 'Count'),
    );
    return tr;
  }

  function render(events) {
    tbody.replaceChildren(...events.map((e) => row(e, false)));
  }

  function updatePager() {
    $('first-page').disabled = page <= 1;
    $('prev-page').disabled = page <= 1;
    $('next-page').disabled = !nextCursor;
    $('page-info').textContent = 'Page ' + page;
  }

  async function load() {
    if (!token) {
      render([]);
      setStatus('Enter a token to see events.', false);
      return;
    }
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    const mine = ++generation;
    const cursor = cursors[cursors.length - 1];
    try {
      const body = await api('/api/v1/events?' + query({ limit: PAGE_SIZE, cursor }), controller.signal);
      if (mine !== generation) return;
      render(body.events);
      nextCursor = body.next_cursor || undefined;
      updatePager();
      const total = body.total_count_exact === false ? 'about ' + body.total_count : String(body.total_count);
      setStatus(body.events.length + ' of ' + total + ' events · page ' + page + ' · updated ' + new Date().toLocaleTimeString() + (live ? (live.paused ? ' · live paused' : ' · live') : ''), false);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (mine !== generation) return;
      if (err.status === 401) render([]);
      setStatus(err.status ? explain(err) : 'Cannot reach the API: ' + err.message, true);
    } finally {
      if (inflight === controller) inflight = undefined;
    }
    loadChart();
  }

  function reload() {
    cursors = [undefined];
    page = 1;
    writeUrl();
    load();
    if (live) startLive();
  }

  // --- the chart -------------------------------------------------------------------------------

  function bucketFor(f) {
    const since = f.since ? Date.parse(f.since) : NaN;
    const until = f.until ? Date.parse(f.until) : Date.now();
    const span = Number.isFinite(since) ? until - since : 86400e3;
    if (span <= 2 * 3600e3) return '1m';
    if (span <= 2 * 86400e3) return '1h';
    return '1d';
  }

  async function loadChart() {
    const chart = $('chart');
    const reasons = $('reasons');
    const f = filters();
    const bucket = bucketFor(f);
    const base = { bucket };
    try {
      const [byType, byReason] = await Promise.all([
        api('/api/v1/events/stats?' + query({ ...base, group_by: 'type' })),
        api('/api/v1/events/stats?' + query({ ...base, group_by: 'reason' })),
      ]);
      // The answer lists non-empty buckets only: lay out every bucket of the window.
      const present = new Map((byType.buckets || []).map((b) => [Date.parse(b.start), b]));
      const step = byType.bucket_seconds * 1000;
      const buckets = [];
      for (let t = Date.parse(byType.since); t < Date.parse(byType.until) && buckets.length < 1000; t += step) {
        buckets.push(present.get(t) || { start: new Date(t).toISOString(), total: 0, counts: [] });
      }
      const max = Math.max(1, ...buckets.map((b) => b.total));
      chart.replaceChildren(
        ...buckets.map((b) => {
          const bar = el('div', undefined, 'bar');
          bar.dataset.start = b.start;
          bar.dataset.total = String(b.total);
          bar.title = formatTime(b.start) + ': ' + b.total + ' events';
          for (const c of b.counts) {
            const seg = el('div', undefined, 'seg ' + (c.key === 'Normal' || c.key === 'Warning' ? c.key : 'Other'));
            seg.dataset.type = c.key;
            seg.dataset.count = String(c.count);
            seg.title = c.key + ': ' + c.count;
            // Set through the CSSOM (allowed by the CSP, unlike a style attribute).
            seg.style.height = (100 * c.count) / max + '%';
            bar.append(seg);
          }
          return bar;
        }),
      );
      $('chart-range').textContent = '(per ' + bucket + ')';
      reasons.replaceChildren(
        ...(byReason.top || []).slice(0, 8).map((t) => {
          const li = el('li', t.key + ' — ' + t.count);
          li.dataset.reason = t.key;
          return li;
        }),
      );
    } catch (err) {
      chart.replaceChildren();
      reasons.replaceChildren();
      $('chart-range').textContent = err.status === 404 || err.status === 400 ? '(needs the event archive)' : '(unavailable: ' + err.message + ')';
    }
  }

  // --- one object's timeline ---------------------------------------------------------------------

  let timelineObject = undefined; // [kind, namespace, name]

  async function openTimeline(object) {
    timelineObject = object;
    writeUrl();
    const [kind, namespace, name] = object;
    const section = $('timeline');
    section.hidden = false;
    $('timeline-title').textContent = 'Timeline of ' + kind + '/' + name + ' in ' + namespace;
    $('describe').value = 'kubectl describe ' + kind.toLowerCase() + ' ' + name + ' -n ' + namespace;
    const list = $('timeline-events');
    list.replaceChildren();
    try {
      const params = new URLSearchParams({ kind, name, namespace, limit: '200' });
      const body = await api('/api/v1/events?' + params.toString());
      const events = body.events.slice().sort((a, b) => Date.parse(a.last_timestamp) - Date.parse(b.last_timestamp));
      list.replaceChildren(
        ...events.map((e) => {
          const li = el('li', undefined, e.type);
          li.dataset.id = e.id;
          li.append(el('time', formatTime(e.last_timestamp)), document.createTextNode(' ' + e.type + ' ' + e.reason + ': '), el('span', e.message, 'message'));
          return li;
        }),
      );
    } catch (err) {
      list.replaceChildren(el('li', explain(err)));
    }
    $('close-timeline').focus();
  }

  function closeTimeline() {
    timelineObject = undefined;
    $('timeline').hidden = true;
    writeUrl();
  }

  // --- live mode -------------------------------------------------------------------------------

  function stopLive() {
    if (live) live.controller.abort();
  }

  async function startLive() {
    stopLive();
    const controller = new AbortController();
    const mine = { controller, paused: live ? live.paused : false };
    live = mine;
    const f = filters();
    delete f.until;
    const headers = { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' };
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    try {
      const res = await fetch('/api/v1/events/stream?' + new URLSearchParams({ ...f, limit: '1' }).toString(), { headers, signal: controller.signal, cache: 'no-store' });
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => ({}));
        throw Object.assign(new Error(body.error || 'HTTP ' + res.status), { status: res.status });
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let ready = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          let data = '';
          let id = undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
            else if (line.startsWith('id: ')) id = line.slice(4);
          }
          if (id !== undefined) lastEventId = id;
          if (event === 'ready') ready = true;
          else if (event === 'dropped') setStatus('Live stream dropped by the server: reconnecting', true);
          else if (event === 'message' && data && ready && !mine.paused) showLive(JSON.parse(data));
        }
      }
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      setStatus('Live: ' + (err.status ? explain(err) : err.message), true);
    }
    // Ended by the server: reconnect (resuming) unless stopped meanwhile.
    if (live === mine && !controller.signal.aborted) setTimeout(() => live === mine && startLive(), 3000);
  }

  function showLive(e) {
    if (page !== 1) return;
    const old = tbody.querySelector('tr[data-id="' + CSS.escape(e.id) + '"]');
    if (old) old.remove();
    tbody.prepend(row(e, true));
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
  }

  function setLive(on) {
    $('live').setAttribute('aria-pressed', String(on));
    $('pause').disabled = !on;
    if (on) {
      lastEventId = undefined;
      live = { controller: new AbortController(), paused: false };
      $('pause').textContent = 'Pause';
      $('pause').setAttribute('aria-pressed', 'false');
      startLive();
    } else {
      stopLive();
      live = undefined;
    }
  }

  // --- exports ---------------------------------------------------------------------------------

  async function exportAs(format) {
    try {
      const res = await fetch('/api/v1/events/export?' + query({ format }), { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw Object.assign(new Error(body.error || 'HTTP ' + res.status), { status: res.status });
      }
      const blob = await res.blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'events.' + format;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (err) {
      setStatus('Export: ' + explain(err), true);
    }
  }

  // --- wiring ----------------------------------------------------------------------------------

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('token');
    token = input.value.trim().replace(/^Bearer\s+/i, '');
    input.value = '';
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    reload();
  });
  $('forget-token').addEventListener('click', () => {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    setLive(false);
    load();
  });
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    reload();
  });
  $('type').addEventListener('change', reload);
  for (const key of ['since', 'until']) {
    $(key).addEventListener('input', () => {
      preset = '';
      markPreset();
    });
  }
  for (const b of document.querySelectorAll('[data-preset]')) {
    b.addEventListener('click', () => {
      preset = b.dataset.preset;
      $('since').value = '';
      $('until').value = '';
      markPreset();
      reload();
    });
  }
  $('clear').addEventListener('click', () => {
    for (const key of FILTERS) $(key).value = '';
    preset = '';
    markPreset();
    reload();
  });
  $('refresh').addEventListener('click', () => load());
  $('live').addEventListener('click', () => setLive(!live));
  $('pause').addEventListener('click', () => {
    if (!live) return;
    live.paused = !live.paused;
    $('pause').textContent = live.paused ? 'Resume' : 'Pause';
    $('pause').setAttribute('aria-pressed', String(live.paused));
    // Resuming reloads the page of events, so nothing that came while paused is missing.
    if (!live.paused) load();
    else setStatus(status.textContent.replace(/ · live( paused)?$/, '') + ' · live paused', false);
  });
  $('first-page').addEventListener('click', () => {
    cursors = [undefined];
    page = 1;
    load();
  });
  $('prev-page').addEventListener('click', () => {
    if (cursors.length > 1) cursors.pop();
    page = Math.max(1, page - 1);
    load();
  });
  $('next-page').addEventListener('click', () => {
    if (!nextCursor) return;
    cursors.push(nextCursor);
    page++;
    load();
  });
  $('export-ndjson').addEventListener('click', () => exportAs('ndjson'));
  $('export-csv').addEventListener('click', () => exportAs('csv'));
  $('close-timeline').addEventListener('click', closeTimeline);
  $('copy-describe').addEventListener('click', () => {
    $('describe').select();
    if (navigator.clipboard) navigator.clipboard.writeText($('describe').value).catch(() => undefined);
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !$('timeline').hidden) closeTimeline();
  });

  readUrl();
  load();
  if (timelineObject && token) openTimeline(timelineObject);
})();
