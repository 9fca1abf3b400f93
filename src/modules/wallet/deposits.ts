/**
 * Deposits: money in through a Stripe PaymentIntent (a card, or Apple Pay through the same
 * intent). The wallet is credited only by the `payment_intent.succeeded` webhook
 * (src/modules/webhooks), never by this request: a client's word is not a payment.
 *
 * The deposit row is committed BEFORE Stripe is called and its id rides in the intent's
 * metadata, so the webhook always finds its deposit, whichever arrives first; the intent is
 * created with the idempotency key `deposit:<id>`, so a retried request makes no second intent.
 *
 * A new deposit is judged by the risk rules (velocity, failed payments) in the transaction that
 * inserts it, before Stripe is called: a denied one creates nothing. A retry with the same key is
 * the same deposit and is not judged again.
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import type { RiskSettings } from '../../config/env';
import { type DatabaseSession, type Deposit, type DepositMethod, type DepositStatus, deposits } from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { callStripe, isDefinitiveRefusal, providerRefusal, type Stripe, StripeSdk } from '../../lib/stripe';
import { assertUsablePaymentMethod, ensureCustomer, type Payer } from '../payments/service';
import { judgeDeposit, recordingDenials } from '../risk/service';
import { WALLET_ERRORS } from './errors';
import type { DepositView } from './schemas';
import { toDepositView } from './views';

/** How long a deposit without an intent may be retried with its key: inside Stripe's 24 h. */
const DEPOSIT_KEY_RETRY_MS = 23 * 60 * 60 * 1000;

export type DepositDeps = {
  db: DatabaseSession;
  stripe: Stripe;
  liveMode: boolean;
  risk: RiskSettings;
  /** The clock the risk rules judge by. */
  now: () => Date;
  requestId?: string | null;
};

export type DepositRequest = {
  amount: number;
  currency: string;
  method: DepositMethod;
  paymentMethodId?: string | undefined;
  /** Set when the deposit funds a bounty: the webhook credits and holds it in one transaction. */
  bountyId?: string | undefined;
  requestKey: string;
};

/** Stripe's intent status as the deposit's, until the webhook says it succeeded. */
function depositStatusOf(intent: Stripe.PaymentIntent): DepositStatus {
  switch (intent.status) {
    case 'succeeded':
    case 'processing':
      return 'processing';
    case 'canceled':
      return 'canceled';
    default:
      return 'requires_payment';
  }
}

export async function createDeposit(deps: DepositDeps, payer: Payer, request: DepositRequest): Promise<DepositView> {
  const { db, stripe } = deps;
  const customerId = await ensureCustomer(deps, payer);
  if (request.paymentMethodId) await assertUsablePaymentMethod(deps, customerId, request.paymentMethodId, deps.liveMode);
  const inserted = await recordingDenials(db, () =>
    db.transaction(async (tx) => {
      const [same] = await tx.select({ id: deposits.id }).from(deposits).where(and(eq(deposits.userId, payer.id), eq(deposits.requestKey, request.requestKey)));
      if (same) return undefined;
      await judgeDeposit(tx, { settings: deps.risk, userId: payer.id, amount: request.amount, currency: request.currency, now: deps.now(), requestId: deps.requestId });
      const [row] = await tx
        .insert(deposits)
        .values({
          userId: payer.id,
          requestKey: request.requestKey,
          amount: request.amount,
          currency: request.currency,
          method: request.method,
          bountyId: request.bountyId ?? null,
        })
        .onConflictDoNothing({ target: [deposits.userId, deposits.requestKey] })
        .returning();
      return row;
    }),
  );
  // The same Idempotency-Key again (its stored answer expired or was never stored): the same
  // deposit. Once it has an intent, that intent is the deposit's answer for good: Stripe forgets
  // its own idempotency key after 24 h, and creating again then would charge the card again.
  const deposit = inserted ?? (await findOwnDeposit(db, payer.id, { requestKey: request.requestKey }));
  if (!deposit) throw new Error('deposit row missing after insert');
  const existingIntentId = deposit.paymentIntentId;
  if (existingIntentId) {
    const intent = await callStripe(() => stripe.paymentIntents.retrieve(existingIntentId));
    return toDepositView(deposit, intent.client_secret);
  }
  // No intent on record (an earlier try timed out, or was refused): Stripe keeps `deposit:<id>`
  // 24 h, so past that a retry could make (and charge) a second intent. The key is spent.
  if (!inserted && Date.now() - deposit.createdAt.getTime() > DEPOSIT_KEY_RETRY_MS) throw WALLET_ERRORS.error('DEPOSIT_KEY_EXPIRED');

  let intent: Stripe.PaymentIntent;
  try {
    intent = await stripe.paymentIntents.create(
      {
        amount: deposit.amount,
        currency: deposit.currency,
        customer: customerId,
        // Apple Pay is a card wallet: the same intent, confirmed by the app with an Apple Pay token.
        allowed_payment_method_types: ['card'],
        description: deposit.bountyId ? `BOUNTYExpo bounty ${deposit.bountyId}` : 'BOUNTYExpo wallet deposit',
        metadata: { deposit_id: deposit.id, user_id: payer.id, method: deposit.method, ...(deposit.bountyId ? { bounty_id: deposit.bountyId } : {}) },
        ...(request.paymentMethodId ? { payment_method: request.paymentMethodId, confirm: true } : {}),
      },
      { idempotencyKey: `deposit:${deposit.id}` },
    );
  } catch (error) {
    const declined = declinedIntent(error);
    if (declined) {
      await markDeposit(db, deposit.id, { paymentIntentId: declined.id, status: 'failed', failureReason: declined.last_payment_error?.message ?? 'The card was declined' });
    } else if (isDefinitiveRefusal(error)) {
      // Refused for good (the answer to this key is stored as refused): the deposit failed.
      await markDeposit(db, deposit.id, { paymentIntentId: null, status: 'failed', failureReason: 'The payment provider refused the payment' });
    }
    // A timeout or an outage leaves it 'creating': a retry with the same key reaches the same intent.
    throw providerRefusal(error);
  }
  const updated = await markDeposit(db, deposit.id, { paymentIntentId: intent.id, status: depositStatusOf(intent) });
  return toDepositView(updated ?? deposit, intent.client_secret);
}

