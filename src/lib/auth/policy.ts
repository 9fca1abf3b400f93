/** Our request rules applied on Better-Auth's own endpoints: one password policy, trimmed emails. */
import { APIError, createAuthMiddleware } from 'better-auth/api';
import { passwordPolicyProblem } from '../validation';

/** Where each Better-Auth endpoint carries a new password. */
const NEW_PASSWORD_FIELD: Readonly<Record<string, string>> = {
  '/sign-up/email': 'password',
  '/change-password': 'newPassword',
  '/admin/create-user': 'password',
  '/admin/set-user-password': 'newPassword',
};
const EMAIL_PATHS = new Set(['/sign-up/email', '/sign-in/email', '/admin/create-user']);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Runs before every Better-Auth endpoint, over HTTP and `auth.api.*` alike: one password policy
 * (src/lib/validation.ts: code points, no control characters, not only whitespace) and emails
 * trimmed before Better-Auth validates them, exactly as /auth/signup does (issue 7: the two
 * entry points disagreed).
 */
export const requestPolicy = createAuthMiddleware(async (ctx) => {
  const body: unknown = ctx.body;
  if (!isRecord(body)) return;
  const passwordField = NEW_PASSWORD_FIELD[ctx.path];
  const password = passwordField ? body[passwordField] : undefined;
  if (typeof password === 'string') {
    const problem = passwordPolicyProblem(password);
    if (problem) throw new APIError('BAD_REQUEST', { code: 'PASSWORD_POLICY', message: `${passwordField}: ${problem}` });
  }
  if (EMAIL_PATHS.has(ctx.path) && typeof body.email === 'string') {
    return { context: { body: { ...body, email: body.email.trim().toLowerCase() } } };
  }
  return;
});

/**
 * Better-Auth logs some refusals a client causes at error level (a bad Origin, a callback URL
 * that is not trusted). Error means our fault here: these are warnings.
 */
export const CLIENT_REFUSAL = /^(Invalid (origin|callbackURL|redirectTo|errorCallbackURL|newUserCallbackURL)\b|Blocked cross-site navigation)/;
