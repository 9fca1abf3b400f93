/**
 * Manual adjustments: an admin corrects a user's balance with a balanced ledger transaction
 * against the platform's `adjustments` account (never an edit of an entry). An adjustment posts at
 * once while the creator's adjustments for that user over the last 24 hours (this one included)
 * stay at or below the dual-control threshold in absolute value; past it, it waits for a second
 * admin, never its creator (the ledger_adjustments_four_eyes CHECK backs the check here), so
 * splitting one large correction into small ones gains nothing. No admin adjusts their own account
 * or decides an adjustment made out to them. Each step is one transaction with its audit row; the
 * user is notified when the money moves, in the same transaction. */
import { and, asc, desc, eq, ne, type SQL, sql } from 'drizzle-orm';
import {
  type AdjustmentAccountKind,
  type AdjustmentStatus,
  type DatabaseSession,
  type LedgerAdjustment,
  ledgerAdjustments,
  type Transaction,
  users,
} from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { IDEMPOTENCY_ERRORS } from '../../plugins/idempotency-errors';
import { actorOf, recordAudit, type StaffContext } from '../audit/service';
import { money, platformAccount, post, userAccount } from '../ledger';
import { recordEvents } from '../outbox';
import { ADMIN_ERRORS } from './errors';
import { type AdjustmentView, LEDGER_ADMIN_ERRORS } from './ledger-schemas';

export type NewAdjustment = Readonly<{
  userId: string;
  accountKind: AdjustmentAccountKind;
  currency: string;
  amount: number;
  reason: string;
  /** The Idempotency-Key: one adjustment per key and admin. */
  requestKey: string;
}>;

export const toAdjustmentView = (row: LedgerAdjustment): AdjustmentView => ({
  id: row.id,
  userId: row.userId,
  accountKind: row.accountKind,
  amount: money(row.amount, row.currency),
  reason: row.reason,
  status: row.status,
  createdBy: row.createdBy,
  createdAt: row.createdAt,
  decidedBy: row.decidedBy,
  decisionNote: row.decisionNote,
  decidedAt: row.decidedAt,
  transactionId: row.transactionId,
});

const summaryOf = (row: Pick<LedgerAdjustment, 'userId' | 'accountKind' | 'currency' | 'amount' | 'status' | 'transactionId'>) => ({
  userId: row.userId,
  accountKind: row.accountKind,
  currency: row.currency,
  amount: row.amount,
  status: row.status,
  transactionId: row.transactionId,
});

/**
 * The adjustment's money: the user's account and the platform's `adjustments` account, opposite
 * and equal. The effect key is the adjustment's, so it can only ever post once. A debit past zero
 * on `available` is 409 INSUFFICIENT_FUNDS from the posting (and the caller's transaction rolls back).
 */
async function postAdjustment(tx: Transaction, adjustment: Pick<LedgerAdjustment, 'id' | 'userId' | 'accountKind' | 'currency' | 'amount'>): Promise<number> {
  const { transactionId } = await post(tx, {
    kind: 'adjustment',
    effectKey: `adjustment:${adjustment.id}`,
    description: adjustment.amount > 0 ? 'Balance correction by support (credit)' : 'Balance correction by support (debit)',
    legs: [
      { account: userAccount(adjustment.userId, adjustment.accountKind, adjustment.currency), amount: adjustment.amount },
      { account: platformAccount('adjustments', adjustment.currency), amount: -adjustment.amount },
    ],
    reference: { type: 'adjustment', id: adjustment.id },
  });
  return transactionId;
}

async function notifyPosted(tx: Transaction, at: Date, adjustment: Pick<LedgerAdjustment, 'id' | 'userId' | 'currency' | 'amount' | 'reason'>): Promise<void> {
  await recordEvents(tx, at, [
    {
      topic: 'ledger.adjusted',
      recipientId: adjustment.userId,
      subject: { type: 'adjustment', id: adjustment.id },
      payload: { amount: adjustment.amount, currency: adjustment.currency, reason: adjustment.reason },
    },
  ]);
}

/** How far back an admin's adjustments for one user count toward the dual-control threshold. */
const DUAL_CONTROL_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Whether a stored adjustment is the one this request asks for (its key reused with another body is not). */
const samePayload = (row: LedgerAdjustment, input: NewAdjustment): boolean =>
  row.userId === input.userId && row.accountKind === input.accountKind && row.currency === input.currency && row.amount === input.amount && row.reason === input.reason;

