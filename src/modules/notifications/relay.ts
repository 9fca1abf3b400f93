/**
 * Hears new outbox ids on the bus and enqueues one dispatch job per id, with a job id fixed by the
 * event (names.ts): N instances hearing the same NOTIFY enqueue it once. Nothing is lost when no
 * instance listened (a restart, a dropped LISTEN connection): `onListen` asks for a sweep of every
 * undelivered event, and the sweep also runs every minute for events older than 30 s.
 *
 * An event whose dispatch job failed for good (past its retries; a dead letter, logged with the
 * event id) keeps that job under its fixed id for pg-boss's retention (days), during which a send
 * with that id is ignored: the sweep asks the queue for the job's state and then sends a job of
 * an hourly id instead (hourlyDispatchJobId), so such an event is tried again once an hour, not
 * every minute, and not only once the failed job is deleted.
 */
import { and, asc, isNull, lte } from 'drizzle-orm';
import { type Database, outboxEvents } from '../../db';
import type { JobQueue, JobState } from '../../jobs';
import type { Logger } from '../../lib/logger';
import type { BusSubscriber } from '../realtime/bus';
import { DISPATCH_JOB, dispatchJobId, hourlyDispatchJobId, SWEEP_JOB } from './names';

/** The cron sweep leaves the freshest events to the NOTIFY path. */
export const SWEEP_MIN_AGE_S = 30;
const SWEEP_BATCH = 1_000;
/**
 * A live event's dispatch runs ahead of the sweep's: after an outage the sweep may enqueue a
 * thousand old events, and a notification of what just happened must not wait behind them.
 */
export const LIVE_DISPATCH_PRIORITY = 10;

const isEventId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value > 0;

export const outboxRelay = (deps: { jobs: JobQueue; logger: Logger }): BusSubscriber => {
  const logger = deps.logger.child({ component: 'outbox-relay' });
  // A queue that is not started (a process or test without jobs) refuses: nothing to do here, and
  // the sweep enqueues these events once a queue runs.
  const skipped = (error: unknown, what: Record<string, unknown>) => logger.debug({ err: error, ...what }, 'outbox relay: could not enqueue; the sweep will');
  return {
    onMessage(payload) {
      const ids = Array.isArray(payload) ? payload.filter(isEventId) : [];
      for (const eventId of ids) {
        deps.jobs.send(DISPATCH_JOB, { eventId }, { id: dispatchJobId(eventId), priority: LIVE_DISPATCH_PRIORITY }).catch((error: unknown) => skipped(error, { eventId }));
      }
    },
    onListen() {
      deps.jobs.send(SWEEP_JOB, { minAgeSeconds: 0 }).catch((error: unknown) => skipped(error, { sweep: true }));
    },
  };
};

/**
 * The dispatch job the sweep sends for an undelivered event, from the state of its fixed-id job:
 * none (never sent, or deleted) or still under way (a send of the same id is ignored): that id;
 * completed: nothing (the event was delivered since the sweep read it); failed for good or
 * cancelled: this hour's id.
 */
export function sweepJobId(eventId: number, fixedJob: JobState | null, now: Date): string | null {
  switch (fixedJob) {
    case null:
    case 'created':
    case 'retry':
    case 'active':
      return dispatchJobId(eventId);
    case 'completed':
      return null;
    case 'failed':
    case 'cancelled':
      return hourlyDispatchJobId(eventId, now);
  }
}

export type SweepQueue = Pick<JobQueue, 'send' | 'findJob'>;

/** Sends the dispatch of one undelivered event as sweepJobId decides; returns the job id sent, if any. */
export async function redispatch(jobs: SweepQueue, eventId: number, now: Date): Promise<string | null> {
  const fixed = await jobs.findJob(DISPATCH_JOB, dispatchJobId(eventId));
  const id = sweepJobId(eventId, fixed?.state ?? null, now);
  if (id !== null) await jobs.send(DISPATCH_JOB, { eventId }, { id });
  return id;
}

/** Enqueues the dispatch of undelivered events at least `minAgeSeconds` old; returns how many it looked at. */
export async function sweepUndelivered(database: Database, jobs: SweepQueue, deps: { now: Date; minAgeSeconds: number }): Promise<number> {
  const before = new Date(deps.now.getTime() - deps.minAgeSeconds * 1000);
  const rows = await database
    .select({ id: outboxEvents.id })
    .from(outboxEvents)
    .where(and(isNull(outboxEvents.deliveredAt), lte(outboxEvents.createdAt, before)))
    .orderBy(asc(outboxEvents.id))
    .limit(SWEEP_BATCH);
  for (const row of rows) await redispatch(jobs, row.id, deps.now);
  return rows.length;
}
