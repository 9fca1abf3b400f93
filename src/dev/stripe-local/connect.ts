/**
 * Connect: Express accounts, onboarding links (a browser GET of the link completes onboarding and
 * redirects to return_url), transfers to connected accounts and their reversals, and the account
 * events tests trigger (onboarding done, restricted, a failed payout).
 */
import { type Ops, type Route, route } from './context';
import { invalidRequest, noSuch, parameterMissing } from './errors';
import type { Metadata } from './params';
import { currencyParam } from './payments';
import {
  type Account,
  type Payout,
  type Requirements,
  type Transfer,
  type TransferReversal,
  emptyList,
  listOf,
  newId,
  unixNow,
} from './state';

/** What a fresh Express account still has to provide before it can be paid. */
const ONBOARDING_REQUIREMENTS = ['external_account', 'tos_acceptance.date', 'individual.first_name'];
const ACCOUNT_LINK_TTL_S = 300;

const requirements = (due: readonly string[], pastDue: readonly string[]): Requirements => ({
  currently_due: [...due],
  eventually_due: [...due],
  past_due: [...pastDue],
  pending_verification: [],
  disabled_reason: due.length > 0 ? 'requirements.past_due' : null,
  current_deadline: null,
  errors: [],
});

function accountById(ops: Ops, id: string, param = 'account', status: 400 | 404 = 400): Account {
  const account = ops.store.accounts.get(id);
  if (!account) throw noSuch('account', id, param, status);
  return account;
}

function setCapabilities(account: Account, status: 'active' | 'inactive'): void {
  for (const name of Object.keys(account.capabilities)) account.capabilities[name] = status;
}

/** What the hosted onboarding does once the user finishes; emits account.updated. */
export function completeOnboarding(ops: Ops, id: string): Account {
  const account = accountById(ops, id);
  account.details_submitted = true;
  account.charges_enabled = true;
  account.payouts_enabled = true;
  account.requirements = requirements([], []);
  setCapabilities(account, 'active');
  ops.emit('account.updated', account, account.id);
  return account;
}

/** Stripe asking for more information, past due: payouts and transfers stop; emits account.updated. */
export function restrictAccount(ops: Ops, id: string, currentlyDue: readonly string[]): Account {
  const account = accountById(ops, id);
  account.charges_enabled = false;
  account.payouts_enabled = false;
  account.requirements = requirements(currentlyDue, currentlyDue);
  setCapabilities(account, 'inactive');
  ops.emit('account.updated', account, account.id);
  return account;
}

export type PayoutFailure = { amount: number; currency: string; failureCode?: string; failureMessage?: string };

/** A payout from the connected account to its bank that failed; emits payout.failed on that account. */
export function failPayout(ops: Ops, accountId: string, failure: PayoutFailure): Payout {
  accountById(ops, accountId);
  const created = unixNow();
  const payout: Payout = {
    id: newId('po'),
    object: 'payout',
    created,
    livemode: false,
    amount: failure.amount,
    currency: failure.currency.toLowerCase(),
    arrival_date: created + 2 * 86_400,
    automatic: true,
    method: 'standard',
    type: 'bank_account',
    status: 'failed',
    failure_code: failure.failureCode ?? 'could_not_process',
    failure_message: failure.failureMessage ?? 'The bank could not process this payout.',
    metadata: {},
  };
  ops.store.payouts.set(payout.id, payout);
  ops.emit('payout.failed', payout, accountId);
  return payout;
}

/** Reverses `amount` of a transfer (default: what is left); emits transfer.reversed. */
export function reverseTransfer(ops: Ops, transferId: string, amount?: number, metadata: Metadata = {}): TransferReversal {
  const transfer = ops.store.transfers.get(transferId);
  if (!transfer) throw noSuch('transfer', transferId, 'id', 404);
  const reversible = transfer.amount - transfer.amount_reversed;
  if (reversible === 0) throw invalidRequest(`Transfer ${transferId} has already been fully reversed.`, undefined, 'transfer_already_reversed');
  const reversed = amount ?? reversible;
  if (reversed < 1) throw invalidRequest('Invalid positive integer', 'amount');
  if (reversed > reversible)
    throw invalidRequest(`Amount (${reversed}) is greater than the amount that can still be reversed (${reversible}).`, 'amount');
  const reversal: TransferReversal = {
    id: newId('trr'),
    object: 'transfer_reversal',
    created: unixNow(),
    livemode: false,
    amount: reversed,
    currency: transfer.currency,
    transfer: transfer.id,
    metadata,
  };
  transfer.amount_reversed += reversed;
  transfer.reversed = transfer.amount_reversed === transfer.amount;
  transfer.reversals.data.unshift(reversal);
  ops.emit('transfer.reversed', transfer);
  return reversal;
}

