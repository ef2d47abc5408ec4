// `npm run bench:redact`: what sanitizing a message costs, beside its baseline — the previous
// redaction patterns, which ran before the cut and re-scanned long runs from every start
// (quadratic). Each hostile shape is timed at growing sizes: the previous patterns' time grows
// with the square of the size, the current pipeline's stays flat (it cuts to 4 KB first, and its
// patterns are linear). Ordinary operator messages are timed too (they must not get slower).
// A benchmark, not a test: it prints what it measures and exits 0.
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { redactCredentials, sanitizeMessage, truncateMessage } from '../src/events/redact.js';
import { HOSTILE_SHAPES, KB, fill } from '../test/support/hostile.js';

// --- the baseline: the previous patterns, applied before the cut --------------------------
const OLD_KEYS =
  '(?:[a-z0-9_.-]*(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|session[_-]?id|cookie)|auth(?:orization)?)';
const OLD_PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]+)/gi,
  /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g,
  /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi,
  new RegExp(`("${OLD_KEYS}"\\s*:\\s*")(?:[^"\\\\]|\\\\.)*"`, 'gi'),
  new RegExp(`(\\b${OLD_KEYS}\\s*[=:]\\s*)(?!(?:bearer|basic)\\s|\\[REDACTED\\])("[^"]*"|'[^']*'|[^\\s,;&"')\\]}]+)`, 'gi'),
];
function previousSanitize(message: string): string {
  let out = message;
  for (const p of OLD_PATTERNS) out = out.replace(p, '[REDACTED]');
  return truncateMessage(out);
}

function time(fn: () => unknown, minMs = 30): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    n++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return elapsed / n;
}

const ms = (v: number) => (v < 0.01 ? `${(v * 1000).toFixed(1)} us` : `${v.toFixed(2)} ms`);
const pad = (s: string, n: number) => s.padEnd(n);

console.log(`bench:redact  node ${process.version}  ${cpus().length} CPUs  load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('');
console.log('Ordinary messages (per call):');
const ordinary = [
  "VDC 'dev' in organization 'acme' updated by a-user (generation 4)",
  "Reconcile of VirtualDataCenter 'dev' failed 5 times in a row: connect ECONNREFUSED 10.0.0.1:443",
  'login failed: password=hunter2 for user app (token=abc123def456)',
];
for (const m of ordinary) {
  console.log(`  ${pad(m.slice(0, 48), 50)} previous ${pad(ms(time(() => previousSanitize(m), 300)), 10)} current ${ms(time(() => sanitizeMessage(m), 300))}`);
}
console.log('');
console.log('Hostile shapes: previous (uncut) | current sanitizeMessage | current patterns alone (uncut)');
const SIZES = [4 * KB, 16 * KB, 64 * KB];
for (const [what, prefix, unit] of HOSTILE_SHAPES) {
  const text = fill(prefix, unit);
  const cells: string[] = [];
  for (const size of SIZES) {
    const input = fill(prefix, unit, size);
    const previous = time(() => previousSanitize(input), 1);
    cells.push(`${size / KB} KB: ${pad(ms(previous), 10)} | ${pad(ms(time(() => sanitizeMessage(input))), 9)} | ${pad(ms(time(() => redactCredentials(input))), 9)}`);
  }
  const big = time(() => sanitizeMessage(text), 5);
  console.log(`  ${what}`);
  for (const cell of cells) console.log(`      ${cell}`);
  console.log(`      256 KB: (previous not run) | ${ms(big)} | ${ms(time(() => redactCredentials(text), 5))}`);
}
