/**
 * The wallet: balances, history, deposits (Stripe PaymentIntents, credited by webhook) and
 * withdrawals (Stripe Connect transfers, paid by a job). Every route is the signed-in user's own;
 * another user's deposit or withdrawal is the same 404 as one that does not exist. Deposits and
 * withdrawals are judged by the risk rules (src/modules/risk); an admin reviews a held
 * withdrawal through review.ts (mounted here: the wallet owns withdrawals).
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import type { RiskSettings } from '../../config/env';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { PROVIDER_ERRORS, type Stripe } from '../../lib/stripe';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import { IDEMPOTENCY_KEY_HEADER, type IdempotencyPlugin } from '../../plugins/idempotency';
import { requestIdOf } from '../../plugins/request-context';
import { DEFAULT_CURRENCY, LEDGER_ERRORS } from '../ledger';
import type { ModuleInfo } from '../module';
import { RISK_ERRORS } from '../risk/errors';
import { createDeposit, findDeposit, listDeposits } from './deposits';
import { WALLET_ERRORS } from './errors';
import {
  depositBody,
  depositSchema,
  listQuery,
  walletQuery,
  walletSchema,
  walletTransactionSchema,
  withdrawalBody,
  withdrawalSchema,
} from './schemas';
import { withdrawalReviewRoutes } from './review';
import { getWallet, listWalletTransactions } from './service';
import { type EnqueuePayout, findWithdrawal, listWithdrawals, requestWithdrawal } from './withdrawals';

export const walletModule: ModuleInfo = {
  tag: { name: 'wallet', description: 'Balances, history, deposits by card or Apple Pay, withdrawals through Stripe Connect' },
  errors: { ...WALLET_ERRORS.codes, ...LEDGER_ERRORS.codes, ...PROVIDER_ERRORS.codes, ...RISK_ERRORS.codes },
};

export type WalletDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  stripe: Stripe;
  /** Test keys or the local server: Stripe's named test cards are accepted. */
  liveMode: boolean;
  maxAmount: number;
  enqueuePayout: EnqueuePayout;
  /** The risk rules' settings: deposits and withdrawals are judged by them. */
  risk: RiskSettings;
  /** The clock the rules judge by (ages of deposits, payout changes); the wall clock unless given. */
  now?: () => Date;
};

const idParams = z.object({ id: z.uuid().max(36) });

/** The Idempotency-Key the plugin has checked: it also names the deposit or withdrawal it made. */
const requestKeyOf = (request: Request): string => request.headers.get(IDEMPOTENCY_KEY_HEADER) ?? '';

