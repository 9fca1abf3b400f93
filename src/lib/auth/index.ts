/**
 * The one auth module (Better-Auth), by concern: instance.ts (the factory and its options),
 * client-ip.ts, roles.ts, rate-limit.ts, outage.ts (bounded calls, outages as 503), failures.ts
 * (Better-Auth errors as ours), policy.ts (our rules on its endpoints), user-fields.ts (users row
 * invariants), user.ts (the signed-in user), gateway.ts (sign-out on a user's behalf),
 * revocations.ts (ended sessions and bans this instance heard of: their cookie cache is not trusted).
 */
export { CLIENT_IP_HEADER, resolveClientIp, stampClientIp } from './client-ip';
export { betterAuthError, type BetterAuthFailure, fromBetterAuthApiError } from './failures';
export { type AuthGateway, signOut } from './gateway';
export { AUTH_BASE_PATH, type Auth, authCookieNames, type CreateAuthOptions, createAuth, trustedOrigins, usesSecureCookies } from './instance';
export { databaseUnavailable, guardBetterAuth } from './outage';
export { rateLimitHeaders } from './rate-limit';
export { SessionRevocations } from './revocations';
export { createSessionReader, SESSION_EXPIRES_IN_S, SESSION_UPDATE_AGE_S, type SessionReader } from './session-reader';
export { type AuthSession, type AuthUser, betterAuthUserJson, type Viewer, isBanActive, toAuthSession, toAuthUser, toRole } from './user';
