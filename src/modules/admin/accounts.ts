/**
 * Accounts in the admin console: search, the detail an admin decides from, and the actions on an
 * account (ban, unban, role, wallet freeze). Each action locks the user row first (two admins
 * acting on one account take turns), refuses what would change nothing, and writes exactly one
 * audit row in its own transaction. No one acts on their own account: another admin does.
 *
 * Plain functions over a DatabaseSession or the caller's transaction; no HTTP.
 */
import { and, count, desc, eq, ilike, isNull, or, type SQL, sql } from 'drizzle-orm';
import {
  type AuditSummary,
  bounties,
  bountyRequests,
  type DatabaseSession,
  type FreezeSource,
  profiles,
  reports,
  riskEvents,
  type RiskLevel,
  riskScores,
  sessions,
  type Transaction,
  type UserRole,
  users,
  walletFreezes,
} from '../../db';
import { isBanActive, toRole } from '../../lib/auth';
import { COMMON_ERRORS } from '../../lib/errors';
import { can } from '../../lib/permissions';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { actorOf, recordAudit, type StaffContext } from '../audit/service';
import { adminCancelStep } from '../bounties/actions';
import { type Marketplace, transition } from '../bounties/engine';
import { toBountySummary } from '../bounties/views';
import { DEFAULT_CURRENCY } from '../ledger';
import { recordEvents } from '../outbox';
import { toProfileView } from '../profiles/service';
import { withdrawPendingRequest } from '../requests/service';
import { toRiskEventView } from '../risk/reads';
import { likeContains, toPrivateUser } from '../users/service';
import { getWallet } from '../wallet/service';
import { ADMIN_ERRORS } from './errors';
import type { AccountDetail, AccountSummary, BanResult, FreezeResult } from './users-schemas';

export type { BanResult, FreezeResult } from './users-schemas';

type UserRow = typeof users.$inferSelect;

/** The same rule in SQL, for the list's `banned` filter and column. */
const banInForceSql = (now: Date): SQL =>
  sql`(${users.banned} and (${users.banExpires} is null or ${users.banExpires} > ${now.toISOString()}::timestamptz))`;

function refuseSelf(staff: StaffContext, userId: string, what: string): void {
  if (staff.actor.id === userId) throw ADMIN_ERRORS.error('CANNOT_ACT_ON_SELF', `No one can ${what} their own account: another admin does it`);
}

/** The account's row, locked until the action commits; 404 when there is none. */
async function lockAccount(tx: Transaction, userId: string): Promise<UserRow> {
  const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('update');
  if (!user) throw ADMIN_ERRORS.error('USER_NOT_FOUND');
  return user;
}

const userSubject = (userId: string) => ({ type: 'user', id: userId });

// --- Ban ------------------------------------------------------------------------------------------

export type BanInput = Readonly<{ userId: string; reason: string; expiresAt: Date | null }>;

/**
 * What the other people on a banned poster's bounty read as the cancellation's reason (its
 * history is shown to them): the ban's own reason stays in the audit log, for staff only.
 */
const BANNED_POSTER_REASON = "The poster's account was suspended";

/**
 * Bans an account inside the caller's transaction (the admin's ban, and a report resolved with a
 * ban in src/modules/moderation): the ban fields set, every session deleted, the account's pending
 * requests withdrawn (as its own withdrawal would: the posters hear it) and its open bounties
 * cancelled and refunded through the lifecycle (each audited `bounty.admin_cancel`), then one
 * `user.ban` audit row. The flag is set BEFORE the sessions are deleted: drizzle/0008 announces
 * both at commit, in this order, so the account's sockets close as banned (4403) on every instance.
 * Several cancellations append stream events more than once in this transaction; a deadlock that
 * could cause with another writer is retried by db.transaction.
 */
