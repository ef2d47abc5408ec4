// From a token's claims to what its holder may see (DESIGN.md section 5, "Authorization"):
// computed once per request, applied as a filter in the store query. Pure.
import type { Scope } from '../events/query.js';
import { AuthError, type Claims } from './auth.js';

export const ROLES = ['system_admin', 'org_admin', 'org_user', 'org_member'] as const;
export type Role = (typeof ROLES)[number];

/** A valid token whose role grants no access to events (→ 403). */
export class ForbiddenError extends Error {
  readonly statusCode = 403;
}

// Organization names are DNS labels (they name the `org-<name>` namespace).
const ORGANIZATION_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function scopeForClaims(claims: Claims): Scope {
  switch (claims.role) {
    case 'system_admin':
      return { kind: 'all' };
    case 'org_admin':
    case 'org_user':
    case 'org_member': {
      if (claims.orgId === '') throw new AuthError(`token has no org_id claim (required for role ${claims.role})`);
      if (!ORGANIZATION_NAME.test(claims.orgId)) throw new ForbiddenError('token org_id is not a valid organization name');
      return claims.role === 'org_admin'
        ? { kind: 'organization', organization: claims.orgId }
        : { kind: 'own', organization: claims.orgId, username: claims.username };
    }
    default:
      throw new ForbiddenError(`role ${JSON.stringify(claims.role)} has no access to events`);
  }
}
