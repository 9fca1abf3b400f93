/**
 * The reconcile job: a deferred webhook event again, once the object it is about can be
 * retrieved from Stripe. Retried with backoff while the object is still unknown.
 */
import { z } from 'zod';
import { defineJob, type JobQueue, type RetryTiming } from '../../jobs';
import type { Stripe } from '../../lib/stripe';
import { type EnqueueReconcile, reconcileEvent } from './service';

export const RECONCILE_JOB = 'webhooks.reconcile';

const reconcilePayload = z.object({ eventId: z.string().min(1).max(255) });

export const RECONCILE_RETRY: RetryTiming = { retryDelaySeconds: 5, retryLimit: 20 };

export const reconcileJob = (deps: { stripe: Stripe; retry?: RetryTiming }) =>
  defineJob<z.infer<typeof reconcilePayload>>({
    name: RECONCILE_JOB,
    payload: reconcilePayload,
    retryLimit: (deps.retry ?? RECONCILE_RETRY).retryLimit,
    retryDelaySeconds: (deps.retry ?? RECONCILE_RETRY).retryDelaySeconds,
    retryBackoff: true,
    retryDelayMaxSeconds: 3_600,
    expireInSeconds: deps.retry?.expireInSeconds ?? 120,
    deadLetter: true,
    async handler(payload, context) {
      await reconcileEvent({ database: context.database.primary, stripe: deps.stripe, logger: context.logger }, payload.eventId);
    },
  });

export const reconcileEnqueuer = (queue: JobQueue): EnqueueReconcile => async (tx, eventId) => {
  await queue.send(RECONCILE_JOB, { eventId }, { tx, singletonKey: eventId });
};
