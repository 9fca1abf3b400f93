/**
 * The risk score job: every 15 minutes, the users whose score is out of date are rescored, in
 * batches, at most MAX_USERS_PER_RUN a run (the rest wait for the next run): first those with an
 * event newer than their score, found by walking the events of the score window down by id a page
 * at a time (at most MAX_EVENT_PAGES_PER_RUN pages), then medium and high scores whose events aged.
 *
 * What remains: a run that stops at either bound starts again from the newest events next time,
 * so a backlog deeper than a run's reach waits until the newer pages are clean; and an event
 * stamped earlier than a score it was not read by (written while that score was computed) waits
 * for the user's next event or, above low, for the hourly decay.
 */
import { z } from 'zod';
import type { RiskSettings } from '../../config/env';
import type { Database } from '../../db';
import { type AnyJobDefinition, defineJob } from '../../jobs';
import type { Logger } from '../../lib/logger';
import { decayingScoreUsers, recomputeScore, staleUsersWithEvents } from './score';

export const RISK_SCORE_JOB = 'risk.scores';
const BATCH_SIZE = 200;
const MAX_USERS_PER_RUN = 5_000;
const MAX_EVENT_PAGES_PER_RUN = 50;

export type RiskJobDeps = { risk: RiskSettings; now: () => Date };

/** One run's work; returns how many users were rescored. */
export async function recomputeStaleScores(db: Database, deps: RiskJobDeps, logger?: Logger, signal?: AbortSignal): Promise<number> {
  const now = deps.now();
  let done = 0;
  let walking = true;
  let beforeId: number | null = null;
  let pages = 0;
  while (done < MAX_USERS_PER_RUN && !signal?.aborted) {
    const limit = Math.min(BATCH_SIZE, MAX_USERS_PER_RUN - done);
    const decaying = !walking;
    let users: string[];
    if (walking) {
      const page = await staleUsersWithEvents(db, now, limit, beforeId);
      users = page.users;
      pages += 1;
      walking = page.nextBeforeId !== null && pages < MAX_EVENT_PAGES_PER_RUN;
      beforeId = page.nextBeforeId;
    } else {
      users = await decayingScoreUsers(db, now, limit);
    }
    for (const userId of users) await recomputeScore(db, userId, now, deps.risk);
    done += users.length;
    if (users.length > 0) logger?.debug({ batch: users.length, done }, 'risk scores recomputed');
    // A rescored user is not picked again (its score is as new as its events, and within the hour).
    if (decaying && users.length < limit) break;
  }
  return done;
}

export const riskJobs = (deps: RiskJobDeps): readonly AnyJobDefinition[] => [
  defineJob<Record<string, never>>({
    name: RISK_SCORE_JOB,
    payload: z.object({}).strict(),
    retryLimit: 2,
    retryDelaySeconds: 60,
    retryBackoff: false,
    expireInSeconds: 10 * 60,
    cron: '*/15 * * * *',
    async handler(_payload, context) {
      const rescored = await recomputeStaleScores(context.database.primary, deps, context.logger, context.signal);
      context.logger.info({ rescored }, 'risk scores recomputed');
    },
  }),
];
