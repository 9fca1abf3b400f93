/**
 * The notification catalog: every outbox topic the code writes, mapped to a category and the words
 * a person reads (from the event's payload), or to "no notification" (a topic that feeds something
 * else). Dispatch reads this table only; tests/notifications-catalog.test.ts checks that every
 * topic written anywhere in src is here. Beside it, the defaults per category x channel and the
 * categories nobody may switch off.
 */
import type { DeliveryChannel, NotificationCategory, PreferenceSetting } from '../../db';
import type { TransitionName } from '../bounties/lifecycle';

export type Rendered = { title: string; body: string };
type Payload = Readonly<Record<string, unknown>>;

export type CatalogEntry =
  | { category: NotificationCategory; render: (payload: Payload) => Rendered }
  /** Written for something else (e.g. unread reminders); nobody is notified of it as such. */
  | { category: null; why: string };

const text = (value: unknown, fallback: string): string => (typeof value === 'string' && value.trim() !== '' ? value : fallback);
const titled = (payload: Payload): string => `"${text(payload.title, 'your bounty')}"`;
const amount = (value: unknown, currency: unknown): string => {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'an amount';
  const code = typeof currency === 'string' && /^[a-z]{3}$/i.test(currency) ? currency.toUpperCase() : 'USD';
  return `${(value / 100).toFixed(2)} ${code}`;
};

