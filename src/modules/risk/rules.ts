/**
 * The risk rules: each a small pure function over facts loaded once (facts.ts) and the settings
 * (RiskSettings, from the RISK_* environment), answering allow, warn, flag, hold or deny with the
 * reason staff read and the message the user may be told. No database and no clock here: `now`
 * is one of the facts, so every rule is tested by its inputs alone (tests/risk-rules.test.ts).
 *
 * RISK_RULES documents every rule (what it judges, its outcome, its settings); the README's
 * trust-and-safety section lists it. With ENABLE_RISK_MANAGEMENT=false every rule allows, except
 * the off-platform warning in chat: it only warns, and its count is how staff find a pattern.
 */
import type { RiskSettings } from '../../config/env';
import type { AccountLinkKind, RiskOutcome } from '../../db';

export type RuleDoc = Readonly<{
  /** What the rule looks at, and when. */
  judges: string;
  /** What it answers when it fires (otherwise: allow). */
  outcome: RiskOutcome;
  /** The environment variables that tune it. */
  settings: readonly string[];
  /** With ENABLE_RISK_MANAGEMENT=false. */
  whenDisabled: 'allows' | 'still applies';
  /** What the user is told: the rule's own words when they are safe to say, else the generic refusal. */
  tellsUser: 'specific' | 'generic';
}>;

export const RISK_RULES = {
  deposit_velocity: {
    judges: 'A new deposit: deposits started in the last 24 h (count and amount, failed ones excluded), this one included',
    outcome: 'deny',
    settings: ['RISK_MAX_DEPOSITS_PER_DAY', 'RISK_MAX_DEPOSIT_CENTS_PER_DAY'],
    whenDisabled: 'allows',
    tellsUser: 'specific',
  },
  failed_payments: {
    judges: 'A new deposit: card payments that failed in the last 24 h (card testing)',
    outcome: 'deny',
    settings: ['RISK_MAX_FAILED_PAYMENTS_PER_DAY'],
    whenDisabled: 'allows',
    tellsUser: 'generic',
  },
  card_hold: {
    judges: 'A withdrawal: money from card deposits younger than the chargeback window stays in the wallet (the newest money is taken to be the last spent)',
    outcome: 'deny',
    settings: ['RISK_CARD_HOLD_DAYS'],
    whenDisabled: 'allows',
    tellsUser: 'specific',
  },
  card_funded_earnings: {
    judges: 'A withdrawal: earnings in the chargeback window from bounties funded by a card deposit younger than it, when the withdrawal would take any of them (a stolen card paying an accomplice hunter)',
    outcome: 'hold',
    settings: ['RISK_CARD_HOLD_DAYS'],
    whenDisabled: 'allows',
    tellsUser: 'generic',
  },
  withdrawal_velocity: {
    judges: 'A withdrawal: withdrawals asked for in the last 24 h, this one included',
    outcome: 'hold',
    settings: ['RISK_MAX_WITHDRAWALS_PER_DAY'],
    whenDisabled: 'allows',
    tellsUser: 'generic',
  },
  deposit_then_withdraw: {
    judges: 'A withdrawal: a deposit in the last days and no bounty funded or work completed since it',
    outcome: 'hold',
    settings: ['RISK_DEPOSIT_WITHDRAW_DAYS'],
    whenDisabled: 'allows',
    tellsUser: 'generic',
  },
  payout_details_changed: {
    judges: 'A withdrawal: the payout destination (bank account) changed, or payouts were first enabled, within the last hours',
    outcome: 'hold',
    settings: ['RISK_PAYOUT_CHANGE_HOURS'],
    whenDisabled: 'allows',
    tellsUser: 'generic',
  },
  new_account_reward: {
    judges: 'Creating or publishing a bounty: a new account (younger than the limit and no completed bounty as poster or hunter) offering more than the cap',
    outcome: 'deny',
    settings: ['RISK_NEW_ACCOUNT_DAYS', 'RISK_NEW_ACCOUNT_MAX_REWARD_CENTS'],
    whenDisabled: 'allows',
    tellsUser: 'specific',
  },
  new_account_open_bounties: {
    judges: 'Publishing a bounty: a new account with as many published, unfinished bounties as the cap',
    outcome: 'deny',
    settings: ['RISK_NEW_ACCOUNT_DAYS', 'RISK_NEW_ACCOUNT_MAX_OPEN_BOUNTIES'],
    whenDisabled: 'allows',
    tellsUser: 'specific',
  },
  new_account_requests: {
    judges: 'Applying to a bounty: a new account that applied as often as the cap in the last 24 h',
    outcome: 'deny',
    settings: ['RISK_NEW_ACCOUNT_DAYS', 'RISK_NEW_ACCOUNT_MAX_REQUESTS_PER_DAY'],
    whenDisabled: 'allows',
    tellsUser: 'specific',
  },
  off_platform_contact: {
    judges: 'A chat message: an email address, a phone number, a payment app or handle (Venmo, Cash App / $cashtag, PayPal.me, Zelle, Wise, ...), a crypto address, a chat app, or "pay me outside / directly"',
    outcome: 'warn',
    settings: [],
    whenDisabled: 'still applies',
    tellsUser: 'specific',
  },
  linked_accounts: {
    judges: 'A push device registered, or a withdrawal: more accounts than the limit on one device or one payout destination',
    outcome: 'flag',
    settings: ['RISK_LINKED_ACCOUNTS_MAX'],
    whenDisabled: 'allows',
    tellsUser: 'generic',
  },
} as const satisfies Record<string, RuleDoc>;

