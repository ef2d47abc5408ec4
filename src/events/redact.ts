// Messages leave the process in Event objects that many people can read, so anything that
// looks like a credential is replaced before that, and messages are cut to the catalog's limit.
//
// Messages and annotation values come from tenants (an object's `ovim.io/requested-by`, a VM's
// name, ...), so the work is bounded before any pattern runs: text is first cut to a bounded
// pre-length, then redacted, then cut to its limit. Every pattern runs in linear time: none has
// an unbounded run that it may have to retry from each start position (see `redactJwts`).

export const MAX_MESSAGE_LENGTH = 1024;
/** Annotation-derived fields (actor, owner, organization, vdc) are cut to this. */
export const MAX_ANNOTATION_LENGTH = 253;
/** Text is cut to this many times its limit before redaction (room for redactions to shrink it). */
const PRE_CUT_FACTOR = 4;
export const REDACTED = '[REDACTED]';

// Cheap pre-check: most messages contain none of these, and then no other pattern runs.
// (`:\/\/[^\s/@]*@`: each run stops at the next '/', so starts never share a run.)
const SUSPICIOUS = /bearer|basic\s|eyJ|pass|pwd|token|secret|key|auth|credential|session|cookie|:\/\/[^\s/@]*@|PRIVATE/i;

// Keys whose value is a secret in `key=value`, `key: value` and `"key": "value"` forms. Only the
// keyword itself is matched (`DB_PASSWORD` is found at `PASSWORD`): a free prefix such as
// `[a-z0-9_.-]*` before it would be re-scanned from every start inside a long word (quadratic).
const SECRET_KEYS =
  '(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|session[_-]?id|cookie|\\bauth(?:orization)?)';

function redactAuthScheme(match: string, scheme: string, space: string, value: string): string {
  const secret =
    scheme.toLowerCase() === 'bearer'
      ? value.length >= 12 && /[0-9._~+/=-]/.test(value)
      : value.length >= 4 && /^[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value, 'base64').toString('latin1').includes(':');
  return secret ? `${scheme}${space}${REDACTED}` : match;
}

type Replacer = string | ((...groups: string[]) => string);

interface Rule {
  /** Runs only when the text contains this (case-insensitively when a RegExp). */
  when: string | RegExp;
  pattern: RegExp;
  replace: Replacer;
}

const RULES: readonly Rule[] = [
  // PEM private keys, whole block (or up to the end when the block is cut). Runs of `[A-Z ]`
  // stop at '-', so the header and footer scans never overlap from one start to the next.
  {
    when: '-----BEGIN ',
    pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    replace: REDACTED,
  },
  // Authorization schemes: `Bearer <token>`, `Basic <base64 of user:password>`. Plain words
  // after them ("basic networking", "bearer authentication failed") are left alone.
  { when: /bearer|basic/i, pattern: /\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]+)/gi, replace: redactAuthScheme },
  // Credentials in URLs: scheme://user:password@host. The scheme is at most 32 characters, so
  // a long dotted word costs 32 steps per position, not its length.
  {
    when: '://',
    pattern: /(\b[a-z][a-z0-9+.-]{0,31}:\/\/[^\s:/@]*:)[^\s@/]+@/gi,
    replace: (_m, prefix) => `${prefix}${REDACTED}@`,
  },
  // "password": "value" (JSON, quoted values).
  {
    when: '"',
    pattern: new RegExp(`(${SECRET_KEYS}"\\s*:\\s*")(?:[^"\\\\]|\\\\.)*"`, 'gi'),
    replace: (_m, prefix) => `${prefix}${REDACTED}"`,
  },
  // password=value, token: value (`--password value` has no separator and is not covered).
  // An `Authorization: Bearer ...` value was handled by the scheme rule above.
  {
    when: /[=:]/,
    pattern: new RegExp(`(${SECRET_KEYS}\\s*[=:]\\s*)(?!(?:bearer|basic)\\s|\\[REDACTED\\])("[^"]*"|'[^']*'|[^\\s,;&"')\\]}]+)`, 'gi'),
    replace: (_m, prefix) => `${prefix}${REDACTED}`,
  },
];

const isBase64UrlCode = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d;
const isWordCode = (c: number): boolean => isBase64UrlCode(c) && c !== 0x2d;

