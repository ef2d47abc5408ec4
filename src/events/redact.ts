// Messages leave the process in Event objects that many people can read, so anything that
// looks like a credential is replaced before that, and messages are cut to the catalog's limit.

export const MAX_MESSAGE_LENGTH = 1024;
export const REDACTED = '[REDACTED]';

// Cheap pre-check: most messages contain none of these, and then no other pattern runs.
const SUSPICIOUS = /bearer|basic\s|eyJ|pass|pwd|token|secret|key|auth|credential|session|cookie|:\/\/[^\s/@]*@|PRIVATE/i;

// Keys whose value is a secret in `key=value`, `key: value` and `"key": "value"` forms.
const SECRET_KEYS =
  '(?:[a-z0-9_.-]*(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|session[_-]?id|cookie)|auth(?:orization)?)';

function redactAuthScheme(match: string, scheme: string, space: string, value: string): string {
  const secret =
    scheme.toLowerCase() === 'bearer'
      ? value.length >= 12 && /[0-9._~+/=-]/.test(value)
      : value.length >= 4 && /^[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value, 'base64').toString('latin1').includes(':');
  return secret ? `${scheme}${space}${REDACTED}` : match;
}

const PATTERNS: readonly { pattern: RegExp; replace: string | ((...groups: string[]) => string) }[] = [
  // PEM private keys, whole block (or up to the end when the block is cut).
  {
    pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    replace: REDACTED,
  },
  // Authorization schemes: `Bearer <token>`, `Basic <base64 of user:password>`. Plain words
  // after them ("basic networking", "bearer authentication failed") are left alone.
  { pattern: /\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]+)/gi, replace: redactAuthScheme },
  // JSON Web Tokens (three base64url parts, the header starts with `{"` = `eyJ`).
  { pattern: /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, replace: REDACTED },
  // Credentials in URLs: scheme://user:password@host.
  { pattern: /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, replace: (_m, prefix) => `${prefix}${REDACTED}@` },
  // "password": "value" (JSON, quoted values).
  {
    pattern: new RegExp(`("${SECRET_KEYS}"\\s*:\\s*")(?:[^"\\\\]|\\\\.)*"`, 'gi'),
    replace: (_m, prefix) => `${prefix}${REDACTED}"`,
  },
  // password=value, token: value (`--password value` has no separator and is not covered).
  // An `Authorization: Bearer ...` value was handled by the scheme rule above.
  {
    pattern: new RegExp(`(\\b${SECRET_KEYS}\\s*[=:]\\s*)(?!(?:bearer|basic)\\s|\\[REDACTED\\])("[^"]*"|'[^']*'|[^\\s,;&"')\\]}]+)`, 'gi'),
    replace: (_m, prefix) => `${prefix}${REDACTED}`,
  },
];

/** The message with anything that looks like a credential replaced by `[REDACTED]`. */
export function redactCredentials(message: string): string {
  if (!SUSPICIOUS.test(message)) return message;
  let out = message;
  for (const { pattern, replace } of PATTERNS) {
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

/**
 * What the recorder does to every message: redact first (so that no cut can leave a token
 * half-recognizable), then cut to the limit. Control characters other than newline and tab
 * become spaces, so that a message cannot forge extra lines in logs or terminals.
 */
export function sanitizeMessage(message: string, max = MAX_MESSAGE_LENGTH): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is matched
  const printable = /[\u0000-\u0008\u000b-\u001f\u007f]/.test(message) ? message.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ') : message;
  return truncateMessage(redactCredentials(printable), max);
}
