/** Better-Auth calls made on a user's behalf by more than one module (sign-out: auth and users). */
import type { Auth } from './instance';
import { fromBetterAuthApiError } from './failures';
import { guardBetterAuth } from './outage';

/** `boundMs`: how long one Better-Auth call may take before it is answered 503 (see guardBetterAuth). */
export type AuthGateway = { auth: Auth; baseUrl: string; boundMs: number };

/**
 * Deletes the session behind the cookie (if any) and returns the Set-Cookie values clearing it.
 * With the primary down it is 503 and the cookies stay: "signed out" must mean the session is gone.
 */
export async function signOut(gateway: AuthGateway, cookie: string | null): Promise<string[]> {
  if (!cookie) return [];
  try {
    const result = await guardBetterAuth(
      gateway.auth,
      () => gateway.auth.api.signOut({ headers: new Headers({ cookie }), returnHeaders: true }),
      gateway.boundMs,
    );
    return result.headers.getSetCookie();
  } catch (error) {
    throw fromBetterAuthApiError(error, '/sign-out');
  }
}
