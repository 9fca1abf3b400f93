/**
 * The risk rules as pure functions (src/modules/risk/rules.ts): each triggered and not, at its
 * boundary, and allowing when ENABLE_RISK_MANAGEMENT is off (except the chat warning, which still
 * counts). Also the combination of outcomes and the score's arithmetic (src/modules/risk/score.ts).
 */
import { describe, expect, test } from 'bun:test';
import type { RiskSettings } from '../src/config/env';
import {
  BOUNTY_PUBLISH_RULES,
  cardFundedEarnings,
  cardHold,
  type DepositFacts,
  depositThenWithdraw,
  depositVelocity,
  evaluate,
  failedPayments,
  linkedAccounts,
  linkedPayoutDestination,
  newAccountOpenBounties,
  newAccountRequests,
  newAccountReward,
  offPlatformContact,
  offPlatformKinds,
  payoutDetailsChanged,
  type PublishFacts,
  RISK_RULES,
  RULE_NAMES,
  WITHDRAWAL_RULES,
  type WithdrawalFacts,
  withdrawalVelocity,
} from '../src/modules/risk/rules';
import { levelOf, scoreOf } from '../src/modules/risk/score';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const NOW = new Date('2026-03-01T12:00:00.000Z');
const before = (ms: number): Date => new Date(NOW.getTime() - ms);

const SETTINGS: RiskSettings = {
  enabled: true,
  cardHoldDays: 14,
  maxDepositsPerDay: 3,
  maxDepositCentsPerDay: 10_000,
  maxWithdrawalsPerDay: 2,
  maxFailedPaymentsPerDay: 3,
  newAccountDays: 14,
  newAccountMaxRewardCents: 20_000,
  newAccountMaxOpenBounties: 2,
  newAccountMaxRequestsPerDay: 5,
  depositWithdrawDays: 7,
  payoutChangeHours: 72,
  linkedAccountsMax: 2,
};
const OFF: RiskSettings = { ...SETTINGS, enabled: false };

const deposit = (overrides: Partial<DepositFacts> = {}): DepositFacts => ({
  now: NOW,
  amount: 1_000,
  currency: 'usd',
  depositsLast24h: 0,
  depositedLast24h: 0,
  failedLast24h: 0,
  ...overrides,
});

/** A withdrawal no rule minds: old money, active account, no recent change. */
const withdrawal = (overrides: Partial<WithdrawalFacts> = {}): WithdrawalFacts => ({
  now: NOW,
  amount: 1_000,
  currency: 'usd',
  available: 5_000,
  recentCardDeposits: [],
  cardFundedEarnings: 0,
  withdrawalsLast24h: 0,
  lastDepositAt: null,
  lastActivityAt: null,
  payoutDetailsChangedAt: null,
  payoutDestinationUsers: 1,
  ...overrides,
});

/** A brand-new account (an hour old, nothing completed) publishing a small bounty. */
const publishing = (overrides: Partial<PublishFacts> = {}): PublishFacts => ({
  now: NOW,
  accountCreatedAt: before(HOUR),
  hasCompletedWork: false,
  reward: 5_000,
  currency: 'usd',
  liveBounties: 0,
  ...overrides,
});

describe('deposit rules', () => {
  test('deposit velocity: the count limit includes this deposit', () => {
    expect(depositVelocity(deposit({ depositsLast24h: 2 }), SETTINGS).outcome).toBe('allow');
    const denied = depositVelocity(deposit({ depositsLast24h: 3 }), SETTINGS);
    expect(denied).toMatchObject({ outcome: 'deny', rule: 'deposit_velocity', code: 'RISK_DENIED' });
    expect(denied.userMessage).toContain('deposit limit');
    expect(denied.detail).toMatchObject({ deposits: 4, maxDeposits: 3 });
  });

  test('deposit velocity: the amount limit includes this deposit, exactly at the limit is allowed', () => {
    expect(depositVelocity(deposit({ depositedLast24h: 9_000, amount: 1_000 }), SETTINGS).outcome).toBe('allow');
    expect(depositVelocity(deposit({ depositedLast24h: 9_000, amount: 1_001 }), SETTINGS).outcome).toBe('deny');
  });

  test('failed payments: denied once the day has as many failures as the limit, with a generic message', () => {
    expect(failedPayments(deposit({ failedLast24h: 2 }), SETTINGS).outcome).toBe('allow');
    const denied = failedPayments(deposit({ failedLast24h: 3 }), SETTINGS);
    expect(denied.outcome).toBe('deny');
    expect(denied.userMessage).not.toContain('3');
    expect(denied.userMessage).not.toContain('fail');
  });

  test('disabled: both allow', () => {
    expect(depositVelocity(deposit({ depositsLast24h: 50, depositedLast24h: 10_000_000 }), OFF).outcome).toBe('allow');
    expect(failedPayments(deposit({ failedLast24h: 50 }), OFF).outcome).toBe('allow');
  });
});

