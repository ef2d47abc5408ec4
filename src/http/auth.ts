// JWT authentication compatible with the OVIM backend: HS256 tokens with issuer `ovim-backend`
// and the claims user_id, username, role, org_id; optionally RS256/ES256 with a public key.
// Every failure is an AuthError (→ 401). Tokens are never logged or echoed.
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

export const JWT_ISSUER = 'ovim-backend';
/** HS256 secrets shorter than this are refused (RFC 7518 3.2: at least the hash's 256 bits). */
export const MIN_SECRET_BYTES = 32;
/** Tokens issued longer ago than this are refused, whatever their `exp` says (24 h). */
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 24 * 3600;

export type PublicKeyAlgorithm = 'RS256' | 'ES256';

export interface AuthConfig {
  /** HS256 shared secret (the OVIM backend's JWT secret). */
  secret?: Uint8Array;
  /** A PEM public key for RS256 (RSA) or ES256 (EC P-256) tokens. */
  publicKey?: { pem: string; algorithm?: PublicKeyAlgorithm };
  /** Default `ovim-backend`. */
  issuer?: string;
  /** Allowed clock skew for exp/nbf/iat, seconds (default 30). */
  clockToleranceSeconds?: number;
  /**
   * Tokens whose `iat` is older than this many seconds are refused, and tokens without `iat`
   * too (default 24 h).
   */
  maxTokenAgeSeconds?: number;
  /** When set, tokens must name this audience in `aud`. */
  audience?: string;
}

/** The reason a secret is refused at start, or undefined when it is long enough. */
export function secretProblem(secret: Uint8Array): string | undefined {
  if (secret.length >= MIN_SECRET_BYTES) return undefined;
  return `the JWT secret is ${secret.length} bytes long; HS256 needs at least ${MIN_SECRET_BYTES} (e.g. \`openssl rand -base64 32\`)`;
}

/** The claims the API relies on. */
export interface Claims {
  userId: string;
  username: string;
  role: string;
  /** Empty for users of no organization (system admins). */
  orgId: string;
}

export class AuthError extends Error {
  readonly statusCode = 401;
}

/** The token of an `Authorization: Bearer <token>` header, or an AuthError. */
export function bearerToken(header: string | string[] | undefined): string {
  if (header === undefined || header === '') throw new AuthError('missing Authorization header');
  if (Array.isArray(header)) throw new AuthError('more than one Authorization header');
  const match = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(header);
  if (!match) throw new AuthError('Authorization header must be "Bearer <token>"');
  return match[1] as string;
}

/** The algorithm a PEM public key signs with: RSA → RS256, EC P-256 → ES256. */
export function publicKeyAlgorithm(key: KeyObject): PublicKeyAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(`unsupported JWT public key (${type ?? 'unknown'}${type === 'ec' ? ` ${key.asymmetricKeyDetails?.namedCurve}` : ''}); use RSA (RS256) or EC P-256 (ES256)`);
}

export type TokenVerifier = (token: string) => Promise<Claims>;

/** Verified tokens kept so that a client's repeated requests skip the signature check. */
const TOKEN_CACHE_SIZE = 1024;

interface CachedToken {
  claims: Claims;
  exp: number;
  nbf: number | undefined;
  iat: number | undefined;
}

/**
 * A verifier for the configured keys; throws AuthError for every bad token. A token whose
 * signature and claims were verified is remembered (by its exact text, at most 1024 of them)
 * until it expires, so repeated requests with it cost a map lookup and a clock check.
 */
