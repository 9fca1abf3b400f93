/**
 * Each lifecycle transition's own part, run by the engine (engine.ts) in one transaction: what it
 * checks of its input against the locked bounty, the rows it writes, and how it settles money
 * when the table says `hold` or `settle`. The engine does everything the transitions share.
 */
import { and, eq, inArray, isNull } from 'drizzle-orm';
import {
  type Bounty,
  bountyDisputes,
  bountyRequests,
  bountySubmissions,
  type DatabaseSession,
  type DisputeOutcome,
  type RequestCloseReason,
  type RequestStatus,
  type Transaction,
} from '../../db';
import type { RiskSettings } from '../../config/env';
import { holdEscrow, refundEscrow, releaseEscrow, splitEscrow } from '../ledger';
import { judgePublish, recordingDenials } from '../risk/service';
import { lockActiveAccount } from '../users/active';
import { type Actor, type Marketplace, findOpenDispute, type Step, type StepResult, transition } from './engine';
import { BOUNTIES_ERRORS } from './errors';
import { timerDue, type TransitionName } from './lifecycle';

/** `requestId`: the request that acts, recorded in the audit log beside an admin's transition. */
export type LifecycleDeps = Readonly<{ db: DatabaseSession; marketplace: Marketplace; now: () => Date; requestId?: string | null }>;

/** A transition in its own transaction, as the routes run it. */
function run(
  deps: LifecycleDeps,
  actor: Actor,
  bountyId: string,
  name: TransitionName,
  step?: Parameters<typeof transition>[3],
): Promise<Bounty> {
  const now = deps.now();
  return deps.db.transaction((tx) => transition(tx, deps.marketplace, { bountyId, name, actor, now, requestId: deps.requestId ?? null }, step));
}

/** Cited criteria must be the bounty's own (ids 1..n); the refusal names the unknown ones. */
function assertCriteria(bounty: Bounty, cited: readonly number[]): void {
  const known = new Set(bounty.criteria.map((criterion) => criterion.id));
  const unknown = cited.filter((id) => !known.has(id));
  if (unknown.length > 0) throw BOUNTIES_ERRORS.error('UNKNOWN_CRITERIA', `Unknown criteria: ${unknown.join(', ')} (this bounty has 1..${bounty.criteria.length})`);
}

/** Requests of the bounty in `statuses` move to `status` with `reason`. */
export async function closeRequests(
  tx: Transaction,
  bountyId: string,
  statuses: readonly RequestStatus[],
  status: RequestStatus,
  reason: RequestCloseReason | null,
  now: Date,
): Promise<void> {
  await tx
    .update(bountyRequests)
    .set({ status, closedReason: reason, updatedAt: now })
    .where(and(eq(bountyRequests.bountyId, bountyId), inArray(bountyRequests.status, [...statuses])));
}

/** A bounty past its deadline would expire as it opens: publishing it (either way) is refused. */
export function assertPublishable(bounty: Bounty, now: Date): void {
  if (bounty.deadline.getTime() <= now.getTime()) throw BOUNTIES_ERRORS.error('DEADLINE_PASSED', 'The deadline has passed: move it before publishing');
}

/**
 * Publishing is judged by the risk rules too (a new account's reward and open-bounty caps); the
 * routes always pass `risk`, operator scripts seeding data may not (then nothing is judged).
 */
export type PublishDeps = LifecycleDeps & Readonly<{ risk?: RiskSettings | undefined }>;

/**
 * The poster's account, locked and not banned (a ban racing the publish), then the risk rules' say
 * on publishing, under the bounty's lock in the transition's transaction (by
 * wallet or by card). A deny is recorded by `recordingDenials` around that transaction.
 */
export async function judgePublishing(tx: Transaction, deps: Pick<PublishDeps, 'risk' | 'requestId'>, bounty: Bounty, now: Date): Promise<void> {
  await lockActiveAccount(tx, bounty.posterId, now);
  if (deps.risk) await judgePublish(tx, { settings: deps.risk, now, requestId: deps.requestId ?? null, bounty });
}

