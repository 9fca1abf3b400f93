/**
 * Accounts. Reads go through `db.read` (a replica that has the caller's writes), writes through
 * `db.write` / `db.transaction` (the primary). Creating an account goes through Better-Auth so
 * the password is hashed and the credential account linked exactly as sign-up does.
 */
import { and, count, desc, eq, ilike, inArray, ne, or, type SQL, sql } from 'drizzle-orm';
import { bounties, type DatabaseSession, ledgerAccounts, users } from '../../db';
import { USERS_ERRORS } from './errors';
import { type Auth, type AuthUser, fromBetterAuthApiError, toAuthUser } from '../../lib/auth';
import { definedFields, type KeysetCursor, keysetPage } from '../../lib/validation';
import { actorOf, recordAudit, type StaffContext } from '../audit/service';

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
export const likeContains = (term: string): string => `%${term.replace(/[\\%_]/g, '\\$&')}%`;

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
};

/**
 * Applies already-authorized changes of name and image. Roles and bans change only through
 * /admin/users (src/modules/admin/accounts.ts), audited.
 */
/** An admin changing someone else's account is audited (`user.update`) in the same transaction. */
export async function updateUser(db: DatabaseSession, id: string, changes: UserChanges, byAdmin: AdminAction | null = null): Promise<UserRow | null> {
  if (!byAdmin) {
    const [row] = await db.write((writer) => writer.update(users).set({ ...definedFields(changes), updatedAt: new Date() }).where(eq(users.id, id)).returning());
    return row ?? null;
  }
  return db.transaction(async (tx) => {
    const [before] = await tx.select({ name: users.name, image: users.image }).from(users).where(eq(users.id, id)).for('update');
    if (!before) return null;
    const [row] = await tx.update(users).set({ ...definedFields(changes), updatedAt: new Date() }).where(eq(users.id, id)).returning();
    if (!row) return null;
    await recordAudit(tx, {
      actor: actorOf(byAdmin.staff.actor),
      action: 'user.update',
      targetId: id,
      reason: byAdmin.reason,
      before: { name: before.name, image: before.image },
      after: { name: row.name, image: row.image },
      requestId: byAdmin.staff.requestId,
    });
    return row;
  });
}

/** An admin acting on someone else's account: the audit row's actor, reason and request. */
export type AdminAction = Readonly<{ staff: StaffContext; reason: string }>;

/**
 * Sessions, accounts and posts go with the user (ON DELETE CASCADE). An account with live bounties
 * (as poster or hunter) or money in any of its ledger accounts is not deleted (409 ACCOUNT_IN_USE):
 * bounties do not reference users, and the escrow or the balance would be left without an owner;
 * finish or cancel the work and withdraw (or an admin bans, which cancels and refunds) first. An
 * admin deleting someone else's account is audited (`user.delete`) in the same transaction.
 */
export async function deleteUser(db: DatabaseSession, id: string, byAdmin: AdminAction | null): Promise<boolean> {
  return db.transaction(async (tx) => {
    // Locked first (as a ban does): work or money arriving meanwhile waits, then finds it gone.
    const [account] = await tx.select({ id: users.id }).from(users).where(eq(users.id, id)).for('update');
    if (!account) return false;
    const [live] = await tx
      .select({ n: count() })
      .from(bounties)
      .where(and(or(eq(bounties.posterId, id), eq(bounties.hunterId, id)), inArray(bounties.state, ['open', 'in_progress', 'submitted', 'changes_requested', 'disputed'])));
    const [funded] = await tx.select({ n: count() }).from(ledgerAccounts).where(and(eq(ledgerAccounts.userId, id), ne(ledgerAccounts.balance, 0)));
    const liveBounties = live?.n ?? 0;
    const balances = funded?.n ?? 0;
    if (liveBounties > 0 || balances > 0) {
      throw USERS_ERRORS.error('ACCOUNT_IN_USE', undefined, [
        { path: 'bounties', message: `${liveBounties} live` },
        { path: 'balances', message: `${balances} not zero` },
      ]);
    }
    const [deleted] = await tx.delete(users).where(eq(users.id, id)).returning({ id: users.id, role: users.role });
    if (!deleted) return false;
    if (byAdmin) {
      await recordAudit(tx, {
        actor: actorOf(byAdmin.staff.actor),
        action: 'user.delete',
        targetId: id,
        reason: byAdmin.reason,
        before: { role: deleted.role },
        after: null,
        requestId: byAdmin.staff.requestId,
      });
    }
    return true;
  });
}

export type NewUser = { email: string; password: string; name: string; role?: PrivateUser['role'] | undefined };

/**
 * Server-side Better-Auth call (no caller headers): the route has already checked for an admin.
 * Better-Auth writes the account in a transaction of its own, so the `user.create` audit row is
 * written right after it commits, not with it: a failure between the two leaves an account
 * without its audit row (the account's created_at still dates it).
 */
export async function createUser(auth: Auth, db: DatabaseSession, input: NewUser, byAdmin: AdminAction): Promise<PrivateUser> {
  let created: PrivateUser;
  try {
    const { user } = await auth.api.createUser({ body: { email: input.email, password: input.password, name: input.name, role: input.role ?? 'user' } });
    db.markWritten();
    created = toPrivateUser(toAuthUser(user));
  } catch (error) {
    throw fromBetterAuthApiError(error, '/admin/create-user');
  }
  await db.transaction((tx) =>
    recordAudit(tx, {
      actor: actorOf(byAdmin.staff.actor),
      action: 'user.create',
      targetId: created.id,
      reason: byAdmin.reason,
      before: null,
      after: { role: created.role },
      requestId: byAdmin.staff.requestId,
    }),
  );
  return created;
}
