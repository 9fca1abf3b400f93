/** Rows as the API shows them. */
import type { Bounty, BountyDispute, BountySubmission, BountyTransition } from '../../db';
import { money } from '../ledger';
import type { BOUNTY_CATEGORIES, BountySummary, BountyView } from './schemas';

type Category = (typeof BOUNTY_CATEGORIES)[number];

export const toBountySummary = (bounty: Bounty): BountySummary => ({
  id: bounty.id,
  posterId: bounty.posterId,
  hunterId: bounty.hunterId,
  state: bounty.state,
  cancelReason: bounty.cancelReason,
  title: bounty.title,
  reward: money(bounty.rewardAmount, bounty.currency),
  category: bounty.category as Category,
  tags: bounty.tags,
  remote: bounty.remote,
  location:
    bounty.latitude !== null && bounty.longitude !== null
      ? { name: bounty.locationName, latitude: bounty.latitude, longitude: bounty.longitude, radiusKm: bounty.radiusKm }
      : null,
  deadline: bounty.deadline,
  publishedAt: bounty.publishedAt,
  nextDeadlineAt: bounty.nextDeadlineAt,
  nextActionBy: bounty.nextActionBy,
  createdAt: bounty.createdAt,
});

export const toBountyView = (bounty: Bounty, allowedTransitions: string[]): BountyView => ({
  ...toBountySummary(bounty),
  description: bounty.description,
  criteria: bounty.criteria,
  maxRevisions: bounty.maxRevisions,
  revisionsUsed: bounty.revisionsUsed,
  funding: bounty.funding,
  acceptedAt: bounty.acceptedAt,
  lastSubmittedAt: bounty.lastSubmittedAt,
  closedAt: bounty.closedAt,
  cancelProposal:
    bounty.cancelProposedBy !== null && bounty.cancelProposalExpiresAt !== null
      ? { proposedBy: bounty.cancelProposedBy, hunterAmount: bounty.cancelProposalHunterAmount ?? 0, expiresAt: bounty.cancelProposalExpiresAt }
      : null,
  version: bounty.version,
  allowedTransitions,
  updatedAt: bounty.updatedAt,
});

export const toTransitionView = (row: BountyTransition) => ({
  id: row.id,
  action: row.action,
  from: row.fromState,
  to: row.toState,
  actorId: row.actorId,
  actorRole: row.actorRole,
  reason: row.reason,
  details: row.details,
  at: row.createdAt,
});

export const toSubmissionView = (row: BountySubmission) => ({
  id: row.id,
  hunterId: row.hunterId,
  message: row.message,
  links: row.links,
  createdAt: row.createdAt,
});

export const toDisputeView = (row: BountyDispute) => ({
  id: row.id,
  openedBy: row.openedBy,
  openedByRole: row.openedByRole,
  reason: row.reason,
  criteria: row.citedItems,
  respondBy: row.respondBy,
  response: row.response,
  respondedAt: row.respondedAt,
  escalatedAt: row.escalatedAt,
  outcome: row.outcome,
  hunterAmount: row.hunterAmount,
  resolution: row.resolution,
  resolvedAt: row.resolvedAt,
  createdAt: row.createdAt,
});