/** Publishes from the wallet: the reward moves to escrow, the bounty opens, its expiry starts. */
export const publishFromWallet = (deps: PublishDeps, actor: Actor, bountyId: string) =>
  recordingDenials(deps.db, () =>
    run(deps, actor, bountyId, 'publish', async ({ tx, bounty, now }) => {
      assertPublishable(bounty, now);
      await judgePublishing(tx, deps, bounty, now);
      await holdEscrow(tx, { bountyId: bounty.id, posterId: bounty.posterId, amount: bounty.rewardAmount, currency: bounty.currency });
      return { changes: { funding: 'wallet', fundingDepositId: null, publishedAt: now }, details: { funding: 'wallet' } };
    }),
  );

export const cancelBounty = (deps: LifecycleDeps, actor: Actor, bountyId: string) =>
  run(deps, actor, bountyId, 'cancel', async ({ tx, bounty, now }) => {
    await closeRequests(tx, bounty.id, ['pending'], 'rejected', 'closed', now);
    return undefined;
  });

export const withdrawFromBounty = (deps: LifecycleDeps, actor: Actor, bountyId: string, reason: string | null) =>
  run(deps, actor, bountyId, 'withdraw', async ({ tx, bounty, now }) => {
    await closeRequests(tx, bounty.id, ['accepted'], 'withdrawn', 'hunter', now);
    return { reason };
  });

export const unassignHunter = (deps: LifecycleDeps, actor: Actor, bountyId: string, reason: string) =>
  run(deps, actor, bountyId, 'unassign', async ({ tx, bounty, now }) => {
    await closeRequests(tx, bounty.id, ['accepted'], 'rejected', 'unassigned', now);
    return { reason };
  });

export const submitWork = (deps: LifecycleDeps, actor: Actor, bountyId: string, input: { message: string; links: string[] }) =>
  run(deps, actor, bountyId, 'submit', async ({ tx, bounty, now }) => {
    const [submission] = await tx
      .insert(bountySubmissions)
      .values({ bountyId: bounty.id, hunterId: bounty.hunterId ?? '', message: input.message, links: input.links, createdAt: now })
      .returning({ id: bountySubmissions.id });
    return { changes: { lastSubmittedAt: now }, details: { submissionId: submission?.id, links: input.links.length } };
  });

export const requestChanges = (deps: LifecycleDeps, actor: Actor, bountyId: string, input: { message: string; criteria: number[] }) =>
  run(deps, actor, bountyId, 'request_changes', async ({ bounty }) => {
    assertCriteria(bounty, input.criteria);
    return { changes: { revisionsUsed: bounty.revisionsUsed + 1 }, reason: input.message, details: { criteria: input.criteria, revision: bounty.revisionsUsed + 1 } };
  });

/** Completion (approve, auto-approve, a release by ruling): the accepted request is done. */
async function completeRequest(tx: Transaction, bountyId: string, now: Date): Promise<void> {
  await closeRequests(tx, bountyId, ['accepted'], 'completed', null, now);
}

export const approveWork = (deps: LifecycleDeps, actor: Actor, bountyId: string) =>
  run(deps, actor, bountyId, 'approve', async ({ tx, bounty, now }) => {
    await completeRequest(tx, bounty.id, now);
    return undefined;
  });

/** The auto-approve timer's step (timers.ts runs it under the same lock). */
export async function autoApproveStep(tx: Transaction, bounty: Bounty, now: Date): Promise<StepResult> {
  await completeRequest(tx, bounty.id, now);
  return { reason: 'No answer within the review window: approved automatically' };
}

export const openDisputeOn = (deps: LifecycleDeps, actor: Actor, bountyId: string, input: { reason: string; criteria: number[] }) =>
  run(deps, actor, bountyId, 'dispute', async ({ tx, bounty, party, actorId, now }) => {
    assertCriteria(bounty, input.criteria);
    const respondBy = timerDue('dispute_escalation', now, deps.marketplace.settings);
    const [dispute] = await tx
      .insert(bountyDisputes)
      .values({
        bountyId: bounty.id,
        openedBy: actorId ?? '',
        openedByRole: party === 'poster' ? 'poster' : 'hunter',
        fromState: bounty.state,
        reason: input.reason,
        citedItems: input.criteria,
        respondBy,
        createdAt: now,
      })
      .returning({ id: bountyDisputes.id });
    return { reason: input.reason, details: { disputeId: dispute?.id, criteria: input.criteria, respondBy: respondBy.toISOString() } };
  });

