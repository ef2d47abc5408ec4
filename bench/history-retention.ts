// bench:history's retention figure, for every engine: policies that expire rows older than
// `days` (audit and security keep theirs), one pass, and a query loop running meanwhile.
import type { HistoryArchive } from '../src/history/archive.js';

export async function retentionUnderQueries(
  archive: HistoryArchive,
  days: number,
  query: () => Promise<unknown>,
): Promise<{ deleted: number; tookMs: number; worstMs: number }> {
  for (const p of await archive.policies()) if (!['audit', 'security'].includes(p.category)) await archive.setPolicy({ ...p, retentionDays: days, maxEvents: null });
  let worst = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const q = performance.now();
      await query().catch(() => undefined);
      worst = Math.max(worst, performance.now() - q);
    }
  })();
  const t = performance.now();
  const result = await archive.enforceRetention();
  const tookMs = performance.now() - t;
  running = false;
  await loop;
  return { deleted: result.deleted, tookMs, worstMs: worst };
}
