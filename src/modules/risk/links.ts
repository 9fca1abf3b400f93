/**
 * Account links: what several accounts share (a device's push token, a payout destination's
 * fingerprint), stored as a sha256 so the table holds no token or account number. Recorded
 * whether or not the rules are on: they are evidence, and the score reads them.
 */
import { createHash } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { type AccountLinkKind, accountLinks, connectAccounts, type Transaction } from '../../db';

export const fingerprintOf = (value: string): string => createHash('sha256').update(value).digest('hex');

/**
 * Upserts the link and answers how many accounts share it now (this one included) and whether it
 * is new for this account (a device registered again at each app launch is flagged only once).
 */
export async function recordLink(
  tx: Transaction,
  link: { kind: AccountLinkKind; value: string; userId: string; now: Date },
): Promise<{ fingerprint: string; linkedUsers: number; isNew: boolean }> {
  const fingerprint = fingerprintOf(link.value);
  const [row] = await tx
    .insert(accountLinks)
    .values({ kind: link.kind, fingerprint, userId: link.userId, firstSeenAt: link.now, lastSeenAt: link.now })
    .onConflictDoUpdate({ target: [accountLinks.kind, accountLinks.fingerprint, accountLinks.userId], set: { lastSeenAt: link.now } })
    // xmax is 0 on a row this statement inserted, set when it updated an existing one.
    .returning({ isNew: sql<boolean>`(xmax = 0)` });
  const [shared] = await tx
    .select({ users: sql<number>`count(*)`.mapWith(Number) })
    .from(accountLinks)
    .where(and(eq(accountLinks.kind, link.kind), eq(accountLinks.fingerprint, fingerprint)));
  return { fingerprint, linkedUsers: shared?.users ?? 1, isNew: row?.isNew ?? false };
}

/**
 * A connected account's state as Stripe sent it: the payout destinations it names (its external
 * accounts' fingerprints, when Stripe includes them) are linked to the user, and the payout details
 * count as changed when a destination is new for the user or payouts were just enabled (the
 * first onboarding, or again after a restriction, usually with new bank details). The rules hold
 * a withdrawal that follows such a change (payout_details_changed).
 */
export async function notePayoutDestination(
  tx: Transaction,
  change: { userId: string; fingerprints: readonly string[]; payoutsWereEnabled: boolean; payoutsEnabled: boolean; at: Date },
): Promise<void> {
  let newDestination = false;
  for (const fingerprint of change.fingerprints) {
    const link = await recordLink(tx, { kind: 'payout_destination', value: fingerprint, userId: change.userId, now: change.at });
    newDestination ||= link.isNew;
  }
  if (newDestination || (change.payoutsEnabled && !change.payoutsWereEnabled)) {
    await tx.update(connectAccounts).set({ payoutDetailsChangedAt: change.at }).where(eq(connectAccounts.userId, change.userId));
  }
}
