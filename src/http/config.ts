// The API's configuration as a small typed object, and its loading from the environment:
//   OVIM_API_ADDRESS          the API's and panel's listen address, default `:8080` (host:port, `:port`,
//                             `[v6]:port`; `0` turns the API off, and then no JWT key is needed)
//   OVIM_HEALTH_PROBE_ADDRESS /healthz, /readyz and /health, default `:8081`
//   OVIM_METRICS_ADDRESS      /metrics, default `:8082` (`0` turns it off)
//   OVIM_JWT_SECRET           HS256 secret (e.g. from a Kubernetes Secret via env)
//   OVIM_JWT_SECRET_FILE      … or a file holding it (a mounted Secret); one trailing newline is dropped
//   OVIM_JWT_PUBLIC_KEY_FILE  optional PEM public key for RS256 (RSA) or ES256 (EC P-256) tokens
//   OVIM_JWT_ISSUER           default `ovim-backend`
//   OVIM_JWT_MAX_AGE          tokens issued longer ago are refused: seconds or 30m, 24h (default 24h)
//   OVIM_JWT_AUDIENCE         when set, tokens must carry it in `aud`
//   OVIM_TRUSTED_PROXIES      comma-separated addresses/CIDRs whose X-Forwarded-For is believed
//   OVIM_API_MAX_CONNECTIONS  open connections at most (default 1024)
//   OVIM_EVENT_STORE_MAX      events kept in memory, default 100000
// The operator's flags (--jwt-max-age, --jwt-audience, --trusted-proxies, --api-max-connections,
// --api-bind-address, --health-probe-bind-address, --metrics-bind-address) override these.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { secretProblem, type AuthConfig } from './auth.js';
import { DEFAULT_MAX_EVENTS } from '../events/store.js';

export const DEFAULT_API_ADDRESS = ':8080';
export const DEFAULT_HEALTH_PROBE_ADDRESS = ':8081';
export const DEFAULT_METRICS_ADDRESS = ':8082';
/** The bind address that turns a listener off (kubebuilder's convention). */
export const LISTENER_OFF = '0';

export interface ApiConfig {
  /** The API and the panel; `0`: not served. */
  address: string;
  /**
   * Probes (/healthz, /readyz, /health) on a listener of their own. Unset (in-process callers
   * such as tests): no such listener, the API's listener answers them.
   */
  healthProbeAddress?: string;
  /** /metrics on a listener of its own; `0`: not served. Unset: on the API's listener. */
  metricsAddress?: string;
  auth: AuthConfig;
  maxEvents: number;
  /** Open connections at most (default 1024). */
  maxConnections?: number;
  /** Proxies whose X-Forwarded-For names the client (none: the header is ignored). */
  trustedProxies?: string[];
}

/** The API settings the operator also takes as flags (src/config.ts); they win over the environment. */
export interface ApiFlags {
  jwtMaxAgeSeconds?: number;
  jwtAudience?: string;
  trustedProxies?: string[];
  maxConnections?: number;
  address?: string;
  healthProbeAddress?: string;
  metricsAddress?: string;
}

export class ConfigError extends Error {}

/** `86400`, `90s`, `30m`, `24h` → seconds (at least 1, at most 30 days). */
export function parseDurationSeconds(what: string, text: string): number {
  const match = /^(\d{1,7})(s|m|h)?$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * (match[2] === 'h' ? 3600 : match[2] === 'm' ? 60 : 1) : NaN;
  if (!match || seconds < 1 || seconds > 30 * 86_400) {
    throw new ConfigError(`${what} must be a duration such as 3600, 90m or 24h (at most 30 days), not ${JSON.stringify(text)}`);
  }
  return seconds;
}

/** `10.0.0.1, 10.1.0.0/16, ::1` → the list; anything that is not an address or CIDR is an error. */
export function parseTrustedProxies(what: string, text: string): string[] {
  const entries = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const entry of entries) {
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !okBits || extra !== undefined) {
      throw new ConfigError(`${what}: ${JSON.stringify(entry)} is not an IP address or CIDR (e.g. 10.0.0.1 or 10.0.0.0/8)`);
    }
  }
  return entries;
}

export function parseMaxConnections(what: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > 1_000_000) {
    throw new ConfigError(`${what} must be a whole number between 1 and 1000000, not ${JSON.stringify(text)}`);
  }
  return n;
}