describe('withdrawal rules', () => {
  test('card hold: young card money stays; the denial says how much can go now and when this amount frees', () => {
    // 5,000 available, 3,000 of it from a card 2 days ago: 2,000 can go now.
    const facts = withdrawal({ amount: 4_000, available: 5_000, recentCardDeposits: [{ amount: 3_000, at: before(2 * DAY) }] });
    const denied = cardHold(facts, SETTINGS);
    expect(denied).toMatchObject({ outcome: 'deny', code: 'CARD_FUNDS_ON_HOLD' });
    expect(denied.userDetail).toEqual({ withdrawableNow: 2_000, freesAt: new Date(before(2 * DAY).getTime() + 14 * DAY).toISOString() });
    expect(denied.userMessage).toContain('20.00 USD');
    expect(cardHold({ ...facts, amount: 2_000 }, SETTINGS).outcome).toBe('allow');
  });

  test('card hold: the amount frees as the young deposits age out, oldest first; exactly at the window it is free', () => {
    const older = before(10 * DAY);
    const newer = before(1 * DAY);
    const facts = withdrawal({ amount: 2_500, available: 3_000, recentCardDeposits: [{ amount: 1_000, at: newer }, { amount: 2_000, at: older }] });
    // Nothing withdrawable now (3,000 all young); 2,000 frees with the older one, 3,000 with the newer.
    expect(cardHold(facts, SETTINGS).userDetail).toEqual({ withdrawableNow: 0, freesAt: new Date(newer.getTime() + 14 * DAY).toISOString() });
    expect(cardHold({ ...facts, amount: 2_000 }, SETTINGS).userDetail).toEqual({ withdrawableNow: 0, freesAt: new Date(older.getTime() + 14 * DAY).toISOString() });
    const atWindow = withdrawal({ amount: 3_000, available: 3_000, recentCardDeposits: [{ amount: 3_000, at: before(14 * DAY) }] });
    expect(cardHold(atWindow, SETTINGS).outcome).toBe('allow');
    expect(cardHold({ ...atWindow, recentCardDeposits: [{ amount: 3_000, at: before(14 * DAY - 1) }] }, SETTINGS).outcome).toBe('deny');
  });

  test('card hold: more than the balance is left to the ledger (INSUFFICIENT_FUNDS), and disabled allows', () => {
    const facts = withdrawal({ amount: 9_000, available: 5_000, recentCardDeposits: [{ amount: 5_000, at: before(DAY) }] });
    expect(cardHold(facts, SETTINGS).outcome).toBe('allow');
    expect(cardHold({ ...facts, amount: 1_000 }, OFF).outcome).toBe('allow');
  });

  test('card-funded earnings: held when the withdrawal takes any pay from a bounty funded by a young card payment', () => {
    // 5,000 available, 3,000 of it paid from a card-funded bounty: 2,000 is other money.
    const facts = withdrawal({ amount: 2_001, available: 5_000, cardFundedEarnings: 3_000 });
    expect(cardFundedEarnings(facts, SETTINGS)).toMatchObject({ outcome: 'hold', rule: 'card_funded_earnings', detail: { otherMoneyCents: 2_000 } });
    expect(cardFundedEarnings(facts, SETTINGS).userMessage).not.toContain('card');
    expect(cardFundedEarnings({ ...facts, amount: 2_000 }, SETTINGS).outcome).toBe('allow');
    expect(cardFundedEarnings({ ...facts, cardFundedEarnings: 0 }, SETTINGS).outcome).toBe('allow');
    // More than the balance is the ledger's refusal; off allows.
    expect(cardFundedEarnings({ ...facts, amount: 9_000 }, SETTINGS).outcome).toBe('allow');
    expect(cardFundedEarnings(facts, OFF).outcome).toBe('allow');
    expect(evaluate(WITHDRAWAL_RULES, facts, SETTINGS).decisive?.rule).toBe('card_funded_earnings');
  });

  test('withdrawal velocity: held past the daily count (this one included)', () => {
    expect(withdrawalVelocity(withdrawal({ withdrawalsLast24h: 1 }), SETTINGS).outcome).toBe('allow');
    expect(withdrawalVelocity(withdrawal({ withdrawalsLast24h: 2 }), SETTINGS)).toMatchObject({ outcome: 'hold', rule: 'withdrawal_velocity' });
    expect(withdrawalVelocity(withdrawal({ withdrawalsLast24h: 9 }), OFF).outcome).toBe('allow');
  });

  test('deposit then withdraw: held without a bounty funded or work completed since the deposit', () => {
    const deposited = before(2 * DAY);
    expect(depositThenWithdraw(withdrawal({ lastDepositAt: deposited }), SETTINGS).outcome).toBe('hold');
    expect(depositThenWithdraw(withdrawal({ lastDepositAt: deposited, lastActivityAt: before(3 * DAY) }), SETTINGS).outcome).toBe('hold');
    expect(depositThenWithdraw(withdrawal({ lastDepositAt: deposited, lastActivityAt: before(DAY) }), SETTINGS).outcome).toBe('allow');
    expect(depositThenWithdraw(withdrawal({ lastDepositAt: before(7 * DAY) }), SETTINGS).outcome).toBe('allow');
    expect(depositThenWithdraw(withdrawal({ lastDepositAt: before(7 * DAY - 1) }), SETTINGS).outcome).toBe('hold');
    expect(depositThenWithdraw(withdrawal({ lastDepositAt: deposited }), OFF).outcome).toBe('allow');
  });

  test('payout details changed: held within the window before the withdrawal', () => {
    expect(payoutDetailsChanged(withdrawal({ payoutDetailsChangedAt: before(HOUR) }), SETTINGS)).toMatchObject({ outcome: 'hold', rule: 'payout_details_changed' });
    expect(payoutDetailsChanged(withdrawal({ payoutDetailsChangedAt: before(72 * HOUR - 1) }), SETTINGS).outcome).toBe('hold');
    expect(payoutDetailsChanged(withdrawal({ payoutDetailsChangedAt: before(72 * HOUR) }), SETTINGS).outcome).toBe('allow');
    expect(payoutDetailsChanged(withdrawal(), SETTINGS).outcome).toBe('allow');
    expect(payoutDetailsChanged(withdrawal({ payoutDetailsChangedAt: before(HOUR) }), OFF).outcome).toBe('allow');
  });

  test('a shared payout destination is flagged past the limit', () => {
    expect(linkedPayoutDestination(withdrawal({ payoutDestinationUsers: 2 }), SETTINGS).outcome).toBe('allow');
    expect(linkedPayoutDestination(withdrawal({ payoutDestinationUsers: 3 }), SETTINGS)).toMatchObject({ outcome: 'flag', rule: 'linked_accounts' });
    expect(linkedPayoutDestination(withdrawal({ payoutDestinationUsers: 3 }), OFF).outcome).toBe('allow');
  });

  test('combined: a deny outranks holds, and every rule that fired is kept; nothing fired is an allow', () => {
    const facts = withdrawal({
      amount: 1_000,
      available: 1_000,
      recentCardDeposits: [{ amount: 1_000, at: before(HOUR) }],
      lastDepositAt: before(HOUR),
      payoutDetailsChangedAt: before(HOUR),
    });
    const verdict = evaluate(WITHDRAWAL_RULES, facts, SETTINGS);
    expect(verdict.outcome).toBe('deny');
    expect(verdict.decisive?.rule).toBe('card_hold');
    expect(verdict.fired.map((result) => result.rule)).toEqual(['card_hold', 'deposit_then_withdraw', 'payout_details_changed']);
    const held = evaluate(WITHDRAWAL_RULES, { ...facts, recentCardDeposits: [] }, SETTINGS);
    expect(held.outcome).toBe('hold');
    expect(held.decisive?.rule).toBe('deposit_then_withdraw');
    expect(evaluate(WITHDRAWAL_RULES, withdrawal(), SETTINGS)).toEqual({ outcome: 'allow', decisive: null, fired: [] });
    expect(evaluate(WITHDRAWAL_RULES, facts, OFF).outcome).toBe('allow');
  });
});

