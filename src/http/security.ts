// What the API does about rejected requests (DESIGN.md section 8): every rejected token is
// counted per client address; more than 20 in a minute from one address and that address's
// rejected requests are answered 429 for 60 s (a request with a valid token never is); the
// rejections are logged at warn, sampled (one line per address and minute, with how many were
// left out), and recorded as security events through the API's EventRecorder, whose correlator
// folds and rate-limits them: Warning AuthenticationFailed on the operator's own Namespace
// (per client address, never the token) and Warning AccessDenied on the caller's Organization.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { EventRecording } from '../events/types.js';

export const DEFAULT_REJECTED_TOKENS_PER_MINUTE = 20;
export const DEFAULT_BLOCK_SECONDS = 60;
const WINDOW_MS = 60_000;
/** Addresses remembered at most (the oldest are forgotten first): a bound on memory. */
const DEFAULT_MAX_ADDRESSES = 10_000;

export interface RejectionLimits {
  /** More rejected tokens than this within a minute from one address start a block (default 20). */
  perMinute?: number;
  /** How long a block lasts, seconds (default 60). */
  blockSeconds?: number;
  maxAddresses?: number;
}

interface AddressState {
  /** Times of the rejections within the last minute (at most perMinute + 1 kept). */
  times: number[];
  blockedUntil: number;
  /** When a rejection from this address was last logged, and how many were not since. */
  loggedAt: number;
  unlogged: number;
}

/** The per-address bookkeeping (pure: the clock is passed in). */
export class RejectionCounter {
  private readonly perMinute: number;
  private readonly blockMs: number;
  private readonly maxAddresses: number;
  private readonly addresses = new Map<string, AddressState>();

  constructor(limits: RejectionLimits = {}) {
    this.perMinute = Math.max(1, limits.perMinute ?? DEFAULT_REJECTED_TOKENS_PER_MINUTE);
    this.blockMs = Math.max(1, limits.blockSeconds ?? DEFAULT_BLOCK_SECONDS) * 1000;
    this.maxAddresses = Math.max(1, limits.maxAddresses ?? DEFAULT_MAX_ADDRESSES);
  }

  get size(): number {
    return this.addresses.size;
  }

  has(address: string): boolean {
    return this.addresses.has(address);
  }

  /**
   * Counts a rejection; returns whether to log it (the first per address and minute; `unlogged`
   * says how many were left out before it) and whether the address is now blocked.
   */
  reject(address: string, now: number): { log: boolean; unlogged: number; blocked: boolean } {
    let state = this.addresses.get(address);
    if (state) {
      this.addresses.delete(address); // re-inserted below: the map's order is least recently seen first
    } else {
      state = { times: [], blockedUntil: 0, loggedAt: -Infinity, unlogged: 0 };
      if (this.addresses.size >= this.maxAddresses) this.addresses.delete(this.addresses.keys().next().value as string);
    }
    this.addresses.set(address, state);
    const times = state.times;
    while (times.length > 0 && (times[0] as number) <= now - WINDOW_MS) times.shift();
    times.push(now);
    if (times.length > this.perMinute) {
      if (state.blockedUntil <= now) state.blockedUntil = now + this.blockMs;
      times.splice(0, times.length - this.perMinute - 1);
    }
    let log = false;
    let unlogged = 0;
    if (now - state.loggedAt >= WINDOW_MS) {
      log = true;
      unlogged = state.unlogged;
      state.loggedAt = now;
      state.unlogged = 0;
    } else {
      state.unlogged++;
    }
    return { log, unlogged, blocked: state.blockedUntil > now };
  }

  /** Seconds until the address's block ends (rounded up), or 0 when it is not blocked. */
  blockedFor(address: string, now: number): number {
    const until = this.addresses.get(address)?.blockedUntil ?? 0;
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }
}

export interface SecurityOptions {
  /** The API's recorder (component ovim-api); without one, nothing is recorded. */
  recorder?: EventRecording;
  /** The operator's own namespace (POD_NAMESPACE, else default): AuthenticationFailed's object. */
  namespace?: string;
  logger?: Logger;
  limits?: RejectionLimits;
  /** For tests. */
  now?: () => number;
}

/** Who was refused, as the API knows them (never a token). */
export interface Caller {
  username: string;
  role: string;
  organization: string;
}

// Organization names are DNS labels: only then is there an Organization to record AccessDenied on.
const ORGANIZATION_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class SecurityMonitor {
  readonly namespace: string;
  private readonly counter: RejectionCounter;
  private readonly now: () => number;

  constructor(private readonly options: SecurityOptions = {}) {
    this.namespace = options.namespace || 'default';
    this.counter = new RejectionCounter(options.limits);
    this.now = options.now ?? Date.now;
  }

  /**
   * A request whose token was rejected (`why` is the 401's message). Returns the seconds to put
   * in Retry-After when the address is blocked (→ 429), else 0 (→ 401).
   */
  authenticationFailed(address: string, why: string): number {
    const now = this.now();
    const { log, unlogged, blocked } = this.counter.reject(address, now);
    if (log) {
      this.options.logger?.warn('rejected a bearer token', { client: address, reason: why, ...(unlogged ? { notLogged: unlogged } : {}) });
    }
    this.options.recorder?.record(
      namespaceObject(this.namespace),
      'Warning',
      'AuthenticationFailed',
      `Rejected a bearer token from ${address}: ${why}`,
      { actor: undefined },
    );
    return blocked ? this.counter.blockedFor(address, now) : 0;
  }

  /** A valid token asked for something outside its scope (→ 403). */
  accessDenied(address: string, caller: Caller, why: string): void {
    this.options.logger?.warn('denied a request outside the caller\'s scope', {
      client: address,
      user: caller.username,
      role: caller.role,
      organization: caller.organization,
      reason: why,
    });
    if (!ORGANIZATION_NAME.test(caller.organization)) return;
    this.options.recorder?.record(
      organizationObject(caller.organization),
      'Warning',
      'AccessDenied',
      `Denied ${caller.username} (role ${caller.role}) from ${address}: ${why}`,
      { actor: caller.username, organization: caller.organization },
    );
  }
}

function namespaceObject(name: string): KubernetesObject {
  // The Event lives in that namespace, so it carries the namespace in its reference too.
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, namespace: name } };
}

function organizationObject(name: string): KubernetesObject {
  return { apiVersion: 'ovim.io/v1', kind: 'Organization', metadata: { name } };
}