/** An ISO time from a payload as people read it ("on 2030-01-01 10:00 UTC"), else "soon". */
const when = (value: unknown): string => {
  const at = typeof value === 'string' ? new Date(value) : null;
  return at && Number.isFinite(at.getTime()) ? `on ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'soon';
};

const bounty = (category: NotificationCategory, title: string, body: (payload: Payload) => string): CatalogEntry => ({
  category,
  render: (payload) => ({ title, body: body(payload) }),
});

const ANALYTICS_ONLY: CatalogEntry = { category: null, why: 'analytics: recorded by the analytics reader of the outbox' };

/** One entry per lifecycle transition (`bounty.<name>`): the engine notifies everyone on the bounty but the actor. */
const TRANSITIONS: Record<TransitionName, CatalogEntry> = {
  publish: bounty('bounties', 'Bounty published', (p) => `${titled(p)} is open for requests.`),
  cancel: bounty('money', 'Bounty cancelled', (p) => `${titled(p)} was cancelled; its escrow went back to the poster.`),
  expire: bounty('money', 'Bounty expired', (p) => `${titled(p)} passed its deadline with no hunter: cancelled and refunded.`),
  accept: bounty('bounties', 'Request accepted', (p) => `You were picked for ${titled(p)}: work can start.`),
  withdraw: bounty('bounties', 'Hunter withdrew', (p) => `The hunter stopped work on ${titled(p)}; it is open again.`),
  unassign: bounty('bounties', 'Removed from a bounty', (p) => `The poster removed the hunter from ${titled(p)}; it is open again.`),
  submit: bounty('bounties', 'Work submitted', (p) => `Work on ${titled(p)} was submitted for review.`),
  request_changes: bounty('bounties', 'Changes requested', (p) => `The poster asked for changes on ${titled(p)}.`),
  approve: bounty('money', 'Work approved', (p) => `${titled(p)} was approved: the reward is released to the hunter.`),
  auto_approve: bounty('money', 'Work approved automatically', (p) => `${titled(p)} was approved automatically: the reward is released to the hunter.`),
  dispute: bounty('bounties', 'Dispute opened', (p) => `A dispute was opened on ${titled(p)}; the escrow is frozen until it is resolved.`),
  respond_dispute: bounty('bounties', 'Dispute answered', (p) => `The dispute on ${titled(p)} was answered and waits for an admin.`),
  escalate_dispute: bounty('bounties', 'Dispute escalated', (p) => `The dispute on ${titled(p)} went unanswered and is now with an admin.`),
  resolve: bounty('money', 'Dispute resolved', (p) => `An admin ruled on ${titled(p)}; the escrow was settled.`),
  propose_cancel: bounty('bounties', 'Cancellation proposed', (p) => `A mutual cancellation of ${titled(p)} was proposed.`),
  accept_cancel: bounty('money', 'Cancelled together', (p) => `${titled(p)} was cancelled by agreement; the escrow was split as proposed.`),
  decline_cancel: bounty('bounties', 'Cancellation declined', (p) => `The proposal to cancel ${titled(p)} was declined.`),
  expire_cancel_proposal: bounty('bounties', 'Cancellation lapsed', (p) => `The proposal to cancel ${titled(p)} lapsed.`),
  admin_cancel: bounty('money', 'Bounty cancelled by an admin', (p) => `${titled(p)} was cancelled by an admin; the escrow went back to the poster.`),
};

export const NOTIFICATION_CATALOG: Readonly<Record<string, CatalogEntry>> = {
  ...Object.fromEntries(Object.entries(TRANSITIONS).map(([name, entry]) => [`bounty.${name}`, entry])),
  // Timer notices (src/modules/bounties/timers.ts): both sides hear each.
  'bounty.review_reminder': {
    category: 'bounties',
    render: (p) =>
      p.audience === 'hunter'
        ? { title: 'Review pending', body: `${titled(p)} will be approved automatically in ${text(String(p.daysLeft ?? ''), 'a few')} day(s) unless the poster answers.` }
        : { title: 'Review reminder', body: `Review the work on ${titled(p)}: it is approved automatically in ${text(String(p.daysLeft ?? ''), 'a few')} day(s).` },
  },
  'bounty.expiry_reminder': {
    category: 'bounties',
    render: (p) =>
      p.audience === 'applicant'
        ? { title: 'Bounty closing soon', body: `${titled(p)}, which you applied to, expires ${when(p.expiresAt)} unless the poster picks a hunter.` }
        : { title: 'Bounty expiring', body: `${titled(p)} expires ${when(p.expiresAt)} unless you accept a request; its escrow then goes back to you.` },
  },
  'bounty.dispute_reminder': {
    category: 'bounties',
    render: (p) =>
      p.mustAnswer === true
        ? { title: 'Answer the dispute', body: `The dispute on ${titled(p)} goes to an admin ${when(p.escalatesAt)} unless you answer it.` }
        : { title: 'Dispute awaiting an answer', body: `The dispute on ${titled(p)} goes to an admin ${when(p.escalatesAt)} unless the other side answers.` },
  },
  'bounty.hunter_nudge': bounty('bounties', 'Any progress?', (p) => `Nothing was submitted on ${titled(p)} yet: share your progress with the poster.`),
  'bounty.hunter_idle': bounty('bounties', 'No submission yet', (p) => `The hunter has not submitted anything on ${titled(p)} yet.`),
  'bounty.dispute_resolved': {
    category: 'money',
    render: (p) => ({ title: 'Dispute ruling', body: `The dispute was resolved (${text(p.outcome, 'settled')}); the hunter's share is ${amount(p.hunterAmount, p.currency)}.` }),
  },
  // Requests (src/modules/requests/service.ts).
  'request.created': bounty('requests', 'New request', (p) => `Someone applied to ${titled(p)}.`),
  'request.withdrawn': bounty('requests', 'Request withdrawn', () => 'A hunter withdrew their request on your bounty.'),
  'request.rejected': bounty('requests', 'Request declined', () => 'The poster declined your request.'),
  'request.filled': bounty('requests', 'Bounty filled', () => 'Another hunter was picked for a bounty you applied to.'),
  // Money moves (webhooks and payouts), written with the posting.
  'deposit.succeeded': bounty('money', 'Deposit received', (p) => `${amount(p.amount, p.currency)} was added to your wallet.`),
  'withdrawal.paid': bounty('money', 'Withdrawal sent', (p) => `${amount(p.amount, p.currency)} was sent to your payout account.`),
  'withdrawal.failed': bounty('money', 'Withdrawal failed', (p) => `Your withdrawal of ${amount(p.amount, p.currency)} failed: ${text(p.reason, 'it was refused')}`),
  'wallet.chargeback': bounty('money', 'Card payment disputed', (p) => `A chargeback took ${amount(p.amount, p.currency)} from your wallet.`),
  // Trust and safety (src/modules/admin, src/modules/moderation, src/modules/risk): the person acted on hears it.
  'account.role_changed': bounty('security', 'Your role changed', (p) => `An admin changed your role to ${text(p.role, 'another role')}.`),
  'account.unbanned': bounty('security', 'Account restored', () => 'Your account was restored: you can sign in again.'),
  'wallet.frozen': bounty('security', 'Wallet frozen', (p) => `Your wallet was frozen by support: ${text(p.reason, 'it is under review')}. Money cannot leave it until support lifts the freeze.`),
  'wallet.unfrozen': bounty('security', 'Wallet unfrozen', () => 'Support lifted the freeze on your wallet.'),
  'moderation.warning': bounty('security', 'A warning from our moderators', (p) => `Your ${text(p.targetType, 'content')} broke our rules (${text(p.reason, 'reported')}). ${text(p.note, 'Repeated breaches lead to a ban.')}`),
  'moderation.content_removed': bounty('security', 'Content removed', (p) => `Your ${text(p.targetType, 'content')} was removed by our moderators (${text(p.reason, 'reported')}).`),
  'risk.withdrawal_held': bounty('money', 'Withdrawal under review', (p) => `Your withdrawal of ${amount(p.amount, p.currency)} is being reviewed before it is sent; the amount stays held.`),
  'risk.withdrawal_released': bounty('money', 'Withdrawal approved', (p) => `Your withdrawal of ${amount(p.amount, p.currency)} passed review and is on its way.`),
  'risk.withdrawal_rejected': bounty('money', 'Withdrawal rejected', (p) => `Your withdrawal of ${amount(p.amount, p.currency)} was not approved; the amount is back in your balance. ${text(p.reason, '')}`.trim()),
  'risk.off_platform_warning': bounty('security', 'Keep payments on BOUNTYExpo', () => 'Your message looked like a request to pay or talk off the platform. Payments outside BOUNTYExpo are not protected by escrow, and repeated requests are reviewed.'),
  'ledger.adjusted': bounty('money', 'Balance corrected', (p) => `Support corrected your balance by ${amount(p.amount, p.currency)}: ${text(p.reason, 'a correction')}.`),
  // Reviews (src/modules/profiles/reviews.ts).
  'review.created': bounty('reviews', 'New review', (p) => `You were reviewed on ${titled(p)}; it shows once both sides reviewed or the window closes.`),
  // Conversations: a message itself is delivered over the socket; only the reminder notifies.
  'message.created': { category: null, why: 'delivered live over /ws/messages; unread ones lead to conversation.unread_reminder' },
  // Analytics alone (src/modules/analytics/events.ts): the analytics reader records them; nobody is told.
  'analytics.user_signed_up': ANALYTICS_ONLY,
  'analytics.bounty_created': ANALYTICS_ONLY,
  'analytics.bounty_published': ANALYTICS_ONLY,
  'analytics.bounty_accepted': ANALYTICS_ONLY,
  'analytics.bounty_completed': ANALYTICS_ONLY,
  'analytics.bounty_settled': ANALYTICS_ONLY,
  'analytics.bounty_disputed': ANALYTICS_ONLY,
  'analytics.message_sent': ANALYTICS_ONLY,
  'conversation.unread_reminder': {
    category: 'messages',
    render: (p) => {
      const count = typeof p.unreadCount === 'number' ? p.unreadCount : 1;
      return { title: 'Unread messages', body: `You have ${count} unread message${count === 1 ? '' : 's'} about ${titled(p)}.` };
    },
  },
};

/** What a person gets when they changed nothing (the table stores only their changes). */
export const DEFAULT_SETTINGS: Readonly<Record<NotificationCategory, Readonly<Record<DeliveryChannel, PreferenceSetting>>>> = {
  money: { push: 'on', email: 'on' },
  security: { push: 'on', email: 'on' },
  bounties: { push: 'on', email: 'digest' },
  requests: { push: 'on', email: 'digest' },
  reviews: { push: 'on', email: 'digest' },
  messages: { push: 'on', email: 'on' },
};

/** Money and security notices are always sent at once: `off` and `digest` are refused for them. */
export const LOCKED_CATEGORIES: ReadonlySet<NotificationCategory> = new Set(['money', 'security']);
