/**
 * The facts a decision is made on, loaded in one or two statements per decision. Callers pass the
 * handle to read them through: the deciding transaction on the primary where the decision must
 * hold until it commits (a withdrawal reads them under the wallet's account lock, so two
 * withdrawals cannot both pass on the same balance), never a lagging replica.
 *
 * Times are compared with the decision's `now` (the caller's clock); the counts walk the per-user
 * indexes (deposits_user_created_idx, withdrawals_user_created_idx, bounty_requests_hunter_idx,
 * bounties_poster_created_idx / bounties_hunter_idx, account_links_user_idx).
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { RiskSettings } from '../../config/env';
import { type Database, selectRows } from '../../db';
import type { AccountFacts, DepositFacts, PublishFacts, RequestFacts, RewardFacts, WithdrawalFacts } from './rules';

type Reader = Pick<Database, 'execute'>;

const DAY_MS = 86_400_000;
const ago = (now: Date, ms: number): string => new Date(now.getTime() - ms).toISOString();

const count = z.coerce.number().int();
const instant = z.coerce.date().nullable();

/** Published and not finished: what a new account's open-bounty cap counts. */
const LIVE_STATES = sql.raw(`'open', 'in_progress', 'submitted', 'changes_requested', 'disputed'`);

/** Whether the user completed a bounty as its poster or its hunter (the new-account caps lift). */
const completedWork = (userId: string) =>
  sql`exists (select 1 from bounties b where b.state = 'completed' and (b.poster_id = ${userId} or b.hunter_id = ${userId}))`;

export async function depositFacts(db: Reader, userId: string, input: { amount: number; currency: string; now: Date }): Promise<DepositFacts> {
  const [row] = await selectRows(
    db,
    sql`select
          count(*) filter (where status not in ('failed', 'canceled')) as started,
          coalesce(sum(amount) filter (where status not in ('failed', 'canceled') and currency = ${input.currency}), 0) as started_cents,
          count(*) filter (where status = 'failed') as failed
        from deposits
        where user_id = ${userId} and created_at > ${ago(input.now, DAY_MS)}::timestamptz`,
    z.object({ started: count, started_cents: count, failed: count }),
  );
  return {
    now: input.now,
    amount: input.amount,
    currency: input.currency,
    depositsLast24h: row?.started ?? 0,
    depositedLast24h: row?.started_cents ?? 0,
    failedLast24h: row?.failed ?? 0,
  };
}

const withdrawalRow = z.object({
  available: count,
  withdrawals: count,
  last_deposit_at: instant,
  last_activity_at: instant,
  payout_changed_at: instant,
  destination_users: count,
});
const cardDepositRow = z.object({ amount: count, at: z.coerce.date() });