/** The configuration with the operator's flags applied. */
export function applyApiFlags(config: ApiConfig, flags: ApiFlags | undefined): ApiConfig {
  if (!flags) return config;
  const out: ApiConfig = { ...config, auth: { ...config.auth } };
  if (flags.jwtMaxAgeSeconds !== undefined) out.auth.maxTokenAgeSeconds = flags.jwtMaxAgeSeconds;
  if (flags.jwtAudience !== undefined) out.auth.audience = flags.jwtAudience;
  if (flags.trustedProxies !== undefined) out.trustedProxies = flags.trustedProxies;
  if (flags.maxConnections !== undefined) out.maxConnections = flags.maxConnections;
  if (flags.address !== undefined) out.address = flags.address;
  if (flags.healthProbeAddress !== undefined) out.healthProbeAddress = flags.healthProbeAddress;
  if (flags.metricsAddress !== undefined) out.metricsAddress = flags.metricsAddress;
  return out;
}

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

/** A listen address, or `0` (off) where `canBeOff`; returns it unchanged. */
export function checkBindAddress(what: string, address: string, canBeOff: boolean): string {
  if (address.trim() === LISTENER_OFF) {
    if (canBeOff) return LISTENER_OFF;
    throw new ConfigError(`${what} cannot be turned off (0): the kubelet's probes need it`);
  }
  try {
    parseListenAddress(address);
  } catch (err) {
    throw new ConfigError(`${what}: ${(err as Error).message}`);
  }
  return address;
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/**
 * Builds the API configuration from environment variables (see the header), with the operator's
 * flags on top. A JWT key is required only when the API is served.
 */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env, flags?: ApiFlags): ApiConfig {
  const address = checkBindAddress('OVIM_API_ADDRESS', flags?.address ?? (env.OVIM_API_ADDRESS || DEFAULT_API_ADDRESS), true);
  const auth: AuthConfig = {};
  if (env.OVIM_JWT_SECRET && env.OVIM_JWT_SECRET_FILE) {
    throw new ConfigError('set OVIM_JWT_SECRET or OVIM_JWT_SECRET_FILE, not both');
  }
  const secret = env.OVIM_JWT_SECRET_FILE
    ? readSecretFile(env.OVIM_JWT_SECRET_FILE, 'the JWT secret file')
    : env.OVIM_JWT_SECRET;
  if (secret !== undefined && secret !== '') {
    auth.secret = new TextEncoder().encode(secret);
    const problem = secretProblem(auth.secret);
    if (problem) throw new ConfigError(`${problem}; refusing to start`);
  }
  if (env.OVIM_JWT_PUBLIC_KEY_FILE) {
    auth.publicKey = { pem: readSecretFile(env.OVIM_JWT_PUBLIC_KEY_FILE, 'the JWT public key file') };
  }
  if (!auth.secret && !auth.publicKey && address !== LISTENER_OFF) {
    throw new ConfigError(
      'the events API needs a JWT key: set OVIM_JWT_SECRET or OVIM_JWT_SECRET_FILE (HS256), or OVIM_JWT_PUBLIC_KEY_FILE (RS256/ES256), ' +
        'or turn the API off with --api-bind-address=0',
    );
  }
  if (env.OVIM_JWT_ISSUER) auth.issuer = env.OVIM_JWT_ISSUER;
  if (env.OVIM_JWT_MAX_AGE) auth.maxTokenAgeSeconds = parseDurationSeconds('OVIM_JWT_MAX_AGE', env.OVIM_JWT_MAX_AGE);
  if (env.OVIM_JWT_AUDIENCE) auth.audience = env.OVIM_JWT_AUDIENCE;

  let maxEvents = DEFAULT_MAX_EVENTS;
  if (env.OVIM_EVENT_STORE_MAX) {
    maxEvents = Number(env.OVIM_EVENT_STORE_MAX);
    if (!/^\d+$/.test(env.OVIM_EVENT_STORE_MAX) || maxEvents < 1) {
      throw new ConfigError(`OVIM_EVENT_STORE_MAX must be a positive integer, not ${JSON.stringify(env.OVIM_EVENT_STORE_MAX)}`);
    }
  }
  const config: ApiConfig = {
    address,
    auth,
    maxEvents,
    healthProbeAddress: checkBindAddress('OVIM_HEALTH_PROBE_ADDRESS', env.OVIM_HEALTH_PROBE_ADDRESS || DEFAULT_HEALTH_PROBE_ADDRESS, false),
    metricsAddress: checkBindAddress('OVIM_METRICS_ADDRESS', env.OVIM_METRICS_ADDRESS || DEFAULT_METRICS_ADDRESS, true),
  };
  if (env.OVIM_TRUSTED_PROXIES) config.trustedProxies = parseTrustedProxies('OVIM_TRUSTED_PROXIES', env.OVIM_TRUSTED_PROXIES);
  if (env.OVIM_API_MAX_CONNECTIONS) config.maxConnections = parseMaxConnections('OVIM_API_MAX_CONNECTIONS', env.OVIM_API_MAX_CONNECTIONS);
  return applyApiFlags(config, flags);
}
