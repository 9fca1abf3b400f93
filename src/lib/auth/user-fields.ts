/** The invariants of every users row, whoever writes it (Better-Auth's databaseHooks). */
import { APIError } from 'better-auth/api';
import { z } from 'zod';
import { userRoles } from '../../db';
import { emailSchema, imageUrlSchema, personNameSchema } from '../validation';

/**
 * `role` is exactly one of ours: the admin plugin joins a list into "user,admin" before this hook
 * sees it, and reads such a value as every role in it, so a list is refused here (and by the
 * database's CHECK), never stored (issue 7).
 */
const userFieldSchemas = {
  name: personNameSchema,
  email: emailSchema,
  image: imageUrlSchema.nullable(),
  role: z.enum(userRoles),
} as const;

/**
 * Every writer of users (our routes, Better-Auth's own endpoints, the seed) goes through these
 * checks, so the columns always fit our response schemas and a NUL byte never reaches
 * PostgreSQL as a 500.
 */
export function checkUserFields<T extends Record<string, unknown>>(user: T) {
  const normalized: Record<string, unknown> = {};
  for (const [field, schema] of Object.entries(userFieldSchemas)) {
    if (!(field in user) || user[field] === undefined) continue;
    const parsed = schema.safeParse(user[field]);
    if (!parsed.success) {
      throw new APIError('BAD_REQUEST', { code: 'INVALID_USER_FIELDS', message: `${field}: ${parsed.error.issues[0]?.message ?? 'is invalid'}` });
    }
    normalized[field] = parsed.data; // trimmed, lower-cased
  }
  return { data: { ...user, ...normalized } };
}