export async function banInTransaction(
  tx: Transaction,
  marketplace: Marketplace,
  staff: StaffContext,
  input: BanInput,
  now: Date,
): Promise<BanResult> {
  refuseSelf(staff, input.userId, 'ban');
  if (input.expiresAt !== null && input.expiresAt.getTime() <= now.getTime()) throw ADMIN_ERRORS.error('BAN_EXPIRY_PAST');
  const user = await lockAccount(tx, input.userId);
  if (isBanActive(user, now)) throw ADMIN_ERRORS.error('ALREADY_BANNED');

  await tx
    .update(users)
    .set({ banned: true, banReason: input.reason, banExpires: input.expiresAt, updatedAt: now })
    .where(eq(users.id, user.id));
  const revoked = await tx.delete(sessions).where(eq(sessions.userId, user.id)).returning({ id: sessions.id });

  const pending = await tx
    .select({ id: bountyRequests.id })
    .from(bountyRequests)
    .where(and(eq(bountyRequests.hunterId, user.id), eq(bountyRequests.status, 'pending')))
    .orderBy(bountyRequests.id);
  const requestsWithdrawn: string[] = [];
  for (const request of pending) {
    // Null when it was accepted or closed meanwhile: it is then no longer a pending request to withdraw.
    if (await withdrawPendingRequest(tx, user.id, request.id, now)) requestsWithdrawn.push(request.id);
  }

  const open = await tx
    .select({ id: bounties.id })
    .from(bounties)
    .where(and(eq(bounties.posterId, user.id), eq(bounties.state, 'open'), isNull(bounties.hunterId)))
    .orderBy(bounties.id);
  const bountiesCancelled: string[] = [];
  const actor = { id: staff.actor.id, role: toRole(staff.actor.role) };
  for (const bounty of open) {
    // Locked and checked again, one at a time as the engine does: one accepted since the list
    // above has a hunter now, and an admin cancel would take the work away from them.
    const [still] = await tx
      .select({ id: bounties.id })
      .from(bounties)
      .where(and(eq(bounties.id, bounty.id), eq(bounties.state, 'open'), isNull(bounties.hunterId)))
      .for('update');
    if (!still) continue;
    await transition(tx, marketplace, { bountyId: bounty.id, name: 'admin_cancel', actor, now, requestId: staff.requestId }, adminCancelStep(BANNED_POSTER_REASON));
    bountiesCancelled.push(bounty.id);
  }

  const after: AuditSummary = {
    banned: true,
    banExpires: input.expiresAt?.toISOString() ?? null,
    role: user.role,
    sessionsRevoked: revoked.length,
    requestsWithdrawn: requestsWithdrawn.length,
    bountiesCancelled: bountiesCancelled.length,
  };
  await recordAudit(tx, {
    actor: actorOf(staff.actor),
    action: 'user.ban',
    targetId: user.id,
    reason: input.reason,
    before: { banned: isBanActive(user, now), role: user.role },
    after,
    requestId: staff.requestId,
  });
  return { userId: user.id, banExpires: input.expiresAt, sessionsRevoked: revoked.length, requestsWithdrawn, bountiesCancelled };
}

/** A ban in a transaction of its own (the admin route). */
export const banAccount = (db: DatabaseSession, marketplace: Marketplace, staff: StaffContext, input: BanInput, now: Date): Promise<BanResult> =>
  db.transaction((tx) => banInTransaction(tx, marketplace, staff, input, now));

// --- Unban, role ----------------------------------------------------------------------------------

type ActionInput = Readonly<{ userId: string; reason: string }>;

/**
 * Lifts a ban (one that expired by itself too: its row still says banned). The person can sign in
 * again and hears it; what the ban withdrew and cancelled stays so.
 */
export async function unbanAccount(db: DatabaseSession, staff: StaffContext, input: ActionInput, now: Date) {
  refuseSelf(staff, input.userId, 'unban');
  return db.transaction(async (tx) => {
    const user = await lockAccount(tx, input.userId);
    if (!user.banned) throw ADMIN_ERRORS.error('NOT_BANNED');
    const [updated] = await tx
      .update(users)
      .set({ banned: false, banReason: null, banExpires: null, updatedAt: now })
      .where(eq(users.id, user.id))
      .returning();
    if (!updated) throw new Error(`user ${user.id} vanished under its lock`);
    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: 'user.unban',
      targetId: user.id,
      reason: input.reason,
      before: { banned: isBanActive(user, now), banExpires: user.banExpires?.toISOString() ?? null },
      after: { banned: false },
      requestId: staff.requestId,
    });
    await recordEvents(tx, now, [{ topic: 'account.unbanned', recipientId: user.id, subject: userSubject(user.id), payload: {} }]);
    return toPrivateUser(updated);
  });
}