/**
 * The absolute amounts of the admin's posted and waiting adjustments for the user since `since`
 * (rejected ones moved nothing). Walks ledger_adjustments_user_idx. Every currency counts: the
 * threshold is a limit on one admin's say over one person's money, not an exchange rate.
 */
async function recentAdjustedCents(tx: Transaction, createdBy: string, userId: string, since: Date): Promise<number> {
  const [row] = await tx
    .select({ cents: sql<string>`coalesce(sum(abs(${ledgerAdjustments.amount})), 0)::text` })
    .from(ledgerAdjustments)
    .where(
      and(
        eq(ledgerAdjustments.userId, userId),
        sql`${ledgerAdjustments.createdAt} > ${since.toISOString()}::timestamptz`,
        eq(ledgerAdjustments.createdBy, createdBy),
        ne(ledgerAdjustments.status, 'rejected'),
      ),
    );
  return Number(row?.cents ?? 0);
}

/**
 * Creates an adjustment: posted at once when the creator's adjustments for this user in the last
 * 24 hours, this one included, stay at or under `dualControlCents` in absolute value; else waiting
 * for a second admin. An admin's own account is refused (403 OWN_ADJUSTMENT). The same admin's
 * key again gives the adjustment it made, also after the idempotency plugin's 24 h (the row's own
 * unique key); with another payload it is 422 IDEMPOTENCY_KEY_REUSED.
 */
