/**
 * The notification jobs: the outbox fan-out (dispatch, and the sweep that re-sends what no
 * instance heard), push and email (retried with backoff, then dead), push receipts, the daily
 * digest (one job per page of recipients) and unread-message reminders. The clock-driven ones call functions tests run with a
 * moved clock; here cron calls them.
 */
import { z } from 'zod';
import type { ConversationSettings, NotificationSettings } from '../../config/env';
import type { Database } from '../../db';
import { type AnyJobDefinition, defineJob, type JobContext, persistentRetry, type RetryTiming } from '../../jobs';
import type { OutboxConsumer } from '../outbox';
import { sendDigestPage } from './digest';
import { dispatchEvent } from './dispatch';
import { sendEmail, smtpMailer } from './email';
import { DIGEST_JOB, digestPageJobId, DISPATCH_JOB, EMAIL_JOB, PUSH_JOB, RECEIPTS_JOB, REMINDERS_JOB, SWEEP_JOB } from './names';
import { checkPushReceipts, expoClient, markDead, recordFailure, sendPush } from './push';
import { SWEEP_MIN_AGE_S, sweepUndelivered } from './relay';
import { sendUnreadReminders } from './reminders';

export type NotificationJobDeps = {
  settings: NotificationSettings;
  conversations: ConversationSettings;
  now: () => Date;
  retry?: RetryTiming;
  /** Recipients per digest job (tests shorten it); default DIGEST_PAGE. */
  digestPageSize?: number;
  /** The outbox's other readers (analytics), given each event with its dispatch. */
  consumers?: readonly OutboxConsumer[];
};

const eventPayload = z.object({ eventId: z.number().int().positive() });
const deliveryPayload = z.object({ deliveryId: z.number().int().positive() });
const sweepPayload = z.object({ minAgeSeconds: z.number().int().min(0).max(86_400).optional() });
const cronPayload = z.object({}).strict();
/** The cron occurrence sends `{}` (the first page); each page sends the next with the run's cutoff. */
const digestPayload = z.object({ cutoff: z.iso.datetime().optional(), after: z.string().min(1).max(200).optional() }).strict();

/** Dispatch only touches the database: quick retries. Push and email wait on others: longer. */
const DISPATCH_RETRY = { retryDelaySeconds: 5, retryLimit: 10, expireInSeconds: 60 };
const DELIVERY_RETRY = { retryDelaySeconds: 15, retryLimit: 10, expireInSeconds: 120 };
const cron = { retryLimit: 2, retryDelaySeconds: 30, retryBackoff: false, expireInSeconds: 5 * 60 } as const;

const isLastAttempt = (context: JobContext): boolean => context.retryCount >= context.retryLimit;

export const notificationJobs = (deps: NotificationJobDeps): readonly AnyJobDefinition[] => [
  defineJob<z.infer<typeof eventPayload>>({
    name: DISPATCH_JOB,
    payload: eventPayload,
    ...persistentRetry(DISPATCH_RETRY, deps.retry),
    batchSize: 10,
    async handler(payload, context) {
      const readers = { consumers: deps.consumers ?? [], logger: context.logger };
      const outcome = await dispatchEvent(context.database.primary, payload.eventId, { now: deps.now(), jobs: context.jobs, readers });
      context.logger.debug({ eventId: payload.eventId, outcome }, 'outbox event dispatched');
    },
    // Its subject is the event: named at error level (the queue's own line names only the job).
    // The sweep tries it again within the hour (relay.ts).
    async onDeadLetter(payload, context) {
      context.logger.error({ eventId: payload.eventId }, 'outbox event not dispatched after its last retry: the sweep tries it again hourly');
    },
  }),
  defineJob<z.infer<typeof sweepPayload>>({
    name: SWEEP_JOB,
    payload: sweepPayload,
    ...cron,
    cron: '* * * * *',
    async handler(payload, context) {
      const sent = await sweepUndelivered(context.database.primary, context.jobs, { now: deps.now(), minAgeSeconds: payload.minAgeSeconds ?? SWEEP_MIN_AGE_S });
      if (sent > 0) context.logger.info({ sent }, 'undelivered outbox events re-sent to dispatch');
    },
  }),
  deliveryJob(PUSH_JOB, deps, async (database, deliveryId, context) =>
    sendPush(database, deliveryId, { now: deps.now(), expo: await expoClient(deps.settings), logger: context.logger }),
  ),
  deliveryJob(EMAIL_JOB, deps, (database, deliveryId) => sendEmail(database, deliveryId, { now: deps.now(), mailer: smtpMailer(deps.settings) })),
  defineJob<Record<string, never>>({
    name: RECEIPTS_JOB,
    payload: cronPayload,
    ...cron,
    cron: '*/5 * * * *',
    async handler(_payload, context) {
      const checked = await checkPushReceipts(context.database.primary, { now: deps.now(), expo: await expoClient(deps.settings), logger: context.logger });
      if (checked > 0) context.logger.info({ checked }, 'push receipts checked');
    },
  }),
  defineJob<z.infer<typeof digestPayload>>({
    name: DIGEST_JOB,
    payload: digestPayload,
    ...cron,
    cron: `0 ${deps.settings.digestHourUtc} * * *`,
    async handler(payload, context) {
      const now = deps.now();
      const cutoff = payload.cutoff ? new Date(payload.cutoff) : now;
      const page = await sendDigestPage(context.database.primary, {
        now,
        cutoff,
        mailer: smtpMailer(deps.settings),
        logger: context.logger,
        after: payload.after ?? null,
        ...(deps.digestPageSize !== undefined ? { pageSize: deps.digestPageSize } : {}),
      });
      context.logger.info({ sent: page.sent, after: payload.after ?? null, more: page.next !== null }, 'daily digests sent');
      if (page.next === null) return;
      // The next page as a job of its own, its id fixed by this job's: a retry of this one sends it once.
      await context.jobs.send(DIGEST_JOB, { cutoff: cutoff.toISOString(), after: page.next }, { id: digestPageJobId(context.jobId) });
    },
  }),
  defineJob<Record<string, never>>({
    name: REMINDERS_JOB,
    payload: cronPayload,
    ...cron,
    cron: '* * * * *',
    async handler(_payload, context) {
      const result = await sendUnreadReminders(context.database.primary, { now: deps.now() });
      if (result.reminded > 0) context.logger.info(result, 'unread-message reminders sent');
    },
  }),
];

/**
 * One channel's delivery job: a failed attempt is recorded on the delivery (dead on the last one)
 * and rethrown so the queue retries with backoff; a dead letter marks it dead whatever ended it.
 */
function deliveryJob(
  name: string,
  deps: NotificationJobDeps,
  send: (database: Database, deliveryId: number, context: JobContext) => Promise<string>,
) {
  return defineJob<z.infer<typeof deliveryPayload>>({
    name,
    payload: deliveryPayload,
    ...persistentRetry(DELIVERY_RETRY, deps.retry),
    batchSize: 10,
    async handler(payload, context) {
      const database = context.database.primary;
      try {
        const outcome = await send(database, payload.deliveryId, context);
        context.logger.debug({ deliveryId: payload.deliveryId, outcome }, 'delivery done');
      } catch (error) {
        await recordFailure(database, payload.deliveryId, error, isLastAttempt(context));
        throw error;
      }
    },
    // An attempt that expired or whose worker died never reached recordFailure.
    onDeadLetter: (payload, context) => markDead(context.database.primary, payload.deliveryId),
  });
}
