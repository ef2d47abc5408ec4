// Hostile inputs for the bounds tests: strings shaped to make backtracking regular expressions
// explode (long runs after a keyword, repeated prefixes without the closing part), and a probe
// that counts the regular-expression runs of a step and the longest text they were given.

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

export interface RegexWork<T> {
  value: T;
  /** How many times a regular expression ran (every test/exec/replace/match/split goes through exec). */
  runs: number;
  /** The longest text any regular expression was run over. */
  longestInput: number;
}

/**
 * Runs `step` with every regular-expression execution counted and the length of the text it was
 * run over recorded. What bounds the cost of hostile input is that no pattern ever sees more than
 * a bounded prefix of it (the pre-cut), so the test asserts that bound — a count, not a time, so
 * it cannot flake on a loaded machine, and it fails as soon as a pattern runs before the cut.
 * (Patching `exec` sends String.prototype.replace/match/split and RegExp#test through it too.)
 */
export async function measureRegexWork<T>(step: () => T | Promise<T>): Promise<RegexWork<T>> {
  const exec = RegExp.prototype.exec;
  let runs = 0;
  let longestInput = 0;
  RegExp.prototype.exec = function (this: RegExp, text: string) {
    runs++;
    longestInput = Math.max(longestInput, String(text).length);
    return exec.call(this, text);
  };
  try {
    const value = await step();
    return { value, runs, longestInput };
  } finally {
    RegExp.prototype.exec = exec;
  }
}
