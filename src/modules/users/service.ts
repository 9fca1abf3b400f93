/**
 * Accounts. Reads go through `db.read` (a replica that has the caller's writes), writes through
 * `db.write` / `db.transaction` (the primary). Creating an account goes through Better-Auth so
 * the password is hashed and the credential account linked exactly as sign-up does.
 */
import { and, desc, eq, ilike, type SQL, sql } from 'drizzle-orm';
import { type DatabaseSession, sessions, users } from '../../db';
import { type Auth, type AuthUser, fromBetterAuthApiError, toAuthUser } from '../../lib/auth';
import { definedFields, type KeysetCursor, keysetPage } from '../../lib/validation';

import type { PrivateUser, PublicUser } from './schemas';

type UserRow = typeof users.$inferSelect;

/** A session user and a users row map the same way: one mapping, in src/plugins/auth.ts. */
export const toPrivateUser = (user: AuthUser | UserRow): PrivateUser => toAuthUser(user);

export const toPublicUser = (user: AuthUser | UserRow): PublicUser => ({
  id: user.id,
  name: user.name,
  image: user.image ?? null,
  createdAt: user.createdAt,
});

/** `%` and `_` in a search term are literal characters, not wildcards. */
const likeContains = (term: string): string => `%${term.replace(/[\\%_]/g, '\\$&')}%`;

export type UserPage = { items: PrivateUser[]; nextCursor: string | null };

export async function listUsers(
  db: DatabaseSession,
  options: { limit: number; cursor: KeysetCursor | null; email?: string | undefined; name?: string | undefined },
): Promise<UserPage> {
  const conditions: SQL[] = [];
  if (options.email) conditions.push(ilike(users.email, likeContains(options.email)));
  if (options.name) conditions.push(ilike(users.name, likeContains(options.name)));
  if (options.cursor) {
    conditions.push(sql`(${users.createdAt}, ${users.id}) < (${options.cursor.t}::timestamptz, ${options.cursor.i})`);
  }
  const rows = await db.read((reader) =>
    reader
      .select({ user: users, cursorAt: sql<string>`${users.createdAt}::text` })
      .from(users)
      .where(conditions.length > 0 ? and(...conditions) : undefined)
      .orderBy(desc(users.createdAt), desc(users.id))
      .limit(options.limit + 1),
  );
  return keysetPage(rows, options.limit, (row) => toPrivateUser(row.user), (row) => ({ t: row.cursorAt, i: row.user.id }));
}

export async function findUser(db: DatabaseSession, id: string): Promise<UserRow | null> {
  const [row] = await db.read((reader) => reader.select().from(users).where(eq(users.id, id)).limit(1));
  return row ?? null;
}

export type UserChanges = {
  name?: string | undefined;
  image?: string | null | undefined;
  role?: PrivateUser['role'] | undefined;
  banned?: boolean | undefined;
  banReason?: string | null | undefined;
  banExpires?: Date | null | undefined;
};

/**
 * Applies already-authorized changes. A ban deletes every session of the user in the same
 * transaction (what Better-Auth's banUser does), so the ban bites on the next fresh check;
 * lifting a ban clears its reason and expiry.
 */
export async function updateUser(db: DatabaseSession, id: string, changes: UserChanges): Promise<UserRow | null> {
  const values: Partial<typeof users.$inferInsert> = { ...definedFields(changes), updatedAt: new Date() };
  if (changes.banned === false) {
    values.banReason = null;
    values.banExpires = null;
  }
  return db.transaction(async (tx) => {
    const [row] = await tx.update(users).set(values).where(eq(users.id, id)).returning();
    if (row && changes.banned === true) await tx.delete(sessions).where(eq(sessions.userId, id));
    return row ?? null;
  });
}

/** Sessions, accounts and posts go with the user (ON DELETE CASCADE). */
export async function deleteUser(db: DatabaseSession, id: string): Promise<boolean> {
  const deleted = await db.write((writer) => writer.delete(users).where(eq(users.id, id)).returning({ id: users.id }));
  return deleted.length > 0;
}

export type NewUser = { email: string; password: string; name: string; role?: PrivateUser['role'] | undefined };

/** Server-side Better-Auth call (no caller headers): the route has already checked for an admin. */
export async function createUser(auth: Auth, db: DatabaseSession, input: NewUser): Promise<PrivateUser> {
  try {
    const { user } = await auth.api.createUser({ body: { email: input.email, password: input.password, name: input.name, role: input.role ?? 'user' } });
    db.markWritten();
    return toPrivateUser(toAuthUser(user));
  } catch (error) {
    throw fromBetterAuthApiError(error, '/admin/create-user');
  }
}