const ownWalletRoutes = (deps: WalletDeps, now: () => Date) =>
  new Elysia({ prefix: '/wallet', tags: [walletModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get('', async ({ user, db, query }) => ok(await getWallet(db, user.id, query.currency ?? DEFAULT_CURRENCY)), {
      auth: true,
      query: walletQuery,
      response: { 200: successSchema(walletSchema), ...authErrors, ...commonErrors },
      detail: { summary: 'Your wallet', description: 'Available, held for withdrawals, in escrow for your bounties, and owed, in minor units.' },
    })
    .get(
      '/transactions',
      async ({ user, db, query }) => {
        const result = await listWalletTransactions(db, user.id, {
          currency: query.currency ?? DEFAULT_CURRENCY,
          limit: clampLimit(query.limit),
          cursor: cursorFromQuery(query.cursor, { ids: 'integer' }),
        });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        query: listQuery.extend(walletQuery.shape),
        response: { 200: pageSchema(walletTransactionSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Your wallet history', description: 'Every movement of your available balance, newest first.' },
      },
    )
    .post(
      '/deposits',
      async ({ user, db, body, request, set }) => {
        const deposit = await createDeposit(
          { db, stripe: deps.stripe, liveMode: deps.liveMode, risk: deps.risk, now, requestId: requestIdOf(request) },
          { id: user.id, email: user.email, name: user.name },
          { amount: body.amount.amount, currency: body.amount.currency, method: body.method, paymentMethodId: body.paymentMethodId, requestKey: requestKeyOf(request) },
        );
        set.status = 201;
        return ok(deposit);
      },
      {
        auth: true,
        idempotency: 'required',
        body: depositBody(deps.maxAmount),
        response: { 201: successSchema(depositSchema), 402: errorSchema, ...authErrors, ...commonErrors },
        detail: {
          summary: 'Deposit by card or Apple Pay',
          description:
            'Creates a Stripe PaymentIntent and returns its client secret for the app to confirm (card or Apple Pay: the same intent). ' +
            'The wallet is credited when Stripe reports the payment succeeded (webhook), not by this call. ' +
            'With `paymentMethodId` the intent is confirmed at once: a declined card is 402 PAYMENT_DECLINED. ' +
            'Too many deposits or failed card payments in 24 hours: 403 RISK_DENIED (nothing is created).',
        },
      },
    )
    .get(
      '/deposits',
      async ({ user, db, query }) => {
        const result = await listDeposits(db, user.id, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'uuid' }) });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        query: listQuery,
        response: { 200: pageSchema(depositSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Your deposits', description: 'Newest first, with their status and, when failed, the reason.' },
      },
    )
    .get(
      '/deposits/:id',
      async ({ user, db, params }) => {
        const deposit = await findDeposit(db, user.id, params.id);
        if (!deposit) throw WALLET_ERRORS.error('DEPOSIT_NOT_FOUND');
        return ok(deposit);
      },
      {
        auth: true,
        params: idParams,
        response: { 200: successSchema(depositSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'A deposit of yours' },
      },
    )
    .post(
      '/withdrawals',
      async ({ user, db, body, request, set }) => {
        const withdrawal = await requestWithdrawal({ db, enqueuePayout: deps.enqueuePayout, risk: deps.risk, now: now(), requestId: requestIdOf(request) }, user.id, {
          amount: body.amount.amount,
          currency: body.amount.currency,
          requestKey: requestKeyOf(request),
        });
        set.status = 201;
        return ok(withdrawal);
      },
      {
        auth: true,
        idempotency: 'required',
        body: withdrawalBody(deps.maxAmount),
        response: { 201: successSchema(withdrawalSchema), ...authErrors, ...commonErrors, 409: errorSchema },
        detail: {
          summary: 'Withdraw to your bank',
          description:
            'Holds the amount at once (409 INSUFFICIENT_FUNDS if your available balance does not cover it) and pays it to your ' +
            'Stripe Connect account in the background; GET /wallet/withdrawals shows when it is paid or, if it failed, why ' +
            '(the money is then back in your available balance). Needs payouts enabled (409 PAYOUTS_NOT_ENABLED). ' +
            'Money from card payments younger than RISK_CARD_HOLD_DAYS cannot leave yet: 409 CARD_FUNDS_ON_HOLD says how much can ' +
            '(`details`: withdrawableNow, freesAt). A withdrawal the risk rules hold for review is `held` (the amount stays held) until ' +
            'support releases it (then paid as usual) or rejects it (`rejected`, the amount back in your balance); 403 RISK_DENIED when refused.',
        },
      },
    )
    .get(
      '/withdrawals',
      async ({ user, db, query }) => {
        const result = await listWithdrawals(db, user.id, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'uuid' }) });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        query: listQuery,
        response: { 200: pageSchema(withdrawalSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Your withdrawals', description: 'Newest first, with their status and, when failed, the reason.' },
      },
    )
    .get(
      '/withdrawals/:id',
      async ({ user, db, params }) => {
        const withdrawal = await findWithdrawal(db, user.id, params.id);
        if (!withdrawal) throw WALLET_ERRORS.error('WITHDRAWAL_NOT_FOUND');
        return ok(withdrawal);
      },
      {
        auth: true,
        params: idParams,
        response: { 200: successSchema(withdrawalSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'A withdrawal of yours' },
      },
    );

/** The user's own wallet routes, and the admins' review of held withdrawals. */
export const walletRoutes = (deps: WalletDeps) => {
  const now = deps.now ?? (() => new Date());
  return new Elysia().use(ownWalletRoutes(deps, now)).use(withdrawalReviewRoutes({ ...deps, now }));
};
