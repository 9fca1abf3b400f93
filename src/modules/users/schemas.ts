import { z } from 'zod';
import { userRoles } from '../../db';
import {
  cursorQuery,
  emailSchema,
  imageUrlSchema,
  limitQuery,
  newPasswordSchema,
  personNameSchema,
  safeText,
  queryText,
  userIdSchema,
} from '../../lib/validation';

export const roleSchema = z.enum(userRoles);

/** What any signed-in user may see of another account. */
export const publicUserSchema = z
  .object({
    id: z.string().max(64),
    name: z.string().max(100),
    image: z.string().max(2048).nullable(),
    createdAt: z.date(),
  })
  .describe('Public profile');

/** Self and admins only. Never carries a password hash: those live in `accounts`, never selected. */
export const privateUserSchema = z
  .object({
    id: z.string().max(64),
    email: z.string().max(254),
    name: z.string().max(100),
    image: z.string().max(2048).nullable(),
    emailVerified: z.boolean(),
    role: roleSchema,
    banned: z.boolean(),
    // A ban's reason: the admin's (REASON_MAX) or a report's resolution note, up to 2,000.
    banReason: z.string().max(2_000).nullable(),
    banExpires: z.date().nullable(),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .describe('Full account, for its owner and admins');

/** The full account when the caller may see it, else the public profile. */
export const userViewSchema = privateUserSchema.or(publicUserSchema);

export type PublicUser = z.infer<typeof publicUserSchema>;
export type PrivateUser = z.infer<typeof privateUserSchema>;

export const userParams = z.object({ id: userIdSchema });

export const listUsersQuery = z.object({
  limit: limitQuery,
  cursor: cursorQuery,
  email: safeText(254).optional().describe('Case-insensitive substring of the email'),
  name: queryText(safeText(100)).optional().describe('Case-insensitive substring of the name'),
});

/** Why an admin creates or deletes an account: the audit log keeps it. */
const adminReason = safeText(500).describe('Why: kept in the audit log');

/** Admin creates an account; `role` is an admin's to choose here (defaults to user). */
export const createUserBody = z.object({
  email: emailSchema,
  password: newPasswordSchema,
  name: personNameSchema,
  role: roleSchema.optional(),
  reason: adminReason,
});

/** Refused here, whoever sends them: staff change roles and bans at /admin/users (audited, with a reason). */
const movedToAdminUsers = (what: string) => `Not accepted here (422 USE_ADMIN_USERS): ${what}`;

/**
 * `name`/`image`, on one's own account (or any, for an admin). `role` and the ban fields are
 * listed only to be refused with 422 USE_ADMIN_USERS, never silently dropped: a client that still
 * sends them learns where they went.
 */
export const updateUserBody = z.object({
  name: personNameSchema.optional(),
  image: imageUrlSchema.nullable().optional(),
  reason: adminReason.optional().describe('Required when an admin changes another account: kept in the audit log'),
  role: roleSchema.optional().meta({ deprecated: true }).describe(movedToAdminUsers('POST /admin/users/{id}/role')),
  banned: z.boolean().optional().meta({ deprecated: true }).describe(movedToAdminUsers('POST /admin/users/{id}/ban or /unban')),
  banReason: safeText(2_000).nullable().optional().meta({ deprecated: true }).describe(movedToAdminUsers('the `reason` of POST /admin/users/{id}/ban')),
  banExpires: z.iso.datetime({ offset: true }).max(40).nullable().optional().meta({ deprecated: true }).describe(movedToAdminUsers('the `expiresAt` of POST /admin/users/{id}/ban')),
});

export const MOVED_TO_ADMIN_USERS = ['role', 'banned', 'banReason', 'banExpires'] as const;

/** An admin deleting someone else's account says why; deleting one's own needs no body. */
export const deleteUserBody = z.object({ reason: adminReason.optional().describe('Required when an admin deletes another account: kept in the audit log') }).optional();

export const deletedSchema = z.object({ id: z.string().max(64), deleted: z.literal(true) });