describe('new-account caps', () => {
  test('reward: above the cap is denied with the cap and when it lifts; at the cap is allowed', () => {
    const denied = newAccountReward(publishing({ reward: 20_001 }), SETTINGS);
    expect(denied).toMatchObject({ outcome: 'deny', code: 'NEW_ACCOUNT_LIMIT' });
    expect(denied.userDetail).toEqual({ cap: 20_000, liftsAt: new Date(before(HOUR).getTime() + 14 * DAY).toISOString() });
    expect(denied.userMessage).toContain('200.00 USD');
    expect(newAccountReward(publishing({ reward: 20_000 }), SETTINGS).outcome).toBe('allow');
  });

  test('the caps lift with age (exactly newAccountDays old) or a completed bounty', () => {
    const big = publishing({ reward: 50_000, liveBounties: 5 });
    expect(newAccountReward({ ...big, accountCreatedAt: before(14 * DAY - 1) }, SETTINGS).outcome).toBe('deny');
    expect(newAccountReward({ ...big, accountCreatedAt: before(14 * DAY) }, SETTINGS).outcome).toBe('allow');
    expect(newAccountReward({ ...big, hasCompletedWork: true }, SETTINGS).outcome).toBe('allow');
    expect(newAccountOpenBounties({ ...big, hasCompletedWork: true }, SETTINGS).outcome).toBe('allow');
    expect(evaluate(BOUNTY_PUBLISH_RULES, big, OFF).outcome).toBe('allow');
  });

  test('open bounties: publishing one more than the cap is denied', () => {
    expect(newAccountOpenBounties(publishing({ liveBounties: 1 }), SETTINGS).outcome).toBe('allow');
    expect(newAccountOpenBounties(publishing({ liveBounties: 2 }), SETTINGS)).toMatchObject({ outcome: 'deny', code: 'NEW_ACCOUNT_LIMIT', userDetail: { cap: 2 } });
    expect(newAccountOpenBounties(publishing({ liveBounties: 2 }), OFF).outcome).toBe('allow');
  });

  test('requests per day: denied once the day has as many as the cap', () => {
    const facts = { now: NOW, accountCreatedAt: before(DAY), hasCompletedWork: false, requestsLast24h: 4 };
    expect(newAccountRequests(facts, SETTINGS).outcome).toBe('allow');
    expect(newAccountRequests({ ...facts, requestsLast24h: 5 }, SETTINGS)).toMatchObject({ outcome: 'deny', userDetail: { cap: 5 } });
    expect(newAccountRequests({ ...facts, requestsLast24h: 5, hasCompletedWork: true }, SETTINGS).outcome).toBe('allow');
    expect(newAccountRequests({ ...facts, requestsLast24h: 5 }, OFF).outcome).toBe('allow');
  });
});

