/**
 * Operators' endpoints behind a shared token (/metrics: METRICS_TOKEN; /health/db's detail:
 * OPS_TOKEN): `Authorization: Bearer <token>`, compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Who gets in: holders of the token; everyone when there is none and `openWithoutToken` (outside production). */
export type TokenAccess = Readonly<{ token: string | undefined; openWithoutToken: boolean }>;

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function presentsToken(access: TokenAccess, authorization: string | null): boolean {
  if (access.token === undefined) return access.openWithoutToken;
  const presented = authorization?.startsWith('Bearer ') ? authorization.slice(7) : null;
  // Digests first: equal lengths for timingSafeEqual, and no length leak.
  return presented !== null && timingSafeEqual(digest(presented), digest(access.token));
}