export function createVerifier(config: AuthConfig): TokenVerifier {
  if (config.secret && config.secret.length > 0) {
    const problem = secretProblem(config.secret);
    if (problem) throw new Error(problem);
  }
  const keys = new Map<string, Uint8Array | KeyObject | webcrypto.CryptoKey>();
  if (config.secret && config.secret.length > 0) keys.set('HS256', config.secret);
  if (config.publicKey) {
    const key = createPublicKey(config.publicKey.pem);
    const algorithm = publicKeyAlgorithm(key);
    if (config.publicKey.algorithm && config.publicKey.algorithm !== algorithm) {
      throw new Error(`the JWT public key is for ${algorithm}, not ${config.publicKey.algorithm}`);
    }
    keys.set(algorithm, key);
  }
  if (keys.size === 0) throw new Error('no JWT key configured: set a secret (HS256) or a public key (RS256/ES256)');
  const algorithms = [...keys.keys()];
  // The key follows from the header's algorithm, so a public key can never serve as an HMAC secret.
  const getKey: JWTVerifyGetKey = (header) => {
    const key = keys.get(header.alg);
    if (!key) throw new AuthError(`token algorithm ${JSON.stringify(header.alg)} is not accepted`);
    return key;
  };
  const issuer = config.issuer ?? JWT_ISSUER;
  const clockTolerance = config.clockToleranceSeconds ?? 30;
  const maxTokenAge = config.maxTokenAgeSeconds ?? DEFAULT_MAX_TOKEN_AGE_SECONDS;
  const audience = config.audience || undefined;
  // The HMAC key imported once (jose would import a raw secret on every verification).
  let hmacKey: Promise<void> | undefined;
  if (config.secret && config.secret.length > 0) {
    hmacKey = webcrypto.subtle
      .importKey('raw', config.secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
      .then((key) => void keys.set('HS256', key));
  }
  const cache = new Map<string, CachedToken>();

  return async (token: string): Promise<Claims> => {
    const now = Date.now() / 1000;
    const cached = cache.get(token);
    if (cached) {
      const fresh =
        now <= cached.exp + clockTolerance &&
        (cached.iat as number) >= now - maxTokenAge - clockTolerance &&
        (cached.nbf === undefined || now >= cached.nbf - clockTolerance) &&
        (cached.iat === undefined || cached.iat <= now + clockTolerance);
      if (fresh) return cached.claims;
      cache.delete(token); // verified again below, which says why it fails
    }
    if (hmacKey) await hmacKey;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms,
        issuer,
        audience,
        clockTolerance,
        // Also makes `iat` required: a stolen token stops working a day after it was issued.
        maxTokenAge,
        requiredClaims: ['exp', 'iat'],
      }));
    } catch (err) {
      throw new AuthError(describeJoseError(err));
    }
    // jose checks iat only with maxTokenAge; a token issued in the future is not valid yet.
    if (typeof payload.iat === 'number' && payload.iat > now + clockTolerance) {
      throw new AuthError('token not yet valid');
    }
    const claims = claimsOf(payload);
    if (cache.size >= TOKEN_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(token, { claims, exp: payload.exp as number, nbf: payload.nbf, iat: payload.iat });
    return claims;
  };
}

function describeJoseError(err: unknown): string {
  if (err instanceof AuthError) return err.message;
  if (err instanceof joseErrors.JWTExpired) return err.claim === 'iat' ? 'token is older than the maximum token age' : 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return `token has no ${err.claim} claim`;
    if (err.claim === 'nbf' || err.claim === 'iat') return 'token not yet valid';
    if (err.claim === 'iss') return 'token issuer is not accepted';
    if (err.claim === 'aud') return 'token audience is not accepted';
    return `token claim ${err.claim} is invalid`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not accepted';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof joseErrors.JOSENotSupported) return 'token uses a feature that is not supported';
  return 'token is malformed';
}

function claimsOf(payload: JWTPayload): Claims {
  const text = (name: string, required: boolean): string => {
    const value = payload[name];
    if (value === undefined || value === null || value === '') {
      if (required) throw new AuthError(`token has no ${name} claim`);
      return '';
    }
    if (typeof value !== 'string') throw new AuthError(`token claim ${name} must be a string`);
    return value;
  };
  return {
    userId: text('user_id', true),
    username: text('username', true),
    role: text('role', true),
    orgId: text('org_id', false),
  };
}

export interface SignOptions {
  /** Lifetime in seconds (default 24 h, like the OVIM backend). */
  expiresInSeconds?: number;
  issuer?: string;
  /** Issued-at/not-before; default now. For tests. */
  now?: Date;
}

/** Signs an HS256 token like the OVIM backend does (e.g. the sandbox's system-admin token). */
export async function signToken(
  claims: { userId: string; username: string; role: string; orgId?: string },
  secret: Uint8Array | string,
  options: SignOptions = {},
): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const payload: JWTPayload = { user_id: claims.userId, username: claims.username, role: claims.role };
  if (claims.orgId) payload.org_id = claims.orgId;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(options.issuer ?? JWT_ISSUER)
    .setSubject(claims.userId)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 24 * 3600))
    .sign(key);
}
