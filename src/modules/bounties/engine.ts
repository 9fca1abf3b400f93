/**
 * The transition engine: every lifecycle step goes through `transition()`, inside the caller's
 * transaction. It locks the bounty row, checks the state and the actor against LIFECYCLE, runs the
 * step's own effect (which may move money through the ledger), applies the release or refund the
 * table names, stores who acts next, writes the history row, starts the step's timers and records
 * the outbox events. Whatever the step, a refusal leaves nothing behind: the caller's transaction
 * rolls back.
 */
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { MarketplaceSettings } from '../../config/env';
import {
  type AuditSummary,
  type Bounty,
  bounties,
  type BountyDispute,
  bountyDisputes,
  bountyRequests,
  type BountyState,
  bountyTimers,
  bountyTransitions,
  type CancelReason,
  type Database,
  type TimerKind,
  type Transaction,
  type UserRole,
} from '../../db';
import type { Viewer } from '../../lib/auth';
import { HttpError } from '../../lib/errors';
import { type AuditAction } from '../audit/actions';
import { actorOf, recordAudit } from '../audit/service';
import { eitherBlocked } from '../blocks/check';
import { announceTransition } from '../conversations/announce';
import { refundEscrow, releaseEscrow } from '../ledger';
import { type OutboxMessage, recordEvents } from '../outbox';
import { transitionAnalytics } from './analytics';
import { BOUNTIES_ERRORS } from './errors';
import { type GuardFacts, LIFECYCLE, type TransitionRule, PUBLIC_STATES, nextStep, type Party, partiesOf, REVIEW_REMINDER_DAYS_BEFORE, refusal, timerDue, type TransitionName } from './lifecycle';

/** A signed-in person, or a timer. */
export type Actor = Readonly<{ id: string; role: UserRole }> | 'system';

export type Marketplace = Readonly<{ settings: MarketplaceSettings }>;

const STAFF_ROLES: readonly UserRole[] = ['admin', 'moderator'];

/**
 * Whether `viewer` may see `bounty` at all (else it is a 404, as for one that does not exist).
 * Staff, its poster and its hunter always do. Anyone else: not when either of them blocked the
 * other (src/modules/blocks/check.ts); a public bounty not removed by a moderator (hidden_at) is
 * seen by everyone; a cancelled or removed one only by those who applied to it.
 */
export async function canSee(db: Pick<Database, 'select'>, bounty: Bounty, viewer: Viewer): Promise<boolean> {
  const listed = (PUBLIC_STATES as readonly BountyState[]).includes(bounty.state) && bounty.hiddenAt === null;
  if (!viewer) return listed;
  if (STAFF_ROLES.includes(viewer.role) || viewer.id === bounty.posterId || viewer.id === bounty.hunterId) return true;
  if (await eitherBlocked(db, viewer.id, bounty.posterId)) return false;
  if (listed) return true;
  const [row] = await db
    .select({ id: bountyRequests.id })
    .from(bountyRequests)
    .where(and(eq(bountyRequests.bountyId, bounty.id), eq(bountyRequests.hunterId, viewer.id)))
    .limit(1);
  return row !== undefined;
}

export async function lockBounty(tx: Transaction, bountyId: string): Promise<Bounty | undefined> {
  const [row] = await tx.select().from(bounties).where(eq(bounties.id, bountyId)).for('update');
  return row;
}

export async function findOpenDispute(db: Pick<Database, 'select'>, bountyId: string): Promise<BountyDispute | undefined> {
  const [row] = await db
    .select()
    .from(bountyDisputes)
    .where(and(eq(bountyDisputes.bountyId, bountyId), isNull(bountyDisputes.resolvedAt)));
  return row;
}

/**
 * What the guards need beyond the row: the open dispute. (Unassign "only before a submission"
 * needs no count: a submission moves the bounty out of in_progress for good.)
 */
export async function guardFacts(db: Pick<Database, 'select'>, bounty: Bounty): Promise<GuardFacts> {
  const dispute = bounty.state === 'disputed' ? await findOpenDispute(db, bounty.id) : undefined;
  return {
    dispute: dispute ? { openedByRole: dispute.openedByRole, answered: dispute.respondedAt !== null } : null,
  };
}

/** The bounty's columns a step may change besides the ones the engine owns. */
export type BountyChanges = Partial<
  Pick<
    Bounty,
    | 'hunterId'
    | 'funding'
    | 'fundingDepositId'
    | 'publishedAt'
    | 'acceptedAt'
    | 'lastSubmittedAt'
    | 'revisionsUsed'
    | 'cancelProposedBy'
    | 'cancelProposalHunterAmount'
    | 'cancelProposalExpiresAt'
  >
>;

export type Step = Readonly<{ tx: Transaction; bounty: Bounty; party: Party; actorId: string | null; now: Date }>;

