/**
 * The payout job: one per withdrawal, sent in the withdrawal's transaction. Retried with backoff
 * on anything a retry may fix (every attempt is the same Stripe transfer: the idempotency key is
 * the withdrawal's); past its retries it is a dead letter and the money stays held, never lost.
 */
import { z } from 'zod';
import { defineJob, type JobQueue, persistentRetry, type RetryTiming } from '../../jobs';
import type { Stripe } from '../../lib/stripe';
import { type EnqueuePayout, executePayout } from './withdrawals';

export const PAYOUT_JOB = 'payouts.execute';

const payoutPayload = z.object({ withdrawalId: z.uuid() });

/**
 * Retries 30 s doubling up to an hour apart, 20 of them: at most about 15 h, inside the 24 h
 * Stripe keeps an idempotency key (each retry also looks for the transfer first, see
 * executePayout), then a dead letter for an operator, its money held. An attempt past 120 s
 * (beyond the Stripe client's timeout: a hung one) is retried too, with the same key.
 */
const PAYOUT_RETRY = { retryDelaySeconds: 30, retryLimit: 20, expireInSeconds: 120 };

export const payoutJob = (deps: { stripe: Stripe; retry?: RetryTiming }) =>
  defineJob<z.infer<typeof payoutPayload>>({
    name: PAYOUT_JOB,
    payload: payoutPayload,
    ...persistentRetry(PAYOUT_RETRY, deps.retry),
    async handler(payload, context) {
      const outcome = await executePayout({ database: context.database.primary, stripe: deps.stripe, logger: context.logger }, payload.withdrawalId);
      context.logger.info({ withdrawalId: payload.withdrawalId, outcome }, 'payout job done');
    },
  });

export const payoutEnqueuer = (queue: JobQueue): EnqueuePayout => async (tx, withdrawalId) => {
  await queue.send(PAYOUT_JOB, { withdrawalId }, { tx, singletonKey: withdrawalId });
};