export async function createAdjustment(db: DatabaseSession, staff: StaffContext, now: Date, input: NewAdjustment, dualControlCents: number): Promise<AdjustmentView> {
  if (input.userId === staff.actor.id) throw LEDGER_ADMIN_ERRORS.error('OWN_ADJUSTMENT');
  return db.transaction(async (tx) => {
    // One admin's adjustments for one user, one at a time: the running total read below cannot
    // miss a concurrent one (two small ones at once would both see the total without the other).
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`adjust:${staff.actor.id}:${input.userId}`}))`);
    const [existing] = await tx
      .select()
      .from(ledgerAdjustments)
      .where(and(eq(ledgerAdjustments.createdBy, staff.actor.id), eq(ledgerAdjustments.requestKey, input.requestKey)));
    if (existing) {
      if (!samePayload(existing, input)) throw IDEMPOTENCY_ERRORS.error('IDEMPOTENCY_KEY_REUSED');
      return toAdjustmentView(existing);
    }
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, input.userId));
    if (!user) throw ADMIN_ERRORS.error('USER_NOT_FOUND');

    const id = crypto.randomUUID();
    const recent = await recentAdjustedCents(tx, staff.actor.id, input.userId, new Date(now.getTime() - DUAL_CONTROL_WINDOW_MS));
    const postsNow = recent + Math.abs(input.amount) <= dualControlCents;
    // Posted before the row is written: the row is inserted once, in its final state (an
    // adjustment's status changes once, from pending_approval, by trigger).
    const transactionId = postsNow ? await postAdjustment(tx, { id, ...input }) : null;
    const [created] = await tx
      .insert(ledgerAdjustments)
      .values({
        id,
        requestKey: input.requestKey,
        userId: input.userId,
        accountKind: input.accountKind,
        currency: input.currency,
        amount: input.amount,
        reason: input.reason,
        status: postsNow ? 'posted' : 'pending_approval',
        createdBy: staff.actor.id,
        transactionId,
        createdAt: now,
      })
      .returning();
    if (!created) throw new Error('adjustment insert returned no row');
    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: 'ledger.adjustment.create',
      targetId: id,
      reason: input.reason,
      after: summaryOf(created),
      requestId: staff.requestId,
    });
    if (postsNow) await notifyPosted(tx, now, created);
    return toAdjustmentView(created);
  });
}

export type Decision = 'approve' | 'reject';

/**
 * A second admin approves (posts it: the same legs, the same effect key) or rejects a waiting
 * adjustment. The row is locked first: of two decisions at once, the second finds it decided (409).
 * Its creator is refused (403 FOUR_EYES_REQUIRED), and so is the person it is made out to (403
 * OWN_ADJUSTMENT: the database refuses both as well); a debit the balance no longer covers is 409
 * INSUFFICIENT_FUNDS and leaves it waiting.
 */
export async function decideAdjustment(
  db: DatabaseSession,
  staff: StaffContext,
  now: Date,
  adjustment: Readonly<{ id: string; decision: Decision; note: string }>,
): Promise<AdjustmentView> {
  const { id: adjustmentId, decision, note } = adjustment;
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(ledgerAdjustments).where(eq(ledgerAdjustments.id, adjustmentId)).for('update');
    if (!current) throw LEDGER_ADMIN_ERRORS.error('ADJUSTMENT_NOT_FOUND');
    if (current.createdBy === staff.actor.id) throw LEDGER_ADMIN_ERRORS.error('FOUR_EYES_REQUIRED');
    if (current.userId === staff.actor.id) throw LEDGER_ADMIN_ERRORS.error('OWN_ADJUSTMENT');
    if (current.status !== 'pending_approval') {
      throw LEDGER_ADMIN_ERRORS.error('ADJUSTMENT_ALREADY_DECIDED', undefined, [{ path: 'status', message: current.status }]);
    }
    const transactionId = decision === 'approve' ? await postAdjustment(tx, current) : null;
    const status: AdjustmentStatus = decision === 'approve' ? 'posted' : 'rejected';
    const [decided] = await tx
      .update(ledgerAdjustments)
      .set({ status, transactionId, decidedBy: staff.actor.id, decisionNote: note, decidedAt: now })
      .where(eq(ledgerAdjustments.id, adjustmentId))
      .returning();
    if (!decided) throw new Error(`adjustment ${adjustmentId} vanished under its lock`);
    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: decision === 'approve' ? 'ledger.adjustment.approve' : 'ledger.adjustment.reject',
      targetId: adjustmentId,
      reason: note,
      before: summaryOf(current),
      after: summaryOf(decided),
      requestId: staff.requestId,
    });
    if (decision === 'approve') await notifyPosted(tx, now, decided);
    return toAdjustmentView(decided);
  });
}

export type AdjustmentFilters = Readonly<{ status?: AdjustmentStatus | undefined; userId?: string | undefined }>;

/**
 * The waiting queue oldest first (ledger_adjustments_pending_idx), or one user's adjustments
 * newest first (ledger_adjustments_user_idx). Decided ones without a user would sort the table:
 * 422, the audit log lists them.
 */
export async function listAdjustments(db: DatabaseSession, filters: AdjustmentFilters, page: { limit: number; cursor: KeysetCursor | null }) {
  const queue = filters.status === 'pending_approval' || (filters.status === undefined && filters.userId === undefined);
  if (!queue && filters.userId === undefined) throw LEDGER_ADMIN_ERRORS.error('ADJUSTMENT_LIST_NEEDS_USER');
  const { cursor } = page;
  const conditions: Array<SQL | undefined> = [
    filters.userId !== undefined ? eq(ledgerAdjustments.userId, filters.userId) : undefined,
    queue ? eq(ledgerAdjustments.status, 'pending_approval') : filters.status !== undefined ? eq(ledgerAdjustments.status, filters.status) : undefined,
  ];
  if (cursor) {
    conditions.push(
      queue
        ? sql`(${ledgerAdjustments.createdAt}, ${ledgerAdjustments.id}) > (${cursor.t}::timestamptz, ${cursor.i}::uuid)`
        : sql`(${ledgerAdjustments.createdAt}, ${ledgerAdjustments.id}) < (${cursor.t}::timestamptz, ${cursor.i}::uuid)`,
    );
  }
  const rows = await db.read((reader) =>
    reader
      .select({ adjustment: ledgerAdjustments, cursorAt: sql<string>`${ledgerAdjustments.createdAt}::text` })
      .from(ledgerAdjustments)
      .where(and(...conditions))
      .orderBy(...(queue ? [asc(ledgerAdjustments.createdAt), asc(ledgerAdjustments.id)] : [desc(ledgerAdjustments.createdAt), desc(ledgerAdjustments.id)]))
      .limit(page.limit + 1),
  );
  return keysetPage(rows, page.limit, (row) => toAdjustmentView(row.adjustment), (row) => ({ t: row.cursorAt, i: row.adjustment.id }));
}

export async function findAdjustment(db: DatabaseSession, id: string): Promise<AdjustmentView | null> {
  const [row] = await db.read((reader) => reader.select().from(ledgerAdjustments).where(eq(ledgerAdjustments.id, id)));
  return row ? toAdjustmentView(row) : null;
}
