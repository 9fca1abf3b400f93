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
    banReason: z.string().max(500).nullable(),
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

/** Admin creates an account; `role` is an admin's to choose here (defaults to user). */
export const createUserBody = z.object({
  email: emailSchema,
  password: newPasswordSchema,
  name: personNameSchema,
  role: roleSchema.optional(),
});

/**
 * One body for self and admin. `name`/`image` are anyone's to change on their own account;
 * `role` and the ban fields are admin-only: sent by anyone else they are refused with 403, never
 * silently applied.
 */
export const updateUserBody = z.object({
  name: personNameSchema.optional(),
  image: imageUrlSchema.nullable().optional(),
  role: roleSchema.optional().describe('Admin only'),
  banned: z.boolean().optional().describe('Admin only. Banning revokes every session of the user.'),
  banReason: safeText(500).nullable().optional().describe('Admin only'),
  banExpires: z.iso.datetime({ offset: true }).max(40).nullable().optional().describe('Admin only. null: until unbanned'),
});

export const ADMIN_ONLY_FIELDS = ['role', 'banned', 'banReason', 'banExpires'] as const;

export const deletedSchema = z.object({ id: z.string().max(64), deleted: z.literal(true) });
