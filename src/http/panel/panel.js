// The events panel: one page, no build step. Lists recent events through the API with the
// user's token; filters by type, namespace and reason; refreshes every few seconds unless paused.
// Everything from the API is rendered as text (never as HTML).
'use strict';

(function () {
  const REFRESH_MS = 5000;
  const TOKEN_KEY = 'ovim-events-token';
  const $ = (id) => document.getElementById(id);
  const tokenInput = $('token');
  const typeSelect = $('type');
  const namespaceInput = $('namespace');
  const reasonInput = $('reason');
  const pauseButton = $('pause');
  const status = $('status');
  const tbody = document.querySelector('#events tbody');

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let paused = false;
  let timer = undefined;
  let inflight = undefined;
  let generation = 0;

  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function formatTime(value) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
  }

  function render(events) {
    const rows = events.map((e) => {
      const tr = document.createElement('tr');
      tr.className = e.type === 'Warning' ? 'Warning' : 'Normal';
      tr.dataset.id = e.id;
      const time = cell(formatTime(e.last_timestamp), 'time');
      time.title = e.last_timestamp;
      tr.append(
        time,
        cell(e.type, 'type'),
        cell(e.namespace, 'namespace'),
        cell(e.involved_object_kind + '/' + e.involved_object_name, 'object'),
        cell(e.reason, 'reason'),
        cell(e.message, 'message'),
        cell(String(e.count), 'count'),
        cell(e.component, 'component'),
      );
      return tr;
    });
    tbody.replaceChildren(...rows);
  }

  function query() {
    const params = new URLSearchParams({ limit: '100' });
    if (typeSelect.value) params.set('type', typeSelect.value);
    if (namespaceInput.value.trim()) params.set('namespace', namespaceInput.value.trim());
    if (reasonInput.value.trim()) params.set('reason', reasonInput.value.trim());
    return '/api/v1/events?' + params.toString();
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
    try {
      const res = await fetch(query(), {
        headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
        signal: controller.signal,
        cache: 'no-store',
      });
      const body = await res.json().catch(() => ({}));
      if (mine !== generation) return;
      if (!res.ok) {
        const why = body && body.error ? body.error : 'HTTP ' + res.status;
        if (res.status === 401) render([]);
        setStatus((res.status === 401 ? 'Token rejected: ' : 'Error: ') + why, true);
        return;
      }
      render(body.events);
      const shown = body.events.length;
      setStatus(
        shown + ' of ' + body.total_count + ' events · updated ' + new Date().toLocaleTimeString() +
          (paused ? ' · paused' : ''),
        false,
      );
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (mine === generation) setStatus('Cannot reach the API: ' + (err && err.message ? err.message : err), true);
    } finally {
      if (inflight === controller) inflight = undefined;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = undefined;
    if (!paused) timer = setInterval(load, REFRESH_MS);
  }

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = tokenInput.value.trim().replace(/^Bearer\s+/i, '');
    tokenInput.value = '';
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    load();
  });
  $('forget-token').addEventListener('click', () => {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    load();
  });
  pauseButton.addEventListener('click', () => {
    paused = !paused;
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    pauseButton.setAttribute('aria-pressed', String(paused));
    schedule();
    if (!paused) load();
    else if (status.textContent && !status.classList.contains('error')) setStatus(status.textContent + ' · paused', false);
  });
  $('refresh').addEventListener('click', load);
  typeSelect.addEventListener('change', load);
  let typing = undefined;
  for (const input of [namespaceInput, reasonInput]) {
    input.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(load, 300);
    });
  }

  schedule();
  load();
})();
