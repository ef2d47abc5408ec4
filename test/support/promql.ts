// Just enough PromQL for the alert/dashboard cross-check: the series names an expression reads
// (what is left once strings, label matchers, ranges and grouping clauses are taken out), with
// every function call checked against PromQL's functions and the parentheses balanced. Not a
// full parser: it refuses what it does not know instead of guessing.
const FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'avg', 'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min',
  'count', 'count_over_time', 'delta', 'deriv', 'floor', 'histogram_quantile', 'idelta', 'increase', 'irate',
  'label_replace', 'max', 'max_over_time', 'min', 'min_over_time', 'quantile', 'quantile_over_time', 'rate',
  'resets', 'round', 'scalar', 'sort', 'sort_desc', 'sum', 'sum_over_time', 'time', 'timestamp', 'topk', 'bottomk', 'vector',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

export function seriesNames(expr: string): string[] {
  let depth = 0;
  for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if (ch === '(') depth++;
    if (ch === ')' && --depth < 0) throw new Error(`unbalanced ')' in: ${expr}`);
  }
  if (depth !== 0) throw new Error(`unbalanced '(' in: ${expr}`);
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ');
  if (/[{}[\]]/.test(bare)) throw new Error(`unexpected bracket left in: ${expr}`);
  const names: string[] = [];
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    const [, word, call] = m as unknown as [string, string, string | undefined];
    if (KEYWORDS.has(word)) continue;
    if (call) {
      if (!FUNCTIONS.has(word)) throw new Error(`unknown function ${word} in: ${expr}`);
    } else {
      names.push(word);
    }
  }
  return names;
}

/** The sample names of a Prometheus text exposition (histograms give _bucket, _sum, _count). */
export function exposedSeries(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m?.[1]) names.add(m[1]);
  }
  return names;
}