/**
 * Grants or removes a role: admins only (checked here too, beside the route's requirement), never
 * one's own. A demoted admin's next request already runs as a user: staff powers are always read
 * from the database (src/plugins/auth.ts).
 */
export async function changeRole(db: DatabaseSession, staff: StaffContext, input: ActionInput & { role: UserRole }, now: Date) {
  if (!can(staff.actor.role, 'users.role')) throw COMMON_ERRORS.error('FORBIDDEN', 'Only an admin changes roles');
  refuseSelf(staff, input.userId, 'change the role of');
  return db.transaction(async (tx) => {
    const user = await lockAccount(tx, input.userId);
    if (user.role === input.role) throw ADMIN_ERRORS.error('ROLE_UNCHANGED', `The account is ${input.role} already`);
    const [updated] = await tx.update(users).set({ role: input.role, updatedAt: now }).where(eq(users.id, user.id)).returning();
    if (!updated) throw new Error(`user ${user.id} vanished under its lock`);
    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: 'user.role',
      targetId: user.id,
      reason: input.reason,
      before: { role: user.role },
      after: { role: input.role },
      requestId: staff.requestId,
    });
    await recordEvents(tx, now, [{ topic: 'account.role_changed', recipientId: user.id, subject: userSubject(user.id), payload: { role: input.role } }]);
    return toPrivateUser(updated);
  });
}

// --- Wallet freezes -------------------------------------------------------------------------------

async function freezesOf(tx: Transaction, userId: string): Promise<FreezeSource[]> {
  const rows = await tx.select({ source: walletFreezes.source }).from(walletFreezes).where(eq(walletFreezes.userId, userId)).orderBy(walletFreezes.source);
  return rows.map((row) => row.source);
}

/**
 * An admin's freeze: nothing leaves the wallet (withdrawals are refused, and one waiting for the
 * payout job fails and returns to the balance) until an admin lifts it. The reason is the person's
 * to read (their wallet and the notification show it).
 */
export async function freezeWallet(db: DatabaseSession, staff: StaffContext, input: ActionInput, now: Date): Promise<FreezeResult> {
  refuseSelf(staff, input.userId, 'freeze the wallet of');
  return db.transaction(async (tx) => {
    const user = await lockAccount(tx, input.userId);
    const before = await freezesOf(tx, user.id);
    const [created] = await tx
      .insert(walletFreezes)
      .values({ userId: user.id, source: 'admin', reason: input.reason, createdAt: now })
      .onConflictDoNothing()
      .returning();
    if (!created) throw ADMIN_ERRORS.error('WALLET_ALREADY_FROZEN');
    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: 'wallet.freeze',
      targetId: user.id,
      reason: input.reason,
      before: { frozen: before.length > 0, freezes: before.join(',') },
      after: { frozen: true, freezes: [...before, 'admin' as const].sort().join(',') },
      requestId: staff.requestId,
    });
    await recordEvents(tx, now, [{ topic: 'wallet.frozen', recipientId: user.id, subject: userSubject(user.id), payload: { reason: input.reason } }]);
    return { userId: user.id, frozen: true, freezes: [...before, 'admin' as const].sort() };
  });
}

/**
 * Lifts the admin's freeze only: a chargeback's freeze stays until the ledger settles the debt, and
 * the wallet stays frozen while it does (the answer says so). The person hears of it only when
 * their wallet is free again.
 */
