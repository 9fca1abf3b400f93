/**
 * Forwarding: the events queued by the recorder (only with a Mixpanel token) are sent in batches
 * by the forward job, oldest first, and deleted from the queue once the sink took them. A batch
 * the sink refused stays queued and counts an attempt; after MAX_ATTEMPTS an event is dropped
 * from the queue (it stays recorded here) and logged, so one bad event cannot stall the rest.
 */
import { and, asc, eq, gte, inArray, sql } from 'drizzle-orm';
import { analyticsEvents, analyticsForwards, type Database } from '../../db';
import type { Logger } from '../../lib/logger';
import { type AnalyticsSink, toForwarded } from './sink';

/** Mixpanel takes 50 events a request; the client splits a batch into requests of 50. */
export const FORWARD_BATCH = 500;
const MAX_BATCHES_PER_RUN = 20;
export const MAX_ATTEMPTS = 10;

export type ForwardResult = { sent: number; failed: number; dropped: number };

export async function forwardQueued(db: Database, sink: AnalyticsSink, logger: Logger, signal?: AbortSignal): Promise<ForwardResult> {
  const result: ForwardResult = { sent: 0, failed: 0, dropped: 0 };
  for (let batch = 0; batch < MAX_BATCHES_PER_RUN && !signal?.aborted; batch += 1) {
    const rows = await db
      .select({ event: analyticsEvents })
      .from(analyticsForwards)
      .innerJoin(analyticsEvents, eq(analyticsEvents.eventId, analyticsForwards.eventId))
      .orderBy(asc(analyticsForwards.eventId))
      .limit(FORWARD_BATCH);
    if (rows.length === 0) break;
    const ids = rows.map((row) => row.event.eventId);
    try {
      await sink.send(rows.map((row) => toForwarded(row.event)));
    } catch (error) {
      result.failed += ids.length;
      await db.update(analyticsForwards).set({ attempts: sql`${analyticsForwards.attempts} + 1` }).where(inArray(analyticsForwards.eventId, ids));
      const dropped = await db
        .delete(analyticsForwards)
        .where(and(inArray(analyticsForwards.eventId, ids), gte(analyticsForwards.attempts, MAX_ATTEMPTS)))
        .returning({ eventId: analyticsForwards.eventId });
      result.dropped += dropped.length;
      if (dropped.length > 0) logger.error({ err: error, sink: sink.name, dropped: dropped.length }, 'analytics: events dropped from forwarding after their last attempt');
      else logger.warn({ err: error, sink: sink.name, events: ids.length }, 'analytics: forwarding failed; the batch is tried again next run');
      break;
    }
    await db.delete(analyticsForwards).where(inArray(analyticsForwards.eventId, ids));
    result.sent += ids.length;
    if (rows.length < FORWARD_BATCH) break;
  }
  return result;
}