describe('off-platform contact in chat', () => {
  const flagged: Array<[string, string]> = [
    ['email me at jane.doe@example.com', 'email'],
    ['write to jane at gmail dot com', 'email'],
    ['call me on +1 415 555 0134', 'phone'],
    ['my number is 4155550134', 'phone'],
    ['I take venmo or Cash App', 'payment_app'],
    ['send it to $janedoe', 'payment_handle'],
    ['paypal.me/janedoe works', 'payment_app'],
    ['zelle is fine', 'payment_app'],
    ['usdt to 0x52908400098527886E0F7030069857D2E4169EE7', 'crypto'],
    ['ping me on WhatsApp', 'chat_app'],
    ['can you pay me directly instead?', 'pay_outside'],
    ["let's do this off-platform", 'pay_outside'],
  ];
  for (const [text, kind] of flagged) {
    test(`"${text}" is ${kind}`, () => {
      expect(offPlatformKinds(text)).toContain(kind);
      expect(offPlatformContact({ text, links: [] }, SETTINGS)).toMatchObject({ outcome: 'warn', rule: 'off_platform_contact' });
    });
  }

  test('ordinary work talk is not flagged (prices, dates, PR links, versions)', () => {
    for (const text of [
      'Done: responsive at 320 px, totals sticky. See https://github.com/example/shop/pull/42',
      'I can deliver by 2026-04-15 for the $50 reward.',
      'Upgraded to version 3.10.2 and ran 1200 tests.',
      'Thanks! The payment through escrow works for me.',
    ]) {
      expect(offPlatformKinds(text)).toEqual([]);
      expect(offPlatformContact({ text, links: [] }, SETTINGS).outcome).toBe('allow');
    }
  });

  test('links are read too', () => {
    expect(offPlatformContact({ text: 'my profile', links: ['https://paypal.me/janedoe'] }, SETTINGS).outcome).toBe('warn');
  });

  test('still counts with the rules switched off', () => {
    expect(RISK_RULES.off_platform_contact.whenDisabled).toBe('still applies');
    expect(offPlatformContact({ text: 'venmo me', links: [] }, OFF).outcome).toBe('warn');
  });
});

