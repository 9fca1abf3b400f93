/**
 * Hears new outbox ids on the bus and enqueues one dispatch job per id, with a job id fixed by the
 * event (names.ts): N instances hearing the same NOTIFY enqueue it once. Nothing is lost when no
 * instance listened (a restart, a dropped LISTEN connection): `onListen` asks for a sweep of every
 * undelivered event, and the sweep also runs every minute for events older than 30 s.
 */
import { and, asc, isNull, lte } from 'drizzle-orm';
import { type Database, outboxEvents } from '../../db';
import type { JobQueue } from '../../jobs';
import type { Logger } from '../../lib/logger';
import type { BusSubscriber } from '../realtime/bus';
import { DISPATCH_JOB, dispatchJobId, SWEEP_JOB } from './names';

/** The cron sweep leaves the freshest events to the NOTIFY path. */
export const SWEEP_MIN_AGE_S = 30;
const SWEEP_BATCH = 1_000;

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
        deps.jobs.send(DISPATCH_JOB, { eventId }, { id: dispatchJobId(eventId) }).catch((error: unknown) => skipped(error, { eventId }));
      }
    },
    onListen() {
      deps.jobs.send(SWEEP_JOB, { minAgeSeconds: 0 }).catch((error: unknown) => skipped(error, { sweep: true }));
    },
  };
};

/** Enqueues the dispatch of undelivered events at least `minAgeSeconds` old; returns how many it looked at. */
export async function sweepUndelivered(database: Database, jobs: Pick<JobQueue, 'send'>, deps: { now: Date; minAgeSeconds: number }): Promise<number> {
  const before = new Date(deps.now.getTime() - deps.minAgeSeconds * 1000);
  const rows = await database
    .select({ id: outboxEvents.id })
    .from(outboxEvents)
    .where(and(isNull(outboxEvents.deliveredAt), lte(outboxEvents.createdAt, before)))
    .orderBy(asc(outboxEvents.id))
    .limit(SWEEP_BATCH);
  for (const row of rows) await jobs.send(DISPATCH_JOB, { eventId: row.id }, { id: dispatchJobId(row.id) });
  return rows.length;
}