export async function unfreezeWallet(db: DatabaseSession, staff: StaffContext, input: ActionInput, now: Date): Promise<FreezeResult> {
  refuseSelf(staff, input.userId, 'unfreeze the wallet of');
  return db.transaction(async (tx) => {
    const user = await lockAccount(tx, input.userId);
    const [lifted] = await tx
      .delete(walletFreezes)
      .where(and(eq(walletFreezes.userId, user.id), eq(walletFreezes.source, 'admin')))
      .returning();
    if (!lifted) throw ADMIN_ERRORS.error('WALLET_NOT_FROZEN');
    const remaining = await freezesOf(tx, user.id);
    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: 'wallet.unfreeze',
      targetId: user.id,
      reason: input.reason,
      before: { frozen: true, freezes: [...remaining, 'admin' as const].sort().join(',') },
      after: { frozen: remaining.length > 0, freezes: remaining.join(',') },
      requestId: staff.requestId,
    });
    if (remaining.length === 0) {
      await recordEvents(tx, now, [{ topic: 'wallet.unfrozen', recipientId: user.id, subject: userSubject(user.id), payload: {} }]);
    }
    return { userId: user.id, frozen: remaining.length > 0, freezes: remaining };
  });
}

// --- Search ---------------------------------------------------------------------------------------

export type AccountFilters = Readonly<{
  q?: string | undefined;
  role?: UserRole | undefined;
  banned?: boolean | undefined;
  frozen?: boolean | undefined;
  riskLevel?: RiskLevel | undefined;
}>;

/*
 * The per-account facts a filter or a row needs, as correlated subqueries. OFFSET 0 keeps each one
 * a per-row check: without it PostgreSQL may turn EXISTS into a join, and then sort its result
 * instead of walking users_created_at_id_idx newest first and stopping at the page's end.
 */
const isFrozen = sql`exists (select 1 from ${walletFreezes} where ${walletFreezes.userId} = ${users.id} offset 0)`;
const riskLevelOf = sql<RiskLevel | null>`(select ${riskScores.level} from ${riskScores} where ${riskScores.userId} = ${users.id} offset 0)`;
const hasRiskLevel = (level: RiskLevel) =>
  sql`exists (select 1 from ${riskScores} where ${riskScores.userId} = ${users.id} and ${riskScores.level} = ${level} offset 0)`;

/**
 * Accounts newest first, keyset on (created_at, id): the walk of users_created_at_id_idx, every
 * filter a condition on it. `q` is a case-insensitive substring of the email or the name.
 */
export async function listAccounts(
  db: DatabaseSession,
  filters: AccountFilters,
  page: { limit: number; cursor: KeysetCursor | null },
  now: Date,
): Promise<{ items: AccountSummary[]; nextCursor: string | null }> {
  const conditions: SQL[] = [];
  if (filters.q) {
    const pattern = likeContains(filters.q);
    const matches = or(ilike(users.email, pattern), ilike(users.name, pattern));
    if (matches) conditions.push(matches);
  }
  if (filters.role) conditions.push(eq(users.role, filters.role));
  if (filters.banned !== undefined) conditions.push(filters.banned ? banInForceSql(now) : sql`not ${banInForceSql(now)}`);
  if (filters.frozen !== undefined) conditions.push(filters.frozen ? isFrozen : sql`not ${isFrozen}`);
  if (filters.riskLevel) conditions.push(hasRiskLevel(filters.riskLevel));
  if (page.cursor) conditions.push(sql`(${users.createdAt}, ${users.id}) < (${page.cursor.t}::timestamptz, ${page.cursor.i})`);
  const rows = await db.read((reader) =>
    reader
      .select({
        user: users,
        frozen: sql<boolean>`${isFrozen}`,
        riskLevel: riskLevelOf,
        cursorAt: sql<string>`${users.createdAt}::text`,
      })
      .from(users)
      .where(conditions.length > 0 ? and(...conditions) : undefined)
      .orderBy(desc(users.createdAt), desc(users.id))
      .limit(page.limit + 1),
  );
  return keysetPage(
    rows,
    page.limit,
    (row) => ({
      id: row.user.id,
      email: row.user.email,
      name: row.user.name,
      role: toPrivateUser(row.user).role,
      banned: isBanActive(row.user, now),
      banExpires: row.user.banExpires,
      frozen: row.frozen,
      riskLevel: row.riskLevel,
      createdAt: row.user.createdAt,
    }),
    (row) => ({ t: row.cursorAt, i: row.user.id }),
  );
}

// --- Detail ---------------------------------------------------------------------------------------

/** Each list of the detail: the latest this many. */
export const DETAIL_LIST_LIMIT = 20;

