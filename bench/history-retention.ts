// bench:history's retention figure, for every engine: policies that expire rows older than
// `days` (audit and security keep theirs), one pass, and a query loop running meanwhile.
import type { HistoryArchive } from '../src/history/archive.js';

export async function retentionUnderQueries(
  archive: HistoryArchive,
  days: number,
  query: () => Promise<unknown>,
): Promise<{ deleted: number; tookMs: number; worstMs: number; p99Ms: number; queries: number }> {
  for (const p of await archive.policies()) if (!['audit', 'security'].includes(p.category)) await archive.setPolicy({ ...p, retentionDays: days, maxEvents: null });
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const q = performance.now();
      await query().catch(() => undefined);
      times.push(performance.now() - q);
    }
  })();
  const t = performance.now();
  const result = await archive.enforceRetention();
  const tookMs = performance.now() - t;
  running = false;
  await loop;
  times.sort((a, b) => a - b);
  const p99 = times[Math.min(times.length - 1, Math.ceil(0.99 * times.length) - 1)] ?? NaN;
  return { deleted: result.deleted, tookMs, worstMs: times[times.length - 1] ?? NaN, p99Ms: p99, queries: times.length };
}
