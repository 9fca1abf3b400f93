/**
 * Forwarding: the events queued by the recorder (only with a Mixpanel token) are sent by the
 * forward job (every minute), oldest first, in requests of at most REQUEST_SIZE, and deleted from
 * the queue once the sink took them.
 *
 * Giving up goes by age, never by a count of attempts: an outage of the sink loses nothing until
 * an event has waited GIVE_UP_AFTER_MS since it was queued (Mixpanel's /track drops events older
 * than 5 days anyway); then it leaves the queue (it stays recorded here) with an error line and
 * `analytics_forward_dropped_total`.
 *
 * A refused request is split in halves, each sent again, down to single events, so an event the
 * sink always refuses takes none of its neighbours down. Refused alone in a run where the sink
 * took other events, it counts an attempt and is sent alone from then on (after the page's other
 * events). OUTAGE_FAILURES refused requests in a row (the sink is down, not one event bad) end the
 * run, so an outage costs a few requests a minute and marks nothing; a known-bad event's refusal
 * counts toward them only before anything went through.
 *
 * Runs take turns: each page is read and sent under a transaction-scoped advisory lock (a run
 * finding it taken stops), so two runs (a slow one overlapping the next minute's, another worker)
 * never send the same event twice. A page ends in its transaction: a run killed mid-page sends
 * that page again next time, which Mixpanel drops by `$insert_id`.
 */
import { asc, eq, gt, inArray, lt, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type AnalyticsEvent, analyticsEvents, analyticsForwards, type Database, selectRows, type Transaction } from '../../db';
import type { Logger } from '../../lib/logger';
import { analyticsForwardDropped } from '../../lib/metrics';
import { withTimeout } from '../../lib/timeout';
import { type AnalyticsSink, toForwarded } from './sink';

/** Mixpanel's /track takes 50 events a request. */
export const REQUEST_SIZE = 50;
const PAGE_SIZE = 500;
const MAX_PAGES_PER_RUN = 20;
/** Bounds a run (12,500 events when all goes well); the rest waits a minute. */
const MAX_REQUESTS_PER_RUN = 250;
/** Refused requests in a row that end a run: a halving down to one event fails 7 times at most. */
export const OUTAGE_FAILURES = 8;
export const GIVE_UP_AFTER_MS = 4 * 86_400_000;
/** The client has no timeout of its own: a request that hangs counts as refused (its events stay queued). */
const REQUEST_TIMEOUT_MS = 15_000;

export type ForwardResult = {
  sent: number;
  /** Events refused alone while the sink took others (kept queued, one attempt more each). */
  refused: number;
  /** Events given up on (queued more than GIVE_UP_AFTER_MS ago). */
  dropped: number;
  /** Whether the run ended because the sink refused OUTAGE_FAILURES requests in a row. */
  outage: boolean;
  /** Whether another run held the queue (this one sent nothing more). */
  busy: boolean;
};

type Queued = { event: AnalyticsEvent; attempts: number };

/** The page's requests: fresh events in order, up to REQUEST_SIZE each, then each known-refused event alone. */
function requestsOf(page: readonly Queued[]): Queued[][] {
  const fresh = page.filter((row) => row.attempts === 0);
  const requests: Queued[][] = [];
  for (let start = 0; start < fresh.length; start += REQUEST_SIZE) requests.push(fresh.slice(start, start + REQUEST_SIZE));
  for (const row of page) if (row.attempts > 0) requests.push([row]);
  return requests;
}

const lockRow = z.object({ locked: z.boolean() });

export async function forwardQueued(db: Database, sink: AnalyticsSink, logger: Logger, now: Date, signal?: AbortSignal): Promise<ForwardResult> {
  const result: ForwardResult = { sent: 0, refused: 0, dropped: 0, outage: false, busy: false };
  const expired = await db
    .delete(analyticsForwards)
    .where(lt(analyticsForwards.queuedAt, new Date(now.getTime() - GIVE_UP_AFTER_MS)))
    .returning({ eventId: analyticsForwards.eventId });
  if (expired.length > 0) {
    result.dropped = expired.length;
    analyticsForwardDropped.inc(expired.length);
    logger.error({ sink: sink.name, dropped: expired.length, eventIds: expired.slice(0, 20).map((row) => row.eventId) }, 'analytics: events dropped from forwarding, unsent 4 days after they were queued');
  }

  let requests = 0;
  let failuresInARow = 0;
  let anySent = false;
  let lastError: unknown = null;
  /** Refused alone on this page: marked at its end, unless nothing went through (an outage, not them). */
  let refusedAlone: number[] = [];
  /** Sends `batch`, halving it when refused; false once the run must stop. */
  const send = async (tx: Transaction, batch: readonly Queued[], knownBad: boolean): Promise<boolean> => {
    if (failuresInARow >= OUTAGE_FAILURES) {
      result.outage = true;
      return false;
    }
    if (signal?.aborted || requests >= MAX_REQUESTS_PER_RUN) return false;
    requests += 1;
    const ids = batch.map((row) => row.event.eventId);
    try {
      await withTimeout(sink.send(batch.map((row) => toForwarded(row.event))), REQUEST_TIMEOUT_MS, `${sink.name} request`);
    } catch (error) {
      lastError = error;
      if (!knownBad || !anySent) failuresInARow += 1;
      if (batch.length === 1) {
        refusedAlone.push(...ids);
        return true;
      }
      const half = Math.ceil(batch.length / 2);
      return (await send(tx, batch.slice(0, half), knownBad)) && send(tx, batch.slice(half), knownBad);
    }
    failuresInARow = 0;
    anySent = true;
    await tx.delete(analyticsForwards).where(inArray(analyticsForwards.eventId, ids));
    result.sent += batch.length;
    return true;
  };

  let after = 0;
  for (let page = 0; page < MAX_PAGES_PER_RUN && !signal?.aborted; page += 1) {
    const next = await db.transaction(async (tx) => {
      const [lock] = await selectRows(tx, sql`select pg_try_advisory_xact_lock(hashtext('analytics.forward')) as locked`, lockRow);
      if (!lock?.locked) {
        result.busy = true;
        return false;
      }
      const rows = await tx
        .select({ event: analyticsEvents, attempts: analyticsForwards.attempts })
        .from(analyticsForwards)
        .innerJoin(analyticsEvents, eq(analyticsEvents.eventId, analyticsForwards.eventId))
        .where(gt(analyticsForwards.eventId, after))
        .orderBy(asc(analyticsForwards.eventId))
        .limit(PAGE_SIZE);
      after = rows.at(-1)?.event.eventId ?? after;
      let stopped = false;
      for (const request of requestsOf(rows)) {
        stopped = !(await send(tx, request, (request[0]?.attempts ?? 0) > 0));
        if (stopped) break;
      }
      if (anySent && refusedAlone.length > 0) {
        await tx.update(analyticsForwards).set({ attempts: sql`${analyticsForwards.attempts} + 1` }).where(inArray(analyticsForwards.eventId, refusedAlone));
        result.refused += refusedAlone.length;
      }
      refusedAlone = [];
      return !stopped && rows.length === PAGE_SIZE;
    });
    if (!next) break;
  }
  if (result.outage) logger.warn({ err: lastError, sink: sink.name, failuresInARow }, 'analytics: forwarding stopped after refused requests in a row (the sink looks down); the queue waits for the next run');
  else if (result.refused > 0) logger.warn({ err: lastError, sink: sink.name, refused: result.refused }, 'analytics: events refused one by one stay queued, tried alone until given up');
  return result;
}