const reportColumns = {
  id: reports.id,
  targetType: reports.targetType,
  targetId: reports.targetId,
  reporterId: reports.reporterId,
  subjectUserId: reports.subjectUserId,
  reason: reports.reason,
  status: reports.status,
  resolution: reports.resolution,
  createdAt: reports.createdAt,
  resolvedAt: reports.resolvedAt,
};

/**
 * What an admin decides from: the account (with its ban and role), its profile, wallet and
 * freezes, the latest bounties it posted and hunts, its latest requests, the latest reports
 * against it and by it (with how many of each are open), its latest risk events and its risk
 * score. Every list is the latest DETAIL_LIST_LIMIT, each read from its own index. Null when
 * there is no such account.
 */
export async function accountDetail(db: DatabaseSession, userId: string, now: Date): Promise<AccountDetail | null> {
  const limit = DETAIL_LIST_LIMIT;
  const found = await db.read(async (reader) => {
    const [user] = await reader.select().from(users).where(eq(users.id, userId));
    if (!user) return null;
    const openReports = (column: typeof reports.subjectUserId | typeof reports.reporterId) =>
      reader.select({ n: count() }).from(reports).where(and(eq(column, userId), eq(reports.status, 'open')));
    const [profile, posted, hunted, requests, against, by, openAgainst, openBy, events, score, freezes] = await Promise.all([
      reader.select().from(profiles).where(eq(profiles.userId, userId)),
      reader.select().from(bounties).where(eq(bounties.posterId, userId)).orderBy(desc(bounties.createdAt), desc(bounties.id)).limit(limit),
      reader.select().from(bounties).where(eq(bounties.hunterId, userId)).orderBy(desc(bounties.createdAt), desc(bounties.id)).limit(limit),
      reader
        .select({ request: bountyRequests, bountyTitle: bounties.title })
        .from(bountyRequests)
        .innerJoin(bounties, eq(bounties.id, bountyRequests.bountyId))
        .where(eq(bountyRequests.hunterId, userId))
        .orderBy(desc(bountyRequests.createdAt), desc(bountyRequests.id))
        .limit(limit),
      reader.select(reportColumns).from(reports).where(eq(reports.subjectUserId, userId)).orderBy(desc(reports.createdAt)).limit(limit),
      reader.select(reportColumns).from(reports).where(eq(reports.reporterId, userId)).orderBy(desc(reports.createdAt)).limit(limit),
      openReports(reports.subjectUserId),
      openReports(reports.reporterId),
      reader.select().from(riskEvents).where(eq(riskEvents.userId, userId)).orderBy(desc(riskEvents.createdAt), desc(riskEvents.id)).limit(limit),
      reader.select().from(riskScores).where(eq(riskScores.userId, userId)),
      reader.select().from(walletFreezes).where(eq(walletFreezes.userId, userId)).orderBy(walletFreezes.createdAt),
    ]);
    return { user, profile, posted, hunted, requests, against, by, openAgainst, openBy, events, score, freezes };
  });
  if (!found) return null;
  const wallet = await getWallet(db, userId, DEFAULT_CURRENCY);
  const [score] = found.score;
  const [profile] = found.profile;
  return {
    account: toPrivateUser(found.user),
    banInForce: isBanActive(found.user, now),
    profile: profile ? toProfileView(profile) : null,
    wallet,
    freezes: found.freezes.map((freeze) => ({ source: freeze.source, reason: freeze.reason, createdAt: freeze.createdAt })),
    bountiesPosted: found.posted.map(toBountySummary),
    bountiesHunted: found.hunted.map(toBountySummary),
    requests: found.requests.map((row) => ({
      id: row.request.id,
      bountyId: row.request.bountyId,
      bountyTitle: row.bountyTitle,
      status: row.request.status,
      closedReason: row.request.closedReason,
      createdAt: row.request.createdAt,
      updatedAt: row.request.updatedAt,
    })),
    reportsAgainst: { open: found.openAgainst[0]?.n ?? 0, latest: found.against },
    reportsBy: { open: found.openBy[0]?.n ?? 0, latest: found.by },
    riskEvents: found.events.map(toRiskEventView),
    riskScore: score ? { score: score.score, level: score.level, factors: score.factors, computedAt: score.computedAt } : null,
  };
}