export const connectRoutes: readonly Route[] = [
  route('POST', '/v1/accounts', ['type', 'country', 'email', 'capabilities', 'business_type', 'metadata'], ({ params, store }) => {
    const capabilities = params.object('capabilities');
    const requested = Object.keys(capabilities?.form ?? {}).filter((name) => capabilities?.object(name)?.boolean('requested'));
    const account: Account = {
      id: newId('acct', 16),
      object: 'account',
      created: unixNow(),
      livemode: false,
      type: params.oneOf('type', ['express', 'standard', 'custom'] as const) ?? 'express',
      country: params.string('country')?.toUpperCase() ?? 'US',
      email: params.string('email') ?? null,
      business_type: params.oneOf('business_type', ['individual', 'company', 'non_profit', 'government_entity'] as const) ?? null,
      default_currency: 'usd',
      capabilities: Object.fromEntries(['transfers', ...requested.filter((name) => name !== 'transfers')].map((name) => [name, 'inactive'])),
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      requirements: requirements(ONBOARDING_REQUIREMENTS, []),
      metadata: params.metadata(),
    };
    // Stripe sends no event for a new account; account.updated follows as onboarding progresses.
    store.accounts.set(account.id, account);
    return account;
  }),
  route('GET', '/v1/accounts/:id', [], ({ id, ...ops }) => accountById(ops, id, 'account', 404)),

  route('POST', '/v1/account_links', ['account', 'refresh_url', 'return_url', 'type'], ({ params, ...ops }) => {
    const account = accountById(ops, params.requiredString('account'));
    if (params.oneOf('type', ['account_onboarding', 'account_update'] as const) === undefined) throw parameterMissing('type');
    const returnUrl = params.string('return_url');
    const query = returnUrl === undefined ? '' : `?return_url=${encodeURIComponent(returnUrl)}`;
    const created = unixNow();
    return {
      object: 'account_link',
      url: `${ops.serverUrl}/_local/onboarding/${account.id}${query}`,
      created,
      expires_at: created + ACCOUNT_LINK_TTL_S,
    };
  }),

  route(
    'POST',
    '/v1/transfers',
    ['amount', 'currency', 'destination', 'transfer_group', 'source_transaction', 'metadata', 'description'],
    ({ params, path, ...ops }) => {
      const amount = params.requiredInteger('amount');
      if (amount < 1) throw invalidRequest('This value must be greater than or equal to 1.', 'amount');
      const currency = currencyParam(params);
      const destination = accountById(ops, params.requiredString('destination'), 'destination');
      if (destination.capabilities.transfers !== 'active')
        throw invalidRequest(
          'Your destination account needs to have at least one of the following capabilities enabled: transfers',
          'destination',
          'insufficient_capabilities_for_transfer',
        );
      const sourceId = params.string('source_transaction');
      if (sourceId !== undefined) {
        const source = ops.store.charges.get(sourceId);
        if (!source) throw noSuch('charge', sourceId, 'source_transaction');
        if (source.status !== 'succeeded')
          throw invalidRequest(`The source_transaction ${sourceId} is not a succeeded charge.`, 'source_transaction');
        if (source.currency !== currency)
          throw invalidRequest(`The currency of source_transaction (${source.currency}) must be the same as the transfer currency (${currency}).`, 'currency');
      }
      const id = newId('tr');
      const transfer: Transfer = {
        id,
        object: 'transfer',
        created: unixNow(),
        livemode: false,
        amount,
        amount_reversed: 0,
        currency,
        description: params.string('description') ?? null,
        destination: destination.id,
        metadata: params.metadata(),
        reversals: emptyList(`${path}/${id}/reversals`),
        reversed: false,
        source_transaction: sourceId ?? null,
        transfer_group: params.string('transfer_group') ?? null,
      };
      ops.store.transfers.set(id, transfer);
      ops.emit('transfer.created', transfer);
      return transfer;
    },
  ),
  route('GET', '/v1/transfers', ['destination', 'transfer_group', 'limit', 'starting_after', 'ending_before'], ({ params, path, store }) => {
    const destination = params.string('destination');
    const group = params.string('transfer_group');
    const transfers = [...store.transfers.values()].filter(
      (transfer) => (destination === undefined || transfer.destination === destination) && (group === undefined || transfer.transfer_group === group),
    );
    return listOf(transfers, path, params);
  }),
  route('GET', '/v1/transfers/:id', [], ({ id, store }) => {
    const transfer = store.transfers.get(id);
    if (!transfer) throw noSuch('transfer', id, 'id', 404);
    return transfer;
  }),
  route('POST', '/v1/transfers/:id/reversals', ['amount', 'metadata'], ({ id, params, ...ops }) =>
    reverseTransfer(ops, id, params.integer('amount'), params.metadata()),
  ),
];