export const respondToDispute = (deps: LifecycleDeps, actor: Actor, bountyId: string, input: { message: string }) =>
  run(deps, actor, bountyId, 'respond_dispute', async ({ tx, bounty, now }) => {
    const dispute = await findOpenDispute(tx, bounty.id);
    if (!dispute) throw new Error(`bounty ${bounty.id} is disputed without an open dispute`);
    await tx.update(bountyDisputes).set({ response: input.message, respondedAt: now }).where(eq(bountyDisputes.id, dispute.id));
    return { reason: input.message, details: { disputeId: dispute.id } };
  });

/** The dispute-escalation timer's step: the dispute now waits for an admin. */
export async function escalateStep(tx: Transaction, bounty: Bounty, now: Date): Promise<StepResult> {
  const dispute = await findOpenDispute(tx, bounty.id);
  if (dispute) await tx.update(bountyDisputes).set({ escalatedAt: now }).where(and(eq(bountyDisputes.id, dispute.id), isNull(bountyDisputes.escalatedAt)));
  return { reason: 'No answer within the response window: escalated to an admin', details: { disputeId: dispute?.id } };
}

export type Ruling = { outcome: DisputeOutcome; hunterAmount?: number | undefined; reason: string };

export const resolveDispute = (deps: LifecycleDeps, actor: Actor, bountyId: string, ruling: Ruling) =>
  run(deps, actor, bountyId, 'resolve', async ({ tx, bounty, actorId, now }) => {
    const dispute = await findOpenDispute(tx, bounty.id);
    if (!dispute || !bounty.hunterId) throw new Error(`bounty ${bounty.id} is disputed without an open dispute or a hunter`);
    const feeBps = deps.marketplace.settings.platformFeeBps;
    let hunterAmount: number;
    if (ruling.outcome === 'release') {
      hunterAmount = bounty.rewardAmount;
      await releaseEscrow(tx, { bountyId: bounty.id, hunterId: bounty.hunterId, feeBps });
    } else if (ruling.outcome === 'refund') {
      hunterAmount = 0;
      await refundEscrow(tx, { bountyId: bounty.id });
    } else {
      hunterAmount = ruling.hunterAmount ?? -1;
      if (!Number.isSafeInteger(hunterAmount) || hunterAmount < 0 || hunterAmount > bounty.rewardAmount) throw BOUNTIES_ERRORS.error('INVALID_SPLIT');
      await splitEscrow(tx, { bountyId: bounty.id, hunterId: bounty.hunterId, hunterAmount, feeBps });
    }
    await tx
      .update(bountyDisputes)
      .set({ outcome: ruling.outcome, hunterAmount, resolution: ruling.reason, resolvedBy: actorId, resolvedAt: now })
      .where(eq(bountyDisputes.id, dispute.id));
    await closeRequests(tx, bounty.id, ['accepted'], ruling.outcome === 'release' ? 'completed' : 'rejected', ruling.outcome === 'release' ? null : 'closed', now);
    const events = [bounty.posterId, bounty.hunterId].map((recipientId) => ({
      topic: 'bounty.dispute_resolved',
      recipientId,
      subject: { type: 'bounty', id: bounty.id },
      payload: { outcome: ruling.outcome, hunterAmount },
    }));
    return ruling.outcome === 'release'
      ? { to: 'completed', reason: ruling.reason, settled: true, details: { disputeId: dispute.id, outcome: ruling.outcome, hunterAmount }, events }
      : { to: 'cancelled', cancelReason: 'dispute', reason: ruling.reason, settled: true, details: { disputeId: dispute.id, outcome: ruling.outcome, hunterAmount }, events };
  });

