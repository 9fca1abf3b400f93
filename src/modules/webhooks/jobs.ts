/**
 * The reconcile job: a deferred webhook event again, once the object it is about can be
 * retrieved from Stripe. Retried with backoff while the object is still unknown.
 */
import { z } from 'zod';
import { defineJob, type JobQueue, persistentRetry, type RetryTiming } from '../../jobs';
import type { Stripe } from '../../lib/stripe';
import type { FundBounty } from './effects';
import { type EnqueueReconcile, reconcileEvent, sweepWaitingDeposits } from './service';

export const RECONCILE_JOB = 'webhooks.reconcile';

const reconcilePayload = z.object({ eventId: z.string().min(1).max(255) });

/** Every few seconds at first, then up to an hour apart, for about a day. */
const RECONCILE_RETRY = { retryDelaySeconds: 5, retryLimit: 20, expireInSeconds: 120 };

export const reconcileJob = (deps: { stripe: Stripe; fundBounty: FundBounty; retry?: RetryTiming }) =>
  defineJob<z.infer<typeof reconcilePayload>>({
    name: RECONCILE_JOB,
    payload: reconcilePayload,
    ...persistentRetry(RECONCILE_RETRY, deps.retry),
    async handler(payload, context) {
      await reconcileEvent({ database: context.database.primary, stripe: deps.stripe, logger: context.logger, fundBounty: deps.fundBounty }, payload.eventId);
    },
  });

export const reconcileEnqueuer = (queue: JobQueue): EnqueueReconcile => async (tx, eventId) => {
  await queue.send(RECONCILE_JOB, { eventId }, { tx, singletonKey: eventId });
};

export const DEPOSIT_SWEEP_JOB = 'deposits.sweep';

/** Every 10 minutes, once per cluster: deposits whose webhook never came (sweepWaitingDeposits). */
export const depositSweepJob = (deps: { stripe: Stripe; fundBounty: FundBounty; now?: () => Date }) =>
  defineJob<Record<string, never>>({
    name: DEPOSIT_SWEEP_JOB,
    payload: z.object({}).strict(),
    retryLimit: 2,
    retryDelaySeconds: 60,
    retryBackoff: false,
    expireInSeconds: 10 * 60,
    cron: '*/10 * * * *',
    async handler(_payload, context) {
      await sweepWaitingDeposits(
        { database: context.database.primary, stripe: deps.stripe, logger: context.logger, fundBounty: deps.fundBounty },
        (deps.now ?? (() => new Date()))(),
      );
    },
  });