export type RuleName = keyof typeof RISK_RULES;
export const RULE_NAMES = Object.keys(RISK_RULES) as RuleName[];

/** The refusal codes a deny carries (src/modules/risk/errors.ts). */
export type DenyCode = 'RISK_DENIED' | 'CARD_FUNDS_ON_HOLD' | 'NEW_ACCOUNT_LIMIT';

export type RiskDetail = Record<string, string | number | boolean | null>;

export type RuleResult = Readonly<{
  outcome: RiskOutcome;
  rule: RuleName;
  /** For staff: what the rule saw. */
  reason: string;
  /** For the user: specific only when it is safe to say (RISK_RULES[rule].tellsUser). */
  userMessage: string;
  detail: RiskDetail;
  /** On a deny: the code of the 4xx. */
  code?: DenyCode;
  /** On a deny: the facts the user may see beside the message (the 4xx's `details`). */
  userDetail?: RiskDetail;
}>;

export const GENERIC_REFUSAL = 'This is not available on your account right now. Contact support if you think this is a mistake.';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** A rule with its name attached (so a caller knows, before loading facts, whether it can fire). */
export type Rule<F> = ((facts: F, settings: RiskSettings) => RuleResult) & { readonly ruleName: RuleName };

const allowed = (rule: RuleName): RuleResult => ({ outcome: 'allow', rule, reason: '', userMessage: '', detail: {} });

/** Whether the rule may fire under these settings (every rule but the chat warning is off when disabled). */
export const isActive = (rule: RuleName, settings: RiskSettings): boolean => settings.enabled || RISK_RULES[rule].whenDisabled === 'still applies';

function defineRule<F>(name: RuleName, judge: (facts: F, settings: RiskSettings) => RuleResult | null): Rule<F> {
  const rule = (facts: F, settings: RiskSettings): RuleResult => (isActive(name, settings) ? (judge(facts, settings) ?? allowed(name)) : allowed(name));
  return Object.assign(rule, { ruleName: name });
}

function fired(rule: RuleName, fields: Omit<RuleResult, 'rule' | 'outcome'>): RuleResult {
  return { rule, outcome: RISK_RULES[rule].outcome, ...fields };
}