/**
 * JSON Web Tokens (three base64url parts, the header starts with `{"` = `eyJ`), replaced from
 * their `eyJ` (at a word start) to the end of the third part. A scan, not a regular expression:
 * the regex `\beyJ[\w-]*\.[\w-]*\.[\w-]*` retries the rest of a long `eyJ-eyJ-...` run from every
 * `eyJ` in it. Here, when a run does not continue as a token, every later `eyJ` in the same run
 * is skipped (they share its end), so each character is looked at a bounded number of times.
 */
export function redactJwts(text: string): string {
  let from = 0;
  let out = '';
  let copied = 0;
  for (;;) {
    const at = text.indexOf('eyJ', from);
    if (at < 0) break;
    if (at > 0 && isWordCode(text.charCodeAt(at - 1))) {
      from = at + 1;
      continue;
    }
    let end = at + 3;
    while (end < text.length && isBase64UrlCode(text.charCodeAt(end))) end++;
    const firstEnd = end;
    let parts = 1;
    while (parts < 3 && text.charCodeAt(end) === 0x2e /* . */) {
      end++;
      while (end < text.length && isBase64UrlCode(text.charCodeAt(end))) end++;
      parts++;
    }
    if (parts < 3) {
      from = firstEnd; // no `eyJ` later in this run can be a token either
      continue;
    }
    out += text.slice(copied, at) + REDACTED;
    copied = end;
    from = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** The message with anything that looks like a credential replaced by `[REDACTED]`. */
export function redactCredentials(message: string): string {
  if (!SUSPICIOUS.test(message)) return message;
  let out = message;
  for (const [i, { when, pattern, replace }] of RULES.entries()) {
    // JWTs go right after the scheme rule (as before: `Bearer eyJ...` is the scheme's).
    if (i === 2 && out.includes('eyJ')) out = redactJwts(out);
    if (typeof when === 'string' ? !out.includes(when) : !when.test(out)) continue;
    pattern.lastIndex = 0;
    // The union of replacer types needs a cast; both forms are valid for String.replace.
    out = out.replace(pattern, replace as (substring: string, ...args: string[]) => string);
  }
  return out;
}

/** Cuts to `max` characters (ending in `...` when cut), never splitting a surrogate pair. */
export function truncateMessage(message: string, max = MAX_MESSAGE_LENGTH): string {
  if (message.length <= max) return message;
  const ellipsis = '...';
  let end = Math.max(0, max - ellipsis.length);
  const code = message.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1; // a high surrogate whose pair would be cut off
  return message.slice(0, end) + ellipsis;
}

/** Characters that make up tokens, keys and passwords (a cut through a run of them is unsafe). */
const isSecretCode = (c: number): boolean =>
  isBase64UrlCode(c) || c === 0x2e || c === 0x2b || c === 0x2f || c === 0x3d || c === 0x7e || c === 0x25 || c === 0x3a;

/**
 * The bounded pre-cut: text longer than `length` is cut there, and the run of token characters
 * the cut went through is dropped too (it may be half a secret that no pattern recognises any
 * more). Text that is one single run is cut at `length` (never inside a surrogate pair).
 */
export function preCut(text: string, length: number): string {
  if (text.length <= length) return text;
  let end = length;
  while (end > 0 && isSecretCode(text.charCodeAt(end - 1))) end--;
  if (end === 0) end = length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}...`;
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what is matched
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex -- as above
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/**
 * What the recorder does to every message: cut to a bounded pre-length (4 × `max`), redact (so
 * that no final cut can leave a token half-recognizable), then cut to the limit. Control
 * characters other than newline and tab become spaces, so that a message cannot forge extra
 * lines in logs or terminals.
 */
export function sanitizeMessage(message: string, max = MAX_MESSAGE_LENGTH): string {
  const bounded = preCut(message, max * PRE_CUT_FACTOR);
  const printable = CONTROL.test(bounded) ? bounded.replace(CONTROLS, ' ') : bounded;
  return truncateMessage(redactCredentials(printable), max);
}

/**
 * An annotation value copied onto an Event (actor, owner): redacted like a message and cut to
 * 253 characters, newlines and tabs included among the characters made spaces.
 */
export function sanitizeAnnotation(value: string, max = MAX_ANNOTATION_LENGTH): string {
  return sanitizeMessage(value, max).replace(/[\n\t]/g, ' ');
}
