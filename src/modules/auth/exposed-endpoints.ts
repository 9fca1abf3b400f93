/**
 * Which of Better-Auth's own endpoints answer over HTTP at /api/auth/*: exactly these. They are
 * what Better-Auth's official client needs for email + password accounts and session management;
 * everything else it registers (the admin plugin, social sign-in, email flows, its OpenAPI
 * generator) is 404 here. Admin work goes through our /users routes, which read roles and bans the
 * one way the rest of the service does.
 *
 * The handler (./index.ts), the API document (./openapi.ts), the README and the tests all read
 * this table, so an endpoint added here is refused, documented and tested like the others.
 *
 * Every one of them reaches Better-Auth without the session cookie cache (the cookie is removed
 * from the request), so each session check is a database read: a signed-out, banned or deleted
 * account's old cookies cannot change anything or mint a new cache cookie (issue 7).
 */
export type ExposedAuthEndpoint = {
  method: 'GET' | 'POST';
  /** Better-Auth's path, below /api/auth. */
  path: string;
  /** Whether it needs a signed-in session (read from the database, see above). */
  needsSession: boolean;
  /** What the official client uses it for. */
  purpose: string;
};

export const EXPOSED_AUTH_ENDPOINTS: readonly ExposedAuthEndpoint[] = [
  { method: 'POST', path: '/sign-up/email', needsSession: false, purpose: 'signUp.email' },
  { method: 'POST', path: '/sign-in/email', needsSession: false, purpose: 'signIn.email' },
  { method: 'POST', path: '/sign-out', needsSession: false, purpose: 'signOut' },
  { method: 'GET', path: '/get-session', needsSession: false, purpose: 'getSession / useSession' },
  { method: 'POST', path: '/update-user', needsSession: true, purpose: 'updateUser (name, image)' },
  { method: 'POST', path: '/change-password', needsSession: true, purpose: 'changePassword' },
  { method: 'GET', path: '/list-sessions', needsSession: true, purpose: 'listSessions' },
  { method: 'POST', path: '/revoke-session', needsSession: true, purpose: 'revokeSession' },
  { method: 'POST', path: '/revoke-sessions', needsSession: true, purpose: 'revokeSessions' },
  { method: 'POST', path: '/revoke-other-sessions', needsSession: true, purpose: 'revokeOtherSessions' },
];

const byPath = new Map<string, ExposedAuthEndpoint>(EXPOSED_AUTH_ENDPOINTS.map((endpoint) => [endpoint.path, endpoint]));

/** The exposed endpoint at `path` (below /api/auth), or undefined. */
export const exposedAuthEndpoint = (path: string): ExposedAuthEndpoint | undefined => byPath.get(path);
