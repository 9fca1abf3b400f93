/**
 * The analytics events of a transition (src/modules/analytics/events.ts), written by the engine
 * with the transition's other outbox events: one per occurrence, whoever hears of it. Published
 * (with the reward), accepted (seconds since publication), completed (the reward and the fee,
 * seconds since the last submission), settled (a split that paid the hunter a share, and its
 * fee) and disputed. Pure: the engine passes what it knows.
 */
import type { Bounty } from '../../db';
import { bountyEvent, secondsBetween } from '../analytics/events';
import { platformFee } from '../ledger';
import type { OutboxMessage } from '../outbox';
import type { TransitionName } from './lifecycle';

export type TransitionFacts = Readonly<{
  name: TransitionName;
  before: Bounty;
  after: Bounty;
  /** Who acted; null for a timer. */
  actorId: string | null;
  now: Date;
  feeBps: number;
  /** The step's details (a ruling's or a mutual cancellation's `hunterAmount`). */
  details: Readonly<Record<string, unknown>> | undefined;
}>;

export function transitionAnalytics(facts: TransitionFacts): OutboxMessage[] {
  const { name, before, after, now, feeBps } = facts;
  const parties = { posterId: after.posterId, hunterId: after.hunterId ?? before.hunterId };
  const reward = { amount: after.rewardAmount, currency: after.currency };
  const paid = (amount: number) => ({ amount, fee: platformFee(amount, feeBps), currency: after.currency });
  switch (name) {
    case 'publish':
      return [bountyEvent('bounty.published', after.posterId, after.id, { ...parties, ...reward })];
    case 'accept':
      return [bountyEvent('bounty.accepted', facts.actorId ?? after.posterId, after.id, { ...parties, seconds: secondsBetween(after.publishedAt, now) })];
    case 'approve':
    case 'auto_approve':
      return [bountyEvent('bounty.completed', after.posterId, after.id, { ...parties, ...paid(after.rewardAmount), seconds: secondsBetween(before.lastSubmittedAt, now) })];
    case 'dispute':
      return [bountyEvent('bounty.disputed', facts.actorId ?? after.posterId, after.id, parties)];
    case 'resolve':
    case 'accept_cancel': {
      const share = facts.details?.hunterAmount;
      if (typeof share !== 'number' || share <= 0) return [];
      // A ruling that releases it all completes the bounty; any other share settles it.
      return [bountyEvent(after.state === 'completed' ? 'bounty.completed' : 'bounty.settled', after.posterId, after.id, { ...parties, ...paid(share) })];
    }
    default:
      return [];
  }
}
