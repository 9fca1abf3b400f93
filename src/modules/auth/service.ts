/**
 * Sign-up, sign-in and sign-out through Better-Auth. Sign-up and sign-in go through its HTTP
 * handler rather than `auth.api.*`: only the handler runs the per-IP rate limiter and the
 * Origin / Fetch-Metadata checks, and /auth/login must not be a way around either.
 *
 * All three need the primary: when Better-Auth cannot reach it (its handler answers a bare 500,
 * sign-out even answers success without having deleted the session) they throw 503
 * DATABASE_UNAVAILABLE with Retry-After, through `guardBetterAuth`.
 */
import { z } from 'zod';
import { AUTH_BASE_PATH, type AuthGateway, type AuthUser, betterAuthError, betterAuthUserJson, guardBetterAuth, toAuthUser } from '../../lib/auth';
import type { LoginInput, SignUpInput } from './schemas';

/** The caller's headers Better-Auth's checks read (client IP, Origin, Fetch-Metadata). Never cookies. */
export type ForwardedHeaders = Readonly<Record<string, string>>;

export type { AuthGateway };

export type CredentialResult = { user: AuthUser; cookies: string[] };

const credentialAnswer = z.object({ user: betterAuthUserJson });
const errorAnswer = z.object({ code: z.string().optional(), message: z.string().optional() });

async function postCredentials(gateway: AuthGateway, path: string, body: object, forwarded: ForwardedHeaders): Promise<CredentialResult> {
  const headers = new Headers(forwarded);
  headers.set('content-type', 'application/json');
  const url = new URL(`${AUTH_BASE_PATH}${path}`, gateway.baseUrl);
  const response = await guardBetterAuth(gateway.auth, () =>
    gateway.auth.handler(new Request(url.href, { method: 'POST', headers, body: JSON.stringify(body) })),
    gateway.boundMs,
  );
  const payload: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const failure = errorAnswer.safeParse(payload);
    const retryAfter = Number(response.headers.get('x-retry-after'));
    throw betterAuthError({
      status: response.status,
      code: failure.success ? failure.data.code : undefined,
      message: failure.success ? failure.data.message : undefined,
      retryAfterS: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      path,
    });
  }
  // The token in Better-Auth's body is the session cookie's value: it stays out of our answer.
  const { user } = credentialAnswer.parse(payload);
  return { user: toAuthUser(user), cookies: response.headers.getSetCookie() };
}

export const signUp = (gateway: AuthGateway, input: SignUpInput, forwarded: ForwardedHeaders) =>
  postCredentials(gateway, '/sign-up/email', input, forwarded);

export const signIn = (gateway: AuthGateway, input: LoginInput, forwarded: ForwardedHeaders) =>
  postCredentials(gateway, '/sign-in/email', input, forwarded);
