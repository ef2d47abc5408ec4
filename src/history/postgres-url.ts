// The database URL of the PostgreSQL archive: where it points, for messages, and the password
// taken out of every message that could echo it. Pure.

export interface DatabaseUrl {
  /** `postgres://user@host:port/database` (no password, no parameters): safe to print. */
  location: string;
  /** The message with the password (as written and URL-decoded) replaced by `***`. */
  redact(message: string): string;
}

export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}

export function parseDatabaseUrl(url: string): DatabaseUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // The URL itself is never echoed: it may hold a password.
    throw new DatabaseUrlError('the database URL is not a valid postgres://user:password@host:port/database URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new DatabaseUrlError(`the database URL must start with postgres:// (not ${u.protocol}//)`);
  }
  const secrets = new Set<string>();
  if (u.password) {
    secrets.add(u.password);
    try {
      secrets.add(decodeURIComponent(u.password));
    } catch {
      // not percent-encoded: the raw form is enough
    }
  }
  const password = u.searchParams.get('password');
  if (password) secrets.add(password);
  const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
  const location = `postgres://${user}${u.host}${u.pathname}`;
  const ordered = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return {
    location,
    redact(message: string): string {
      let out = message;
      for (const s of ordered) out = out.split(s).join('***');
      return out;
    },
  };
}