export type StepResult = {
  changes?: BountyChanges;
  /** For rules whose target is `outcome` (resolve). */
  to?: BountyState;
  cancelReason?: CancelReason;
  reason?: string | null;
  details?: Record<string, unknown>;
  /** Anything beyond the default notice to the other parties. */
  events?: OutboxMessage[];
  /** Set by a step that settles the escrow itself (splits). */
  settled?: boolean;
};

export type TransitionRequest = Readonly<{
  bountyId: string;
  name: TransitionName;
  actor: Actor;
  now: Date;
  /** The request that acts (its x-request-id), for the audit row of an admin's transition. */
  requestId?: string | null;
}>;

/** An admin's transitions are audited, in the transition's own transaction. */
const AUDITED: Partial<Record<TransitionName, AuditAction>> = { resolve: 'dispute.resolve', admin_cancel: 'bounty.admin_cancel' };

const conflictWithState = (bounty: Bounty, message: string, code: 'INVALID_TRANSITION' | 'TRANSITION_REFUSED'): HttpError =>
  BOUNTIES_ERRORS.error(code, message, [{ path: 'state', message: bounty.state }]);

/**
 * The checks every transition starts with: lock the bounty, 404 when the actor may not see it,
 * then the table's refusal (409 with the state, 403 for another party, 409 for the rule). Returns
 * the locked bounty and the party the actor plays. Also what a card publish checks before it
 * asks Stripe (funding.ts), so both refuse alike.
 */
export async function lockForTransition(tx: Transaction, request: Pick<TransitionRequest, 'bountyId' | 'name' | 'actor'>): Promise<{ bounty: Bounty; party: Party }> {
  const { name, actor } = request;
  const bounty = await lockBounty(tx, request.bountyId);
  const viewer = actor === 'system' ? null : actor;
  if (!bounty || (actor !== 'system' && !(await canSee(tx, bounty, viewer)))) throw BOUNTIES_ERRORS.error('BOUNTY_NOT_FOUND');
  const parties: Party[] = actor === 'system' ? ['system'] : partiesOf(bounty, viewer);
  const refused = refusal(name, bounty, parties, await guardFacts(tx, bounty), viewer?.id ?? null);
  if (refused?.kind === 'state') throw conflictWithState(bounty, refused.message, 'INVALID_TRANSITION');
  if (refused?.kind === 'actor') throw BOUNTIES_ERRORS.error('NOT_YOUR_TRANSITION', refused.message);
  if (refused) throw conflictWithState(bounty, refused.message, 'TRANSITION_REFUSED');
  const rule: TransitionRule = LIFECYCLE[name];
  return { bounty, party: rule.by.find((candidate) => parties.includes(candidate)) ?? 'system' };
}

/**
 * Runs one transition in `tx`. `step` is the transition's own part (checks on its input, rows of
 * its own, a hold or a split); the engine does the rest. Returns the bounty as it is after.
 */
export async function transition(
  tx: Transaction,
  marketplace: Marketplace,
  request: TransitionRequest,
  step?: (context: Step) => Promise<StepResult | undefined>,
): Promise<Bounty> {
  const { name, actor, now } = request;
  const rule = LIFECYCLE[name];
  const { bounty, party } = await lockForTransition(tx, request);
  const viewer = actor === 'system' ? null : actor;

  const result = (await step?.({ tx, bounty, party, actorId: viewer?.id ?? null, now })) ?? {};
  const to: BountyState = rule.to === 'same' ? bounty.state : rule.to === 'outcome' ? (result.to ?? bounty.state) : rule.to;
  const cancelReason = to === 'cancelled' ? (result.cancelReason ?? ('cancelReason' in rule ? rule.cancelReason : 'admin')) : null;

  if (!result.settled) {
    if (rule.escrow === 'release' && bounty.hunterId) {
      await releaseEscrow(tx, { bountyId: bounty.id, hunterId: bounty.hunterId, feeBps: marketplace.settings.platformFeeBps });
    } else if (rule.escrow === 'refund' && bounty.state !== 'draft') {
      await refundEscrow(tx, { bountyId: bounty.id });
    }
  }

  const changes: BountyChanges = { ...result.changes };
  // Back to open: the hunter leaves; a pending proposal to cancel together leaves with them.
  if (to === 'open' && bounty.state !== 'draft') Object.assign(changes, { hunterId: null, acceptedAt: null, lastSubmittedAt: null, revisionsUsed: 0 });
  if (to === 'open' || to === 'completed' || to === 'cancelled') {
    Object.assign(changes, { cancelProposedBy: null, cancelProposalHunterAmount: null, cancelProposalExpiresAt: null });
  }
  const after = { ...bounty, ...changes, state: to };
  const dispute = to === 'disputed' ? await findOpenDispute(tx, bounty.id) : undefined;
  const next = nextStep(after, marketplace.settings, dispute ? disputeSummary(dispute) : null);
  const [updated] = await tx
    .update(bounties)
    .set({
      ...changes,
      state: to,
      cancelReason,
      closedAt: to === 'completed' || to === 'cancelled' ? now : bounty.closedAt,
      nextActionBy: next.nextActionBy,
      nextDeadlineAt: next.nextDeadlineAt,
      version: sql`${bounties.version} + 1`,
      updatedAt: now,
    })
    .where(eq(bounties.id, bounty.id))
    .returning();
  if (!updated) throw new Error(`bounty ${bounty.id} vanished under its lock`);

  await tx.insert(bountyTransitions).values({
    bountyId: bounty.id,
    action: name,
    fromState: bounty.state,
    toState: to,
    actorId: viewer?.id ?? null,
    actorRole: party,
    hunterId: bounty.hunterId ?? updated.hunterId,
    reason: result.reason ?? null,
    details: result.details ?? {},
    createdAt: now,
  });

  const audited = AUDITED[name];
  if (audited && viewer) {
    await recordAudit(tx, {
      actor: actorOf(viewer),
      action: audited,
      targetId: bounty.id,
      reason: result.reason ?? '',
      before: { state: bounty.state, hunterId: bounty.hunterId, reward: bounty.rewardAmount },
      after: { state: to, cancelReason, ...auditDetails(result.details) },
      requestId: request.requestId ?? null,
    });
  }

  await startTimers(tx, marketplace.settings, updated, rule.starts, now);
  const analytics = transitionAnalytics({ name, before: bounty, after: updated, actorId: viewer?.id ?? null, now, feeBps: marketplace.settings.platformFeeBps, details: result.details });
  await recordEvents(tx, now, [...noticeToOthers(name, bounty, updated, viewer?.id ?? null), ...(result.events ?? []), ...analytics]);
  // Last: it appends the transaction's stream events, whose cursors stay locked until commit.
  await announceTransition(tx, { before: bounty, after: updated, name, now, actorId: viewer?.id ?? null });
  return updated;
}

