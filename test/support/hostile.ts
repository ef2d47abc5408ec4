// Hostile inputs for the bounds tests: strings shaped to make backtracking regular expressions
// explode (long runs after a keyword, repeated prefixes without the closing part), and a probe
// that runs a step while watching the event loop's delay (perf_hooks.monitorEventLoopDelay).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export const KB = 1024;

/** `unit` repeated up to `size` characters (after `prefix`). */
export function fill(prefix: string, unit: string, size = 256 * KB): string {
  return (prefix + unit.repeat(Math.ceil((size - prefix.length) / unit.length))).slice(0, size);
}

/** Shapes that make backtracking patterns slow: [what, prefix, unit repeated after it]. */
export const HOSTILE_SHAPES: readonly [string, string, string][] = [
  ['"key " + "a." repeated (the reported freeze)', 'key ', 'a.'],
  ['a keyword followed by a long word run', 'token ', 'a-'],
  ['many password= without values', '', 'password='],
  ['an unterminated quoted secret', 'password="', 'x'],
  ['JSON keys without a closing quote', '', '"password":"a'],
  ['JWT-looking runs without dots', '', 'eyJ-'],
  ['JWT-looking runs with one dot', '', 'eyJa.b-'],
  ['URL schemes without credentials', 'http://', 'a.'],
  ['URL user parts without @', '', 'a://b:c'],
  ['PEM headers without an end', '', '-----BEGIN RSA PRIVATE KEY-----'],
  ['a PEM header with a long name', '-----BEGIN ', 'A '],
  ['bearer repeated', '', 'bearer '],
  ['Basic with a long base64 value', 'Basic ', 'QUJD'],
  ['spaces after a keyword', 'secret', ' '],
  ['control characters', '', '\u0000\u001b[31m'],
  ['surrogate pairs', '', '😀'],
  ['auth: with a long value', 'Authorization: ', 'x'],
];

/** 256 KB strings of every hostile shape. */
export const HOSTILE_TEXTS: readonly [string, string][] = HOSTILE_SHAPES.map(([what, prefix, unit]) => [what, fill(prefix, unit)]);

export interface Measured<T> {
  value: T;
  /** Wall time of the step. */
  ms: number;
  /** The largest event-loop delay seen while (and right after) the step ran. */
  maxDelayMs: number;
}

/**
 * Runs `step` with monitorEventLoopDelay enabled (10 ms resolution) and returns how long it took
 * and the largest event-loop delay recorded: a step that blocks the loop for X ms shows as a
 * delay of about X ms, whatever else the test does.
 */
export async function measureBlocking<T>(step: () => T): Promise<Measured<T>> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  // Two sampler periods, so that the histogram has a timer armed when the step starts.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const start = performance.now();
  const value = step();
  const ms = performance.now() - start;
  // The sampler's next tick records how late it fired, i.e. how long the step blocked.
  await new Promise((resolve) => setTimeout(resolve, 25));
  histogram.disable();
  return { value, ms, maxDelayMs: histogram.max / 1e6 };
}