/** Minor units as a person reads them: 12345 usd -> "123.45 USD". */
export const formatMoney = (amount: number, currency: string): string => `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;

// --- Facts --------------------------------------------------------------------------------------

export type DepositFacts = Readonly<{
  now: Date;
  amount: number;
  currency: string;
  /** Deposits started in the last 24 h that did not fail (this one not included). */
  depositsLast24h: number;
  depositedLast24h: number;
  /** Deposits whose card payment failed in the last 24 h. */
  failedLast24h: number;
}>;

export type CardDeposit = Readonly<{ amount: number; at: Date }>;

export type WithdrawalFacts = Readonly<{
  now: Date;
  amount: number;
  currency: string;
  /** The available balance before this withdrawal (read under the account's lock). */
  available: number;
  /** Card deposits credited to this wallet within the hold window (less what was refunded). */
  recentCardDeposits: readonly CardDeposit[];
  /** Paid to this user (as hunter) from bounties funded by a card deposit younger than the hold window. */
  cardFundedEarnings: number;
  /** Withdrawals asked for in the last 24 h (this one not included). */
  withdrawalsLast24h: number;
  /** The newest succeeded deposit, if within RISK_DEPOSIT_WITHDRAW_DAYS. */
  lastDepositAt: Date | null;
  /** The newest bounty funded or work completed (as poster or hunter). */
  lastActivityAt: Date | null;
  payoutDetailsChangedAt: Date | null;
  /** The most accounts (this one included) on one of this account's payout destinations. */
  payoutDestinationUsers: number;
}>;

export type AccountFacts = Readonly<{
  now: Date;
  accountCreatedAt: Date;
  /** A completed bounty as poster or hunter: the new-account caps no longer apply. */
  hasCompletedWork: boolean;
}>;

export type RewardFacts = AccountFacts & Readonly<{ reward: number; currency: string }>;
export type PublishFacts = RewardFacts & Readonly<{ liveBounties: number }>;
export type RequestFacts = AccountFacts & Readonly<{ requestsLast24h: number }>;
export type MessageFacts = Readonly<{ text: string; links: readonly string[] }>;
export type LinkFacts = Readonly<{ kind: AccountLinkKind; linkedUsers: number }>;

// --- Deposits -----------------------------------------------------------------------------------

export const depositVelocity = defineRule<DepositFacts>('deposit_velocity', (facts, settings) => {
  const count = facts.depositsLast24h + 1;
  const total = facts.depositedLast24h + facts.amount;
  if (count <= settings.maxDepositsPerDay && total <= settings.maxDepositCentsPerDay) return null;
  const byCount = count > settings.maxDepositsPerDay;
  return fired('deposit_velocity', {
    reason: byCount
      ? `${count} deposits in 24 h, above the limit of ${settings.maxDepositsPerDay}`
      : `${formatMoney(total, facts.currency)} deposited in 24 h with this one, above the limit of ${formatMoney(settings.maxDepositCentsPerDay, facts.currency)}`,
    userMessage: 'You have reached the deposit limit for now: try again in 24 hours.',
    detail: { deposits: count, depositedCents: total, maxDeposits: settings.maxDepositsPerDay, maxDepositCents: settings.maxDepositCentsPerDay },
    code: 'RISK_DENIED',
  });
});

export const failedPayments = defineRule<DepositFacts>('failed_payments', (facts, settings) => {
  if (facts.failedLast24h < settings.maxFailedPaymentsPerDay) return null;
  return fired('failed_payments', {
    reason: `${facts.failedLast24h} failed card payments in 24 h (limit ${settings.maxFailedPaymentsPerDay})`,
    userMessage: GENERIC_REFUSAL,
    detail: { failedPayments: facts.failedLast24h, maxFailedPayments: settings.maxFailedPaymentsPerDay },
    code: 'RISK_DENIED',
  });
});

// --- Withdrawals --------------------------------------------------------------------------------

/**
 * Card money inside the chargeback window cannot leave. What can: the balance less that money
 * (spending is taken from the oldest money first). When the amount asked for becomes
 * withdrawable: as the young deposits age out, oldest first.
 */
export const cardHold = defineRule<WithdrawalFacts>('card_hold', (facts, settings) => {
  // More than the balance is the ledger's refusal (INSUFFICIENT_FUNDS), not this rule's.
  if (facts.amount > facts.available) return null;
  const holdMs = settings.cardHoldDays * DAY_MS;
  const young = facts.recentCardDeposits
    .filter((deposit) => facts.now.getTime() - deposit.at.getTime() < holdMs)
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  const youngTotal = young.reduce((sum, deposit) => sum + deposit.amount, 0);
  const withdrawableNow = Math.max(0, facts.available - youngTotal);
  if (facts.amount <= withdrawableNow) return null;
  let freed = withdrawableNow;
  let freesAt: Date | null = null;
  for (const deposit of young) {
    freed += deposit.amount;
    if (freed >= facts.amount) {
      freesAt = new Date(deposit.at.getTime() + holdMs);
      break;
    }
  }
  const when = freesAt ? `from ${freesAt.toISOString()}` : `once your card payments are ${settings.cardHoldDays} days old`;
  return fired('card_hold', {
    reason: `${formatMoney(youngTotal, facts.currency)} of the balance is from card deposits younger than ${settings.cardHoldDays} days`,
    userMessage:
      `You can withdraw up to ${formatMoney(withdrawableNow, facts.currency)} now. Money from card payments can be withdrawn ` +
      `${settings.cardHoldDays} days after the payment: this amount can be withdrawn ${when}.`,
    detail: { withdrawableNow, youngCardCents: youngTotal, freesAt: freesAt?.toISOString() ?? null, holdDays: settings.cardHoldDays },
    code: 'CARD_FUNDS_ON_HOLD',
    userDetail: { withdrawableNow, freesAt: freesAt?.toISOString() ?? null },
  });
});

/**
 * The other side of card money: a bounty funded by a young card deposit paid this user, and the
 * withdrawal would take some of that pay (spending is taken from other money first). Held for
 * review, not refused: most such hunters are honest.
 */
export const cardFundedEarnings = defineRule<WithdrawalFacts>('card_funded_earnings', (facts, settings) => {
  if (facts.amount > facts.available || facts.cardFundedEarnings <= 0) return null;
  const otherMoney = Math.max(0, facts.available - facts.cardFundedEarnings);
  if (facts.amount <= otherMoney) return null;
  return fired('card_funded_earnings', {
    reason:
      `${formatMoney(facts.cardFundedEarnings, facts.currency)} earned from bounties funded by card payments younger than ` +
      `${settings.cardHoldDays} days; the withdrawal takes ${formatMoney(facts.amount - otherMoney, facts.currency)} of it`,
    userMessage: GENERIC_REFUSAL,
    detail: { cardFundedEarningsCents: facts.cardFundedEarnings, otherMoneyCents: otherMoney, holdDays: settings.cardHoldDays },
  });
});

export const withdrawalVelocity = defineRule<WithdrawalFacts>('withdrawal_velocity', (facts, settings) => {
  const count = facts.withdrawalsLast24h + 1;
  if (count <= settings.maxWithdrawalsPerDay) return null;
  return fired('withdrawal_velocity', {
    reason: `${count} withdrawals in 24 h, above the limit of ${settings.maxWithdrawalsPerDay}`,
    userMessage: GENERIC_REFUSAL,
    detail: { withdrawals: count, maxWithdrawals: settings.maxWithdrawalsPerDay },
  });
});

export const depositThenWithdraw = defineRule<WithdrawalFacts>('deposit_then_withdraw', (facts, settings) => {
  const deposit = facts.lastDepositAt;
  if (!deposit || facts.now.getTime() - deposit.getTime() >= settings.depositWithdrawDays * DAY_MS) return null;
  if (facts.lastActivityAt && facts.lastActivityAt.getTime() >= deposit.getTime()) return null;
  return fired('deposit_then_withdraw', {
    reason: `Deposited at ${deposit.toISOString()}, no bounty funded or work completed since`,
    userMessage: GENERIC_REFUSAL,
    detail: { lastDepositAt: deposit.toISOString(), lastActivityAt: facts.lastActivityAt?.toISOString() ?? null, days: settings.depositWithdrawDays },
  });
});

export const payoutDetailsChanged = defineRule<WithdrawalFacts>('payout_details_changed', (facts, settings) => {
  const changed = facts.payoutDetailsChangedAt;
  if (!changed || facts.now.getTime() - changed.getTime() >= settings.payoutChangeHours * HOUR_MS) return null;
  return fired('payout_details_changed', {
    reason: `Payout destination changed at ${changed.toISOString()}, less than ${settings.payoutChangeHours} h before this withdrawal`,
    userMessage: GENERIC_REFUSAL,
    detail: { payoutDetailsChangedAt: changed.toISOString(), hours: settings.payoutChangeHours },
  });
});

// --- New accounts -------------------------------------------------------------------------------

/** When the caps stop applying by age alone; null when they do not apply at all. */
function newAccountUntil(facts: AccountFacts, settings: RiskSettings): Date | null {
  if (facts.hasCompletedWork) return null;
  const until = new Date(facts.accountCreatedAt.getTime() + settings.newAccountDays * DAY_MS);
  return facts.now.getTime() < until.getTime() ? until : null;
}

const liftedBy = (until: Date): string => `until your first completed bounty (as poster or hunter) or until ${until.toISOString()}`;

export const newAccountReward = defineRule<RewardFacts>('new_account_reward', (facts, settings) => {
  const until = newAccountUntil(facts, settings);
  if (!until || facts.reward <= settings.newAccountMaxRewardCents) return null;
  return fired('new_account_reward', {
    reason: `New account offering ${formatMoney(facts.reward, facts.currency)}, above the cap of ${formatMoney(settings.newAccountMaxRewardCents, facts.currency)}`,
    userMessage: `New accounts can offer rewards of up to ${formatMoney(settings.newAccountMaxRewardCents, facts.currency)}, ${liftedBy(until)}.`,
    detail: { reward: facts.reward, cap: settings.newAccountMaxRewardCents, liftsAt: until.toISOString() },
    code: 'NEW_ACCOUNT_LIMIT',
    userDetail: { cap: settings.newAccountMaxRewardCents, liftsAt: until.toISOString() },
  });
});

export const newAccountOpenBounties = defineRule<PublishFacts>('new_account_open_bounties', (facts, settings) => {
  const until = newAccountUntil(facts, settings);
  if (!until || facts.liveBounties < settings.newAccountMaxOpenBounties) return null;
  return fired('new_account_open_bounties', {
    reason: `New account with ${facts.liveBounties} published, unfinished bounties (cap ${settings.newAccountMaxOpenBounties})`,
    userMessage: `New accounts can have up to ${settings.newAccountMaxOpenBounties} published bounties at a time, ${liftedBy(until)}.`,
    detail: { liveBounties: facts.liveBounties, cap: settings.newAccountMaxOpenBounties, liftsAt: until.toISOString() },
    code: 'NEW_ACCOUNT_LIMIT',
    userDetail: { cap: settings.newAccountMaxOpenBounties, liftsAt: until.toISOString() },
  });
});

export const newAccountRequests = defineRule<RequestFacts>('new_account_requests', (facts, settings) => {
  const until = newAccountUntil(facts, settings);
  if (!until || facts.requestsLast24h < settings.newAccountMaxRequestsPerDay) return null;
  return fired('new_account_requests', {
    reason: `New account with ${facts.requestsLast24h} requests in 24 h (cap ${settings.newAccountMaxRequestsPerDay})`,
    userMessage: `New accounts can apply to up to ${settings.newAccountMaxRequestsPerDay} bounties a day, ${liftedBy(until)}.`,
    detail: { requests: facts.requestsLast24h, cap: settings.newAccountMaxRequestsPerDay, liftsAt: until.toISOString() },
    code: 'NEW_ACCOUNT_LIMIT',
    userDetail: { cap: settings.newAccountMaxRequestsPerDay, liftsAt: until.toISOString() },
  });
});

// --- Chat ---------------------------------------------------------------------------------------

/**
 * What off-platform contact looks like, by kind. Deliberately broad (a false positive costs a
 * warning, never the message); what matched is not stored, only its kind (the message is the
 * evidence, and staff read it there).
 */
const OFF_PLATFORM_PATTERNS: ReadonlyArray<readonly [kind: string, pattern: RegExp]> = [
  ['email', /[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}/i],
  ['email', /\b[a-z0-9._%+-]+\s*(?:\(at\)|\[at\]|\{at\}|\sat\s)\s*[a-z0-9-]+\s*(?:\(dot\)|\[dot\]|\{dot\}|\sdot\s|\.)\s*(?:com|net|org|io|me|co|dev)\b/i],
  ['phone', /(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}[\s.-]\d{3,4}[\s.-]\d{3,4}\b/],
  ['phone', /(?<![\d/#=])\+?\d{10,14}\b/],
  ['payment_app', /\b(?:venmo|cash\s?app|zelle|paypal|pay\s?pal\.me|wise\.com|transferwise|revolut|western\s+union|moneygram|payoneer|skrill)\b/i],
  ['payment_handle', /(?:^|[\s(])\$[a-z][a-z0-9_]{1,19}\b/i],
  ['crypto', /\b(?:bc1[a-z0-9]{25,60}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|0x[a-fA-F0-9]{40})\b/],
  ['crypto', /\b(?:bitcoin|btc|usdt|ethereum|crypto\s+wallet)\b/i],
  ['chat_app', /\b(?:whats\s?app|telegram|wa\.me|t\.me\/|signal\s+me)\b/i],
  [
    'pay_outside',
    /\b(?:pay|paid|payment|send\s+(?:me\s+)?(?:the\s+)?money)\b[^.!?\n]{0,40}\b(?:outside|off[-\s]?(?:the\s+)?(?:platform|site|app)|directly|direct(?:ly)?\s+to\s+me)\b/i,
  ],
  ['pay_outside', /\boff[-\s](?:the\s+)?(?:platform|site|app)\b/i],
];

/** The kinds of off-platform contact a text shows (pure; empty when none). */
export function offPlatformKinds(text: string): string[] {
  const kinds = new Set<string>();
  for (const [kind, pattern] of OFF_PLATFORM_PATTERNS) if (pattern.test(text)) kinds.add(kind);
  return [...kinds];
}

export const OFF_PLATFORM_MESSAGE =
  'Keep contact and payments on BOUNTYExpo: payments made outside are not protected by escrow, and repeated requests are reviewed.';

export const offPlatformContact = defineRule<MessageFacts>('off_platform_contact', (facts) => {
  const kinds = offPlatformKinds([facts.text, ...facts.links].join('\n'));
  if (kinds.length === 0) return null;
  return fired('off_platform_contact', {
    reason: `Message with off-platform contact or payment: ${kinds.join(', ')}`,
    userMessage: OFF_PLATFORM_MESSAGE,
    detail: { kinds: kinds.join(',') },
  });
});

// --- Links between accounts ---------------------------------------------------------------------

export const linkedAccounts = defineRule<LinkFacts>('linked_accounts', (facts, settings) => {
  if (facts.linkedUsers <= settings.linkedAccountsMax) return null;
  return fired('linked_accounts', {
    reason: `${facts.linkedUsers} accounts on one ${facts.kind === 'device' ? 'device' : 'payout destination'} (limit ${settings.linkedAccountsMax})`,
    userMessage: GENERIC_REFUSAL,
    detail: { kind: facts.kind, linkedUsers: facts.linkedUsers, max: settings.linkedAccountsMax },
  });
});

/** On a withdrawal: the same rule, over the account's payout destinations. */
export const linkedPayoutDestination: Rule<WithdrawalFacts> = Object.assign(
  (facts: WithdrawalFacts, settings: RiskSettings) => linkedAccounts({ kind: 'payout_destination', linkedUsers: facts.payoutDestinationUsers }, settings),
  { ruleName: 'linked_accounts' as const },
);

// --- What each action is judged by ---------------------------------------------------------------

export const DEPOSIT_RULES: readonly Rule<DepositFacts>[] = [failedPayments, depositVelocity];
export const WITHDRAWAL_RULES: readonly Rule<WithdrawalFacts>[] = [cardHold, cardFundedEarnings, withdrawalVelocity, depositThenWithdraw, payoutDetailsChanged, linkedPayoutDestination];
export const BOUNTY_CREATE_RULES: readonly Rule<RewardFacts>[] = [newAccountReward];
export const BOUNTY_PUBLISH_RULES: readonly Rule<PublishFacts>[] = [newAccountReward, newAccountOpenBounties];
export const REQUEST_RULES: readonly Rule<RequestFacts>[] = [newAccountRequests];
export const MESSAGE_RULES: readonly Rule<MessageFacts>[] = [offPlatformContact];
export const DEVICE_RULES: readonly Rule<LinkFacts>[] = [linkedAccounts];

const SEVERITY: Record<RiskOutcome, number> = { allow: 0, warn: 1, flag: 2, hold: 3, deny: 4 };

export type Verdict = Readonly<{
  outcome: RiskOutcome;
  /** The rule that decided the outcome (the first fired with the strongest outcome); null on allow. */
  decisive: RuleResult | null;
  /** Every rule that fired (anything but allow), in the order judged. */
  fired: readonly RuleResult[];
}>;

/** Whether any of these rules may fire under the settings (else the facts need not be loaded). */
export const anyActive = <F>(rules: readonly Rule<F>[], settings: RiskSettings): boolean => rules.some((rule) => isActive(rule.ruleName, settings));

/** Runs the rules and keeps the strongest outcome. */
export function evaluate<F>(rules: readonly Rule<F>[], facts: F, settings: RiskSettings): Verdict {
  const results = rules.map((rule) => rule(facts, settings)).filter((result) => result.outcome !== 'allow');
  let decisive: RuleResult | null = null;
  for (const result of results) if (!decisive || SEVERITY[result.outcome] > SEVERITY[decisive.outcome]) decisive = result;
  return { outcome: decisive?.outcome ?? 'allow', decisive, fired: results };
}

/** The rules as README's operator section carries them (tests/operator-docs.test.ts keeps the two equal). */
export function riskRulesMarkdown(): string {
  const rows = RULE_NAMES.map((name) => {
    const rule: RuleDoc = RISK_RULES[name];
    const settings = rule.settings.length > 0 ? rule.settings.map((setting) => `\`${setting}\``).join(', ') : '-';
    return `| \`${name}\` | ${rule.judges} | ${rule.outcome} | ${settings} | ${rule.whenDisabled} | ${rule.tellsUser} |`;
  });
  return ['| rule | judges | outcome | settings | risk off | the user is told |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}
