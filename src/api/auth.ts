import { createHash, randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { safeEqual } from '../signature.js';
import { ApiError } from './errors.js';
import type { ApiStore, Caller } from './store.js';
import { DEFAULT_ORG_UUID } from '../org.js';

/** How long a token's org stays cached: a lookup per API call would double the small ones. */
const CACHE_MS = 30_000;
const CACHE_MAX = 10_000;

/** What the API's routes find on their context: the caller, and the request's logger (see request-id.ts). */
export type ApiEnv = { Variables: { caller: Caller; log?: Logger } };

/**
 * How tokens are kept: only this hash is stored, so a database dump yields no usable token.
 *
 * @example tokenHash('hld_abc…') // 'a3f1…' (64 hex digits)
 */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new bearer token: 32 random bytes, with a prefix that makes a leaked one easy to recognise. */
export function newToken(): string {
  return `hld_${randomBytes(32).toString('base64url')}`;
}

/**
 * Middleware: `Authorization: Bearer <token>` → the caller (401 otherwise). The admin token is
 * compared in constant time; org tokens are looked up by hash, and cached briefly.
 *
 * @example api.use('*', authenticate(store, adminToken));
 */
export function authenticate(store: ApiStore, adminToken: string): MiddlewareHandler<ApiEnv> {
  const cache = new Map<string, { caller: Caller; until: number }>();
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError(401, 'unauthorized', header === '' ? 'missing Authorization header (Bearer token)' : 'Authorization header must be "Bearer <token>"');
    const token = match[1]!;
    if (safeEqual(token, adminToken)) {
      c.set('caller', { orgUuid: DEFAULT_ORG_UUID, isAdmin: true });
      return next();
    }
    const hash = tokenHash(token);
    const now = Date.now();
    let cached = cache.get(hash);
    if (!cached || cached.until < now) {
      const caller = await store.findToken(hash);
      if (!caller) throw new ApiError(401, 'unauthorized', 'unknown or revoked token');
      if (cache.size >= CACHE_MAX) cache.clear();
      cached = { caller, until: now + CACHE_MS };
      cache.set(hash, cached);
    }
    c.set('caller', cached.caller);
    return next();
  };
}