export const proposeMutualCancel = (deps: LifecycleDeps, actor: Actor, bountyId: string, input: { hunterAmount: number; reason: string | null }) =>
  run(deps, actor, bountyId, 'propose_cancel', async ({ bounty, actorId, now }) => {
    if (input.hunterAmount > bounty.rewardAmount) throw BOUNTIES_ERRORS.error('INVALID_SPLIT', `The hunter's share must be between 0 and ${bounty.rewardAmount}`);
    const expiresAt = timerDue('cancel_proposal_expiry', now, deps.marketplace.settings);
    return {
      changes: { cancelProposedBy: actorId, cancelProposalHunterAmount: input.hunterAmount, cancelProposalExpiresAt: expiresAt },
      reason: input.reason,
      details: { hunterAmount: input.hunterAmount, expiresAt: expiresAt.toISOString() },
    };
  });

export const acceptMutualCancel = (deps: LifecycleDeps, actor: Actor, bountyId: string) =>
  run(deps, actor, bountyId, 'accept_cancel', async ({ tx, bounty, now }) => {
    // Lapsed but not yet cleared by its timer (the worker is behind): too late all the same.
    if (bounty.cancelProposalExpiresAt && bounty.cancelProposalExpiresAt.getTime() <= now.getTime()) {
      throw BOUNTIES_ERRORS.error('TRANSITION_REFUSED', 'The proposal lapsed: propose again');
    }
    const hunterAmount = bounty.cancelProposalHunterAmount ?? 0;
    if (!bounty.hunterId) throw new Error(`bounty ${bounty.id} has a cancel proposal without a hunter`);
    await splitEscrow(tx, { bountyId: bounty.id, hunterId: bounty.hunterId, hunterAmount, feeBps: deps.marketplace.settings.platformFeeBps });
    const dispute = await findOpenDispute(tx, bounty.id);
    if (dispute) {
      await tx
        .update(bountyDisputes)
        .set({ outcome: 'split', hunterAmount, resolution: 'Cancelled by both sides', resolvedAt: now })
        .where(eq(bountyDisputes.id, dispute.id));
    }
    await closeRequests(tx, bounty.id, ['accepted'], 'rejected', 'closed', now);
    return { settled: true, details: { hunterAmount, proposedBy: bounty.cancelProposedBy } };
  });

const clearProposal = { cancelProposedBy: null, cancelProposalHunterAmount: null, cancelProposalExpiresAt: null } as const;

export const declineMutualCancel = (deps: LifecycleDeps, actor: Actor, bountyId: string) =>
  run(deps, actor, bountyId, 'decline_cancel', async ({ bounty }) => ({ changes: clearProposal, details: { proposedBy: bounty.cancelProposedBy } }));

/** The proposal-expiry timer's step. */
export const lapseProposalStep = async (): Promise<StepResult> => ({ changes: clearProposal, reason: 'Nobody accepted the proposal in time' });

/**
 * An admin's cancel, whatever asked for it (the route, a ban, a report's removal): the applications
 * close with the bounty, and a dispute open then ends with it, refunded, with the same reason.
 */
export const adminCancelStep =
  (reason: string) =>
  async ({ tx, bounty, actorId, now }: Step): Promise<StepResult> => {
    await closeRequests(tx, bounty.id, ['pending', 'accepted'], 'rejected', 'closed', now);
    await tx
      .update(bountyDisputes)
      .set({ outcome: 'refund', hunterAmount: 0, resolution: reason, resolvedBy: actorId, resolvedAt: now })
      .where(and(eq(bountyDisputes.bountyId, bounty.id), isNull(bountyDisputes.resolvedAt)));
    return { reason };
  };

export const adminCancel = (deps: LifecycleDeps, actor: Actor, bountyId: string, reason: string) =>
  run(deps, actor, bountyId, 'admin_cancel', adminCancelStep(reason));

/** The expiry timer's step: pending applications close with the bounty. */
export async function expireStep(tx: Transaction, bounty: Bounty, now: Date): Promise<StepResult> {
  await closeRequests(tx, bounty.id, ['pending'], 'rejected', 'closed', now);
  return { reason: 'Past its deadline with no accepted hunter: refunded automatically' };
}
