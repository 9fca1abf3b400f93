/**
 * Analytics events through the outbox: what a feature writes, in the transaction where the thing
 * happens, and how the analytics reader turns an outbox event back into one analytics row.
 *
 * Three topics other features already write once per occurrence are read as they are
 * (`request.created`, `deposit.succeeded`, `withdrawal.paid`); the rest have topics of their own
 * (`analytics.*`, listed in the notification catalog as "no notification"): a transition's
 * notice goes to everyone but the actor (none for a publish, two for an automatic approval) and a
 * message's to each other member, so neither counts occurrences. `analytics.user_signed_up` is
 * written by a trigger on users (drizzle/0018_analytics.sql). The payloads carry ids, amounts and
 * durations only: never an email, a name, a title or a message's text.
 */
import { z } from 'zod';
import type { AnalyticsEventName, NewAnalyticsEvent, OutboxEvent } from '../../db';
import type { OutboxMessage } from '../outbox';

/** The outbox topics written for analytics alone. */
export const ANALYTICS_TOPICS = {
  'user.signed_up': 'analytics.user_signed_up',
  'bounty.created': 'analytics.bounty_created',
  'bounty.published': 'analytics.bounty_published',
  'bounty.accepted': 'analytics.bounty_accepted',
  'bounty.completed': 'analytics.bounty_completed',
  'bounty.settled': 'analytics.bounty_settled',
  'bounty.disputed': 'analytics.bounty_disputed',
  'message.sent': 'analytics.message_sent',
} as const satisfies Partial<Record<AnalyticsEventName, `analytics.${string}`>>;

type OwnTopicEvent = keyof typeof ANALYTICS_TOPICS;
export type BountyEventName = Extract<OwnTopicEvent, `bounty.${string}`>;

/** What an analytics topic's payload holds (every field optional: absent is null). */
const facts = z.object({
  posterId: z.string().min(1).max(64).nullish(),
  hunterId: z.string().min(1).max(64).nullish(),
  bountyId: z.uuid().nullish(),
  amount: z.number().int().min(0).nullish(),
  fee: z.number().int().min(0).nullish(),
  currency: z.string().regex(/^[a-z]{3}$/).nullish(),
  seconds: z.number().int().min(0).nullish(),
});
export type AnalyticsFacts = z.infer<typeof facts>;

/** An analytics event about a bounty; `userId` is who acted (the poster for a timer's step). */
export function bountyEvent(name: BountyEventName, userId: string, bountyId: string, details: Omit<AnalyticsFacts, 'bountyId'>): OutboxMessage {
  return { topic: ANALYTICS_TOPICS[name], recipientId: userId, subject: { type: 'bounty', id: bountyId }, payload: { ...details, bountyId } };
}

/** A person's message in a bounty's conversation (its text stays out). */
export function messageSentEvent(input: { senderId: string; conversationId: string; bountyId: string; posterId: string; hunterId: string }): OutboxMessage {
  const sentTopic = ANALYTICS_TOPICS['message.sent'];
  return {
    topic: sentTopic,
    recipientId: input.senderId,
    subject: { type: 'conversation', id: input.conversationId },
    payload: { bountyId: input.bountyId, posterId: input.posterId, hunterId: input.hunterId },
  };
}

/** Seconds from `from` to `to`, whole, never negative; null without a start. */
export const secondsBetween = (from: Date | null, to: Date): number | null =>
  from === null ? null : Math.max(0, Math.round((to.getTime() - from.getTime()) / 1000));

export type RecordedFields = Omit<NewAnalyticsEvent, 'recordedAt'>;

const NAME_OF_TOPIC: Readonly<Record<string, AnalyticsEventName>> = {
  ...Object.fromEntries(Object.entries(ANALYTICS_TOPICS).map(([name, topic]) => [topic, name as AnalyticsEventName])),
  'request.created': 'request.created',
  'deposit.succeeded': 'deposit.succeeded',
  'withdrawal.paid': 'payout.paid',
};

/** Whether analytics reads this outbox topic at all. */
export const isAnalyticsTopic = (topic: string): boolean => topic in NAME_OF_TOPIC;

/**
 * The analytics row an outbox event stands for, or null (not an analytics topic, or a payload
 * that does not parse: an event written before its fields existed is skipped, not guessed at).
 */
export function fromOutbox(event: OutboxEvent): RecordedFields | null {
  const name = NAME_OF_TOPIC[event.topic];
  if (!name) return null;
  const parsed = facts.safeParse(event.payload);
  if (!parsed.success) return null;
  const p = parsed.data;
  const base = { eventId: event.id, name, occurredAt: event.createdAt };
  const money = p.amount != null && p.currency != null ? { amount: p.amount, currency: p.currency, fee: p.fee ?? null } : { amount: null, currency: null, fee: null };
  switch (name) {
    // The poster is told of a request: the hunter who applied is in the payload.
    case 'request.created':
      if (!p.hunterId) return null;
      return { ...base, userId: p.hunterId, posterId: event.recipientId, hunterId: p.hunterId, bountyId: p.bountyId ?? null };
    case 'deposit.succeeded':
    case 'payout.paid':
      if (money.amount === null) return null;
      return { ...base, userId: event.recipientId, ...money, fee: null, bountyId: p.bountyId ?? null };
    default:
      return {
        ...base,
        userId: event.recipientId,
        posterId: p.posterId ?? null,
        hunterId: p.hunterId ?? null,
        bountyId: p.bountyId ?? null,
        ...money,
        seconds: p.seconds ?? null,
      };
  }
}
