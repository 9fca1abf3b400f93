/**
 * Every job type the service has, in one list: src/server.ts and src/worker.ts define them all on
 * the queue, so a process can send any of them and a worker runs them all. A feature adds its
 * definitions here (built with `defineJob` in its own module); what a handler needs beyond the
 * job context (the Stripe client) comes in `deps`. It sits beside app.ts, not in src/jobs: like
 * the app, it is where the modules are put together, and src/jobs stays below them.
 */
import { z } from 'zod';
import type { Stripe } from './lib/stripe';
import type { AppConfig, ConversationSettings, MarketplaceSettings, NotificationSettings, RiskSettings } from './config/env';
import { analyticsConsumers, analyticsJobs } from './modules/analytics/jobs';
import { bountyFunder } from './modules/bounties/funding';
import { timersJob } from './modules/bounties/timers';
import { ledgerCheckJob } from './modules/ledger/jobs';
import { notificationJobs } from './modules/notifications/jobs';
import { realtimeJobs } from './modules/realtime/jobs';
import { riskJobs } from './modules/risk/jobs';
import { payoutJob } from './modules/wallet/jobs';
import { depositSweepJob, reconcileJob } from './modules/webhooks/jobs';
import { deleteExpiredIdempotencyKeys } from './plugins/idempotency';
import { type AnyJobDefinition, defineJob, type RetryTiming } from './jobs';

export type JobDeps = {
  stripe: Stripe;
  /** The lifecycle's clocks and limits (bounty timers, a bounty opened by its card payment). */
  marketplace: MarketplaceSettings;
  /** Push and email delivery (notifications), and when unread messages are worth a reminder. */
  notifications: NotificationSettings;
  conversations: ConversationSettings;
  /** Risk rules' thresholds (the score job reads them). */
  risk: RiskSettings;
  /** Whether analytics records (the outbox's dispatch hands it events) and where it forwards them. */
  analytics: AppConfig['analytics'];
  /** The clock timers and sweeps judge by; tests move it. */
  now?: () => Date;
  /** Tests shorten the payout and reconcile retries; production keeps the modules' defaults. */
  retry?: RetryTiming;
};

/** Stored Idempotency-Key responses past their 24 h. */
const idempotencyCleanupJob = defineJob<Record<string, never>>({
  name: 'idempotency.cleanup',
  payload: z.object({}).strict(),
  retryLimit: 2,
  retryDelaySeconds: 60,
  retryBackoff: false,
  expireInSeconds: 10 * 60,
  cron: '17 * * * *',
  async handler(_payload, context) {
    const deleted = await deleteExpiredIdempotencyKeys(context.database.primary, new Date());
    context.logger.info({ deleted }, 'expired idempotency keys deleted');
  },
});

export const jobDefinitions = (deps: JobDeps): readonly AnyJobDefinition[] => {
  const now = deps.now ?? (() => new Date());
  const marketplace = { settings: deps.marketplace };
  const fundBounty = bountyFunder({ marketplace, now });
  return [
    ledgerCheckJob,
    idempotencyCleanupJob,
    payoutJob(deps),
    reconcileJob({ ...deps, fundBounty }),
    depositSweepJob({ ...deps, fundBounty, now }),
    timersJob({ settings: deps.marketplace, now }),
    ...notificationJobs({
      settings: deps.notifications,
      conversations: deps.conversations,
      now,
      consumers: analyticsConsumers(deps.analytics),
      ...(deps.retry ? { retry: deps.retry } : {}),
    }),
    ...realtimeJobs({ now }),
    ...riskJobs({ risk: deps.risk, now }),
    ...analyticsJobs({ settings: deps.analytics, now }),
  ];
};