/** The scalar details of a step (a ruling's outcome and split) as the audit row keeps them. */
function auditDetails(details: Record<string, unknown> | undefined): AuditSummary {
  const summary: AuditSummary = {};
  for (const [key, value] of Object.entries(details ?? {})) {
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') summary[key] = value;
  }
  return summary;
}

export const disputeSummary = (dispute: BountyDispute) => ({
  openedByRole: dispute.openedByRole,
  answered: dispute.respondedAt !== null,
  escalated: dispute.escalatedAt !== null,
  respondBy: dispute.respondBy,
});

/** Everyone on the bounty but the actor hears of a transition (the outbox delivers it). */
function noticeToOthers(name: TransitionName, before: Bounty, after: Bounty, actorId: string | null): OutboxMessage[] {
  const recipients = new Set([before.posterId, before.hunterId, after.hunterId].filter((id): id is string => id !== null && id !== actorId));
  return [...recipients].map((recipientId) => ({
    topic: `bounty.${name}`,
    recipientId,
    subject: { type: 'bounty', id: after.id },
    payload: { from: before.state, to: after.state, title: after.title },
  }));
}

/** The timers a transition starts, each anchored at the moment it counts from. */
async function startTimers(tx: Transaction, settings: MarketplaceSettings, bounty: Bounty, kinds: readonly TimerKind[], now: Date): Promise<void> {
  const rows: Array<typeof bountyTimers.$inferInsert> = [];
  for (const kind of kinds) {
    const anchor = timerAnchor(kind, bounty, now);
    if (kind === 'review_reminder') {
      for (const daysBefore of REVIEW_REMINDER_DAYS_BEFORE) {
        rows.push({ bountyId: bounty.id, kind, anchorAt: anchor, detail: daysBefore, dueAt: timerDue(kind, anchor, settings, daysBefore) });
      }
    } else {
      rows.push({ bountyId: bounty.id, kind, anchorAt: anchor, dueAt: timerDue(kind, anchor, settings) });
    }
  }
  if (rows.length > 0) await tx.insert(bountyTimers).values(rows);
}

/**
 * The moment a timer counts from: the deadline for expiry, the last submission for auto-approval
 * and its reminders (the same moment, so they always agree), acceptance for the idle nudge.
 */
export function timerAnchor(kind: TimerKind, bounty: Bounty, now: Date): Date {
  switch (kind) {
    case 'expire':
    case 'expiry_reminder':
      return bounty.deadline;
    case 'auto_approve':
    case 'review_reminder':
      return bounty.lastSubmittedAt ?? now;
    case 'idle_hunter_nudge':
      return bounty.acceptedAt ?? now;
    default:
      return now;
  }
}

/** Starts the expiry timer and its reminder again after an open bounty's deadline moved. */
export const rescheduleExpiry = (tx: Transaction, settings: MarketplaceSettings, bounty: Bounty, now: Date) =>
  startTimers(tx, settings, bounty, ['expire', 'expiry_reminder'], now);
