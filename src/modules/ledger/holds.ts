/**
 * Two-phase holds (pending transfers): money moves from a source account into a hold account when
 * the hold opens, and leaves it exactly once: posted (paid out, released, split) or voided (back
 * to the source). "Exactly once" is the database's: the status changes by one conditional UPDATE
 * (a trigger refuses any other change), and the resolution's effect key `hold:<id>:resolve` is
 * unique, so two resolutions racing cannot both commit.
 */
import { and, eq, inArray } from 'drizzle-orm';
import { type Database, type HoldKind, type HoldStatus, type LedgerHold, ledgerAccounts, ledgerHolds, type Transaction, walletFreezes } from '../../db';
import { type AccountRef, accountKey, accountRefColumns, lockAccounts } from './accounts';
import { LEDGER_ERRORS } from './errors';
import { type Leg, post } from './posting';

export type HoldOpening = Readonly<{
  kind: HoldKind;
  referenceId: string;
  userId: string;
  from: AccountRef;
  to: AccountRef;
  amount: number;
  description: string;
}>;

/** Whether money may not leave the user's wallet (a chargeback it could not cover, or an admin's freeze). */
export async function isWalletFrozen(db: Pick<Database, 'select'>, userId: string): Promise<boolean> {
  const [frozen] = await db.select({ userId: walletFreezes.userId }).from(walletFreezes).where(eq(walletFreezes.userId, userId)).limit(1);
  return frozen !== undefined;
}

/** Refuses money leaving a frozen wallet. Call with the wallet's available account locked. */
export async function assertNotFrozen(tx: Transaction, userId: string): Promise<void> {
  if (await isWalletFrozen(tx, userId)) throw LEDGER_ERRORS.error('WALLET_FROZEN');
}

/**
 * Opens the hold for (kind, referenceId) once: a second call for the same reference returns the
 * first hold (`duplicate`) and moves nothing. Refused while the funder's wallet is frozen.
 */
export async function openHold(tx: Transaction, opening: HoldOpening): Promise<{ hold: LedgerHold; duplicate: boolean }> {
  // Locked before the freeze check: a chargeback that froze the wallet while we waited is seen.
  const locked = await lockAccounts(tx, [opening.from, opening.to]);
  const source = locked.get(accountKey(opening.from));
  const target = locked.get(accountKey(opening.to));
  if (!source || !target) throw new Error('ledger: hold accounts not locked');
  const [created] = await tx
    .insert(ledgerHolds)
    .values({
      kind: opening.kind,
      referenceId: opening.referenceId,
      userId: opening.userId,
      sourceAccountId: source.id,
      holdAccountId: target.id,
      amount: opening.amount,
      currency: opening.from.currency,
    })
    .onConflictDoNothing({ target: [ledgerHolds.kind, ledgerHolds.referenceId] })
    .returning();
  if (!created) {
    const [existing] = await tx.select().from(ledgerHolds).where(and(eq(ledgerHolds.kind, opening.kind), eq(ledgerHolds.referenceId, opening.referenceId)));
    if (!existing) throw new Error(`ledger: hold ${opening.kind}:${opening.referenceId} vanished`);
    return { hold: existing, duplicate: true };
  }
  await assertNotFrozen(tx, opening.userId);
  await post(tx, {
    kind: `${opening.kind}.hold`,
    effectKey: `hold:${created.id}:open`,
    description: opening.description,
    holdId: created.id,
    reference: { type: opening.kind, id: opening.referenceId },
    legs: [
      { account: opening.from, amount: -opening.amount },
      { account: opening.to, amount: opening.amount },
    ],
  });
  return { hold: created, duplicate: false };
}

export type HeldAccounts = { source: AccountRef; held: AccountRef };

/** How a hold ends: where its money goes (the legs must add up to the hold's amount). */
export type Resolution = Readonly<{
  status: Exclude<HoldStatus, 'pending'>;
  kind: string;
  description: string;
  destinations: readonly Leg[];
}>;

/** Which hold: by id, or by what it is for (a bounty's escrow). */
export type HoldSelector = Readonly<{ id: string }> | Readonly<{ kind: HoldKind; referenceId: string }>;

/**
 * Resolves a pending hold once. `decide` sees the hold and its accounts and says where the money
 * goes. A hold that is already resolved (or a race lost to another resolution) is 409
 * HOLD_ALREADY_RESOLVED, and nothing moves.
 */
export async function resolveHold(
  tx: Transaction,
  selector: HoldSelector,
  decide: (hold: LedgerHold, accounts: HeldAccounts) => Resolution,
): Promise<LedgerHold> {
  const which = 'id' in selector ? eq(ledgerHolds.id, selector.id) : and(eq(ledgerHolds.kind, selector.kind), eq(ledgerHolds.referenceId, selector.referenceId));
  // Locks the hold row: a concurrent resolution waits here, then finds it no longer pending.
  const [hold] = await tx.select().from(ledgerHolds).where(and(which, eq(ledgerHolds.status, 'pending'))).for('update');
  if (!hold) throw LEDGER_ERRORS.error('HOLD_ALREADY_RESOLVED');
  const accounts = await heldAccounts(tx, hold);
  const resolution = decide(hold, accounts);
  const total = resolution.destinations.reduce((sum, leg) => sum + leg.amount, 0);
  if (total !== hold.amount) throw new Error(`ledger: resolution of hold ${hold.id} moves ${total}, the hold is ${hold.amount}`);
  const [resolved] = await tx
    .update(ledgerHolds)
    .set({ status: resolution.status, resolvedAt: new Date() })
    .where(and(eq(ledgerHolds.id, hold.id), eq(ledgerHolds.status, 'pending')))
    .returning();
  if (!resolved) throw LEDGER_ERRORS.error('HOLD_ALREADY_RESOLVED');
  await post(tx, {
    kind: resolution.kind,
    effectKey: `hold:${hold.id}:resolve`,
    description: resolution.description,
    holdId: hold.id,
    reference: { type: hold.kind, id: hold.referenceId },
    legs: [{ account: accounts.held, amount: -hold.amount }, ...resolution.destinations.filter((leg) => leg.amount !== 0)],
  });
  return resolved;
}

async function heldAccounts(tx: Transaction, hold: LedgerHold): Promise<HeldAccounts> {
  const rows = await tx
    .select({ id: ledgerAccounts.id, ...accountRefColumns })
    .from(ledgerAccounts)
    .where(inArray(ledgerAccounts.id, [hold.sourceAccountId, hold.holdAccountId]));
  const byId = new Map(rows.map(({ id, ...ref }) => [id, ref]));
  const source = byId.get(hold.sourceAccountId);
  const held = byId.get(hold.holdAccountId);
  if (!source || !held) throw new Error(`ledger: accounts of hold ${hold.id} not found`);
  return { source, held };
}