describe('linked accounts', () => {
  test('flagged past the limit of accounts on one device', () => {
    expect(linkedAccounts({ kind: 'device', linkedUsers: 2 }, SETTINGS).outcome).toBe('allow');
    expect(linkedAccounts({ kind: 'device', linkedUsers: 3 }, SETTINGS)).toMatchObject({ outcome: 'flag', detail: { linkedUsers: 3, max: 2 } });
    expect(linkedAccounts({ kind: 'device', linkedUsers: 3 }, OFF).outcome).toBe('allow');
  });
});

describe('the rule table and the score', () => {
  test('every rule is documented with its outcome and settings', () => {
    expect(RULE_NAMES).toHaveLength(12);
    for (const name of RULE_NAMES) {
      const rule = RISK_RULES[name];
      expect(rule.judges.length).toBeGreaterThan(20);
      for (const setting of rule.settings) expect(setting).toMatch(/^RISK_[A-Z_]+$/);
    }
  });

  test('events add their weight, halved every 7 days; account facts add or take off points; the level follows', () => {
    const account = { createdAt: before(100 * DAY), hasCompletedWork: false, otherLinkedAccounts: 0 };
    expect(scoreOf([], account, NOW, SETTINGS)).toEqual({ score: 0, level: 'low', factors: {} });
    const fresh = scoreOf([{ rule: 'linked_accounts', createdAt: NOW }], { ...account, otherLinkedAccounts: 1 }, NOW, SETTINGS);
    expect(fresh).toEqual({ score: 40, level: 'medium', factors: { linked_accounts: 30, shared_device_or_destination: 10 } });
    const weekOld = scoreOf([{ rule: 'linked_accounts', createdAt: before(7 * DAY) }], account, NOW, SETTINGS);
    expect(weekOld.factors.linked_accounts).toBe(15);
    expect(scoreOf([{ rule: 'linked_accounts', createdAt: before(31 * DAY) }], account, NOW, SETTINGS).score).toBe(0);
    const many = Array.from({ length: 10 }, () => ({ rule: 'deposit_then_withdraw', createdAt: NOW }));
    const capped = scoreOf([...many, { rule: 'failed_payments', createdAt: NOW }, { rule: 'linked_accounts', createdAt: NOW }], account, NOW, SETTINGS);
    expect(capped.factors.deposit_then_withdraw).toBe(40);
    expect(capped).toMatchObject({ score: 95, level: 'high' });
    const newcomer = scoreOf([], { ...account, createdAt: before(DAY) }, NOW, SETTINGS);
    expect(newcomer.factors).toEqual({ new_account: 10 });
    expect(scoreOf([{ rule: 'card_hold', createdAt: NOW }], { ...account, hasCompletedWork: true }, NOW, SETTINGS).score).toBe(0);
    expect([levelOf(29), levelOf(30), levelOf(59), levelOf(60)]).toEqual(['low', 'medium', 'medium', 'high']);
  });
});