/** Read with the wallet's accounts locked (requestWithdrawal): the balance is the one the hold will use. */
export async function withdrawalFacts(
  db: Reader,
  userId: string,
  input: { amount: number; currency: string; now: Date },
  settings: RiskSettings,
): Promise<WithdrawalFacts> {
  const { now, currency } = input;
  const [row] = await selectRows(
    db,
    sql`select
          coalesce((select balance from ledger_accounts
                    where owner_type = 'user' and owner_id = ${userId} and kind = 'available' and currency = ${currency}), 0) as available,
          (select count(*) from withdrawals where user_id = ${userId} and created_at > ${ago(now, DAY_MS)}::timestamptz) as withdrawals,
          (select max(created_at) from deposits
            where user_id = ${userId} and status = 'succeeded' and created_at > ${ago(now, settings.depositWithdrawDays * DAY_MS)}::timestamptz) as last_deposit_at,
          (select max(greatest(case when b.poster_id = ${userId} then b.published_at end, case when b.state = 'completed' then b.closed_at end))
             from bounties b where b.poster_id = ${userId} or b.hunter_id = ${userId}) as last_activity_at,
          (select payout_details_changed_at from connect_accounts where user_id = ${userId}) as payout_changed_at,
          coalesce((select max(shared.users) from (
             select count(*) as users
             from account_links mine
             join account_links other on other.kind = mine.kind and other.fingerprint = mine.fingerprint
             where mine.user_id = ${userId} and mine.kind = 'payout_destination'
             group by mine.fingerprint) shared), 1) as destination_users`,
    withdrawalRow,
  );
  if (!row) throw new Error('the withdrawal facts query returned no row');
  const holdSince = ago(now, settings.cardHoldDays * DAY_MS);
  // A deposit that funded a bounty straight from the card went to its escrow, not to this wallet:
  // it is not young money here, unless the escrow was refunded to the wallet (voided). What
  // remains: a split's share returned to the poster is not counted as young card money.
  const cards = await selectRows(
    db,
    sql`select d.amount - d.refunded_amount as amount, d.created_at as at
        from deposits d
        where d.user_id = ${userId} and d.status = 'succeeded' and d.currency = ${currency}
          and d.created_at > ${holdSince}::timestamptz and d.amount > d.refunded_amount
          and not exists (
            select 1 from bounties b
            join ledger_holds h on h.kind = 'escrow' and h.reference_id = b.id::text
            where b.poster_id = ${userId} and b.id::text = d.bounty_id and b.funding = 'card' and b.funding_deposit_id = d.id
              and h.status <> 'voided')
        order by d.created_at
        limit 500`,
    cardDepositRow,
  );
  // The hunter's side of card money: what escrow paid this user from bounties funded by a card
  // deposit still inside the chargeback window (a stolen card, an accomplice hunter). The deposit
  // is older than the payment, so its age bounds the earning's.
  const [earned] = await selectRows(
    db,
    sql`select coalesce(sum(e.amount), 0) as cents
        from bounties b
        join deposits d on d.id = b.funding_deposit_id
        join ledger_holds h on h.kind = 'escrow' and h.reference_id = b.id::text
        join ledger_transactions t on t.hold_id = h.id and t.kind in ('escrow.release', 'escrow.split')
        join ledger_entries e on e.transaction_id = t.id and e.amount > 0
        join ledger_accounts a on a.id = e.account_id
        where b.hunter_id = ${userId} and b.funding = 'card' and d.created_at > ${holdSince}::timestamptz
          and a.owner_type = 'user' and a.owner_id = ${userId} and a.kind = 'available' and a.currency = ${currency}`,
    z.object({ cents: count }),
  );
  return {
    now,
    amount: input.amount,
    currency,
    available: row.available,
    recentCardDeposits: cards,
    cardFundedEarnings: earned?.cents ?? 0,
    withdrawalsLast24h: row.withdrawals,
    lastDepositAt: row.last_deposit_at,
    lastActivityAt: row.last_activity_at,
    payoutDetailsChangedAt: row.payout_changed_at,
    payoutDestinationUsers: row.destination_users,
  };
}

const accountRow = z.object({ created_at: instant, completed: z.boolean(), extra: count });

/** An account's age and completed work, plus one count (`extra`) the caller's rule needs. */
async function accountFacts(db: Reader, userId: string, now: Date, extra: ReturnType<typeof sql>): Promise<AccountFacts & { extra: number }> {
  const [row] = await selectRows(
    db,
    sql`select (select created_at from users where id = ${userId}) as created_at, ${completedWork(userId)} as completed, (${extra}) as extra`,
    accountRow,
  );
  // A user row always exists for a signed-in actor; without one the account counts as new now.
  return { now, accountCreatedAt: row?.created_at ?? now, hasCompletedWork: row?.completed ?? false, extra: row?.extra ?? 0 };
}

export async function rewardFacts(db: Reader, userId: string, input: { reward: number; currency: string; now: Date }): Promise<RewardFacts> {
  const account = await accountFacts(db, userId, input.now, sql`select 0`);
  return { now: account.now, accountCreatedAt: account.accountCreatedAt, hasCompletedWork: account.hasCompletedWork, reward: input.reward, currency: input.currency };
}

/**
 * Live bounties: published and unfinished, plus the other drafts whose card payment is under way
 * (a card publish is judged while the bounty is a draft, and the webhook opens it later without
 * judging again, so a payment in flight already counts). A draft whose payment failed, or
 * succeeded without opening it (the draft changed meanwhile), does not.
 */
export async function publishFacts(db: Reader, userId: string, input: { bountyId: string; reward: number; currency: string; now: Date }): Promise<PublishFacts> {
  const { extra, ...account } = await accountFacts(
    db,
    userId,
    input.now,
    sql`select count(*) from bounties b
        where b.poster_id = ${userId}
          and (b.state in (${LIVE_STATES})
               or (b.state = 'draft' and b.funding = 'card' and b.id <> ${input.bountyId}
                   and exists (select 1 from deposits d
                               where d.user_id = ${userId} and d.bounty_id = b.id::text
                                 and d.status in ('creating', 'requires_payment', 'processing'))))`,
  );
  return { ...account, reward: input.reward, currency: input.currency, liveBounties: extra };
}

export async function requestFacts(db: Reader, userId: string, now: Date): Promise<RequestFacts> {
  const { extra, ...account } = await accountFacts(
    db,
    userId,
    now,
    sql`select count(*) from bounty_requests where hunter_id = ${userId} and created_at > ${ago(now, DAY_MS)}::timestamptz`,
  );
  return { ...account, requestsLast24h: extra };
}