/** A declined confirmation carries the intent it declined. */
const declinedIntent = (error: unknown): Stripe.PaymentIntent | null =>
  error instanceof StripeSdk.errors.StripeCardError ? (error.payment_intent ?? null) : null;

/**
 * Moves a deposit forward, never back from succeeded or failed (the webhook may have got there
 * first), and never to another intent once it has one.
 */
async function markDeposit(
  db: DatabaseSession,
  id: string,
  changes: { paymentIntentId: string | null; status: DepositStatus; failureReason?: string },
): Promise<Deposit | undefined> {
  const [row] = await db.write((primary) =>
    primary
      .update(deposits)
      .set({
        paymentIntentId: sql`coalesce(${deposits.paymentIntentId}, ${changes.paymentIntentId})`,
        failureReason: changes.failureReason ?? null,
        updatedAt: new Date(),
        status: sql`case when ${deposits.status} in ('succeeded', 'failed') then ${deposits.status} else ${changes.status} end`,
      })
      .where(eq(deposits.id, id))
      .returning(),
  );
  return row;
}

async function findOwnDeposit(db: DatabaseSession, userId: string, by: { requestKey: string }): Promise<Deposit | undefined> {
  const [row] = await db.write((primary) =>
    primary.select().from(deposits).where(and(eq(deposits.userId, userId), eq(deposits.requestKey, by.requestKey))),
  );
  return row;
}

export async function findDeposit(db: DatabaseSession, userId: string, id: string): Promise<DepositView | null> {
  const [row] = await db.read((reader) => reader.select().from(deposits).where(and(eq(deposits.id, id), eq(deposits.userId, userId))));
  return row ? toDepositView(row) : null;
}

export async function listDeposits(db: DatabaseSession, userId: string, options: { limit: number; cursor: KeysetCursor | null }) {
  const { cursor } = options;
  const rows = await db.read((reader) =>
    reader
      .select({ deposit: deposits, cursorAt: sql<string>`${deposits.createdAt}::text` })
      .from(deposits)
      .where(
        and(
          eq(deposits.userId, userId),
          cursor ? sql`(${deposits.createdAt}, ${deposits.id}) < (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
        ),
      )
      .orderBy(desc(deposits.createdAt), desc(deposits.id))
      .limit(options.limit + 1),
  );
  return keysetPage(rows, options.limit, (row) => toDepositView(row.deposit), (row) => ({ t: row.cursorAt, i: row.deposit.id }));
}
