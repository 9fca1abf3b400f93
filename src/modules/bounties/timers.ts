/**
 * The lifecycle's timers. A transition writes its timers (bounty_timers: kind, due time, and the
 * moment it counts from); the `bounties.timers` job, every minute on the job queue, fires the due
 * ones by the injected clock. Each timer runs in its own transaction with the bounty row locked
 * and first re-checks that the bounty is still where the timer found it (same state, same anchor:
 * the same submission, deadline, acceptance, dispute, proposal). If it moved on, the timer does
 * nothing and says so in its outcome. Tests move the clock and run the job's handler: no sleeps.
 */
import { and, asc, count, eq, gte, isNull, lte, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { MarketplaceSettings } from '../../config/env';
import { type Bounty, bountyRequests, type BountyTimer, bountySubmissions, bountyTimers, type Database, type Transaction } from '../../db';
import { defineJob } from '../../jobs';
import { HttpError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { recordEvents } from '../outbox';
import { autoApproveStep, escalateStep, expireStep, lapseProposalStep } from './actions';
import { findOpenDispute, lockBounty, transition } from './engine';
import { timerDue } from './lifecycle';

export const TIMERS_JOB = 'bounties.timers';

export type TimerDeps = Readonly<{ settings: MarketplaceSettings; now: () => Date }>;

const sameMoment = (a: Date | null, b: Date): boolean => a !== null && a.getTime() === b.getTime();

/** Hunters whose request on the bounty still waits for an answer. */
async function pendingApplicants(tx: Transaction, bountyId: string): Promise<string[]> {
  const rows = await tx
    .select({ hunterId: bountyRequests.hunterId })
    .from(bountyRequests)
    .where(and(eq(bountyRequests.bountyId, bountyId), eq(bountyRequests.status, 'pending')));
  return rows.map((row) => row.hunterId);
}

async function submissionsSince(tx: Transaction, bounty: Bounty, since: Date): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(bountySubmissions)
    .where(and(eq(bountySubmissions.bountyId, bounty.id), gte(bountySubmissions.createdAt, since)));
  return row?.n ?? 0;
}

/**
 * One timer, under the bounty's row lock. Returns its outcome: the transition it made, the
 * notice it sent, or why it did nothing.
 */
async function fireTimer(tx: Transaction, deps: TimerDeps, timer: BountyTimer, now: Date): Promise<string> {
  const bounty = await lockBounty(tx, timer.bountyId);
  if (!bounty) return 'gone';
  const marketplace = { settings: deps.settings };
  const fire = (name: 'expire' | 'auto_approve' | 'escalate_dispute' | 'expire_cancel_proposal', step: Parameters<typeof transition>[3]) =>
    transition(tx, marketplace, { bountyId: bounty.id, name, actor: 'system', now }, step).then(() => name);
  switch (timer.kind) {
    case 'expire':
      if (bounty.state !== 'open' || !sameMoment(bounty.deadline, timer.anchorAt)) return 'moved_on';
      return fire('expire', ({ tx: inner }) => expireStep(inner, bounty, now));
    case 'auto_approve':
      if (bounty.state !== 'submitted' || !sameMoment(bounty.lastSubmittedAt, timer.anchorAt)) return 'moved_on';
      return fire('auto_approve', ({ tx: inner }) => autoApproveStep(inner, bounty, now));
    case 'review_reminder': {
      if (bounty.state !== 'submitted' || !sameMoment(bounty.lastSubmittedAt, timer.anchorAt)) return 'moved_on';
      const autoApproveAt = timerDue('auto_approve', timer.anchorAt, deps.settings);
      // Both sides: the poster must review, the hunter learns when the money comes by itself.
      const payload = { title: bounty.title, daysLeft: timer.detail, autoApproveAt: autoApproveAt.toISOString() };
      await recordEvents(
        tx,
        now,
        [
          { recipientId: bounty.posterId, audience: 'poster' },
          ...(bounty.hunterId ? [{ recipientId: bounty.hunterId, audience: 'hunter' }] : []),
        ].map(({ recipientId, audience }) => ({
          topic: 'bounty.review_reminder',
          recipientId,
          subject: { type: 'bounty', id: bounty.id },
          payload: { ...payload, audience },
        })),
      );
      return 'reminded';
    }
    case 'expiry_reminder': {
      // The deadline it was started for; an accepted hunter means nothing will expire.
      if (bounty.state !== 'open' || !sameMoment(bounty.deadline, timer.anchorAt)) return 'moved_on';
      const expiresAt = timerDue('expire', timer.anchorAt, deps.settings).toISOString();
      const applicants = await pendingApplicants(tx, bounty.id);
      await recordEvents(
        tx,
        now,
        [bounty.posterId, ...applicants].map((recipientId) => ({
          topic: 'bounty.expiry_reminder',
          recipientId,
          subject: { type: 'bounty', id: bounty.id },
          payload: { title: bounty.title, expiresAt, audience: recipientId === bounty.posterId ? 'poster' : 'applicant' },
        })),
      );
      return 'reminded';
    }
    case 'dispute_reminder': {
      const dispute = bounty.state === 'disputed' ? await findOpenDispute(tx, bounty.id) : undefined;
      if (!dispute || !sameMoment(dispute.createdAt, timer.anchorAt) || dispute.respondedAt !== null || dispute.escalatedAt !== null) return 'moved_on';
      if (!bounty.hunterId) return 'moved_on';
      const escalatesAt = timerDue('dispute_escalation', timer.anchorAt, deps.settings).toISOString();
      // Both sides hear it; the side that has not answered is the one asked to.
      const answering = dispute.openedByRole === 'poster' ? 'hunter' : 'poster';
      await recordEvents(
        tx,
        now,
        (['poster', 'hunter'] as const).map((side) => ({
          topic: 'bounty.dispute_reminder',
          recipientId: side === 'poster' ? bounty.posterId : (bounty.hunterId ?? ''),
          subject: { type: 'bounty', id: bounty.id },
          payload: { title: bounty.title, escalatesAt, audience: side, mustAnswer: side === answering },
        })),
      );
      return 'reminded';
    }
    case 'dispute_escalation': {
      const dispute = bounty.state === 'disputed' ? await findOpenDispute(tx, bounty.id) : undefined;
      if (!dispute || !sameMoment(dispute.createdAt, timer.anchorAt) || dispute.respondedAt !== null || dispute.escalatedAt !== null) return 'moved_on';
      return fire('escalate_dispute', ({ tx: inner }) => escalateStep(inner, bounty, now));
    }
    case 'cancel_proposal_expiry':
      // The proposal this timer was started for (its expiry counts from the timer's anchor, not
      // from due_at, which a retry moves).
      if (bounty.cancelProposedBy === null || !sameMoment(bounty.cancelProposalExpiresAt, timerDue('cancel_proposal_expiry', timer.anchorAt, deps.settings))) {
        return 'moved_on';
      }
      return fire('expire_cancel_proposal', lapseProposalStep);
    case 'idle_hunter_nudge': {
      if (bounty.state !== 'in_progress' || !bounty.hunterId || !sameMoment(bounty.acceptedAt, timer.anchorAt)) return 'moved_on';
      if ((await submissionsSince(tx, bounty, timer.anchorAt)) > 0) return 'moved_on';
      await recordEvents(tx, now, [
        { topic: 'bounty.hunter_nudge', recipientId: bounty.hunterId, subject: { type: 'bounty', id: bounty.id }, payload: { title: bounty.title } },
        { topic: 'bounty.hunter_idle', recipientId: bounty.posterId, subject: { type: 'bounty', id: bounty.id }, payload: { title: bounty.title } },
      ]);
      return 'nudged';
    }
  }
}

/** A timer that failed (our bug, a lost connection) is tried again this much later. */
const RETRY_FAILED_AFTER_MS = 10 * 60 * 1000;

/**
 * Fires every timer due by `now`, each in its own transaction (SKIP LOCKED: two workers never
 * fire the same timer). A refusal inside a transition is that timer's outcome; an unexpected
 * failure is logged and the timer tried again later, so one bad timer never blocks the rest.
 * Returns how many timers it handled.
 */
export async function fireDueTimers(database: Database, deps: TimerDeps, logger?: Logger): Promise<number> {
  const now = deps.now();
  let handled = 0;
  for (;;) {
    const found = await database.transaction(async (tx) => {
      const [timer] = await tx
        .select()
        .from(bountyTimers)
        .where(and(isNull(bountyTimers.firedAt), lte(bountyTimers.dueAt, now)))
        .orderBy(asc(bountyTimers.dueAt))
        .limit(1)
        .for('update', { skipLocked: true });
      if (!timer) return false;
      // A savepoint: whatever the timer did is undone if it fails, and the timer row stays ours.
      const outcome = await tx.transaction((inner) => fireTimer(inner, deps, timer, now)).then(
        (done) => ({ done }),
        (error: unknown) => ({ error }),
      );
      if ('done' in outcome) {
        await tx.update(bountyTimers).set({ firedAt: now, outcome: outcome.done }).where(eq(bountyTimers.id, timer.id));
      } else if (outcome.error instanceof HttpError && outcome.error.status < 500) {
        await tx.update(bountyTimers).set({ firedAt: now, outcome: `refused: ${outcome.error.code}` }).where(eq(bountyTimers.id, timer.id));
      } else {
        logger?.error({ err: outcome.error, timerId: timer.id, kind: timer.kind, bountyId: timer.bountyId }, 'bounty timer failed; retrying later');
        await tx.update(bountyTimers).set({ dueAt: new Date(now.getTime() + RETRY_FAILED_AFTER_MS) }).where(eq(bountyTimers.id, timer.id));
      }
      return true;
    });
    if (!found) return handled;
    handled += 1;
  }
}

/** Timers of a bounty, for tests and operators. */
export const timersOf = (database: Pick<Database, 'select'>, bountyId: string) =>
  database.select().from(bountyTimers).where(eq(bountyTimers.bountyId, bountyId)).orderBy(asc(bountyTimers.dueAt), sql`${bountyTimers.kind}`);

export const timersJob = (deps: TimerDeps) =>
  defineJob<Record<string, never>>({
    name: TIMERS_JOB,
    payload: z.object({}).strict(),
    retryLimit: 2,
    retryDelaySeconds: 30,
    retryBackoff: false,
    expireInSeconds: 5 * 60,
    cron: '* * * * *',
    async handler(_payload, context) {
      const fired = await fireDueTimers(context.database.primary, deps, context.logger);
      if (fired > 0) context.logger.info({ fired }, 'bounty timers fired');
    },
  });
