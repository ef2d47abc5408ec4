// The API's configuration as a small typed object, and its loading from the environment:
//   OVIM_API_ADDRESS          listen address, default `:8080` (host:port, `:port`, `[v6]:port`)
//   OVIM_JWT_SECRET           HS256 secret (e.g. from a Kubernetes Secret via env)
//   OVIM_JWT_SECRET_FILE      … or a file holding it (a mounted Secret); one trailing newline is dropped
//   OVIM_JWT_PUBLIC_KEY_FILE  optional PEM public key for RS256 (RSA) or ES256 (EC P-256) tokens
//   OVIM_JWT_ISSUER           default `ovim-backend`
//   OVIM_EVENT_STORE_MAX      events kept in memory, default 100000
import { readFileSync } from 'node:fs';
import type { AuthConfig } from './auth.js';
import { DEFAULT_MAX_EVENTS } from '../events/store.js';

export const DEFAULT_API_ADDRESS = ':8080';

export interface ApiConfig {
  address: string;
  auth: AuthConfig;
  maxEvents: number;
}

export class ConfigError extends Error {}

export interface ListenAddress {
  host: string;
  port: number;
}

/** `:8080` → all interfaces; `127.0.0.1:0`, `localhost:8080`, `[::1]:8080`. */
export function parseListenAddress(address: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`invalid listen address ${JSON.stringify(address)}: expected host:port, :port or [ipv6]:port`);
  }
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** Builds the API configuration from environment variables (see the header). */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const auth: AuthConfig = {};
  if (env.OVIM_JWT_SECRET && env.OVIM_JWT_SECRET_FILE) {
    throw new ConfigError('set OVIM_JWT_SECRET or OVIM_JWT_SECRET_FILE, not both');
  }
  const secret = env.OVIM_JWT_SECRET_FILE
    ? readSecretFile(env.OVIM_JWT_SECRET_FILE, 'the JWT secret file')
    : env.OVIM_JWT_SECRET;
  if (secret !== undefined && secret !== '') auth.secret = new TextEncoder().encode(secret);
  if (env.OVIM_JWT_PUBLIC_KEY_FILE) {
    auth.publicKey = { pem: readSecretFile(env.OVIM_JWT_PUBLIC_KEY_FILE, 'the JWT public key file') };
  }
  if (!auth.secret && !auth.publicKey) {
    throw new ConfigError(
      'the events API needs a JWT key: set OVIM_JWT_SECRET or OVIM_JWT_SECRET_FILE (HS256), or OVIM_JWT_PUBLIC_KEY_FILE (RS256/ES256)',
    );
  }
  if (env.OVIM_JWT_ISSUER) auth.issuer = env.OVIM_JWT_ISSUER;

  const address = env.OVIM_API_ADDRESS || DEFAULT_API_ADDRESS;
  parseListenAddress(address);

  let maxEvents = DEFAULT_MAX_EVENTS;
  if (env.OVIM_EVENT_STORE_MAX) {
    maxEvents = Number(env.OVIM_EVENT_STORE_MAX);
    if (!/^\d+$/.test(env.OVIM_EVENT_STORE_MAX) || maxEvents < 1) {
      throw new ConfigError(`OVIM_EVENT_STORE_MAX must be a positive integer, not ${JSON.stringify(env.OVIM_EVENT_STORE_MAX)}`);
    }
  }
  return { address, auth, maxEvents };
}
