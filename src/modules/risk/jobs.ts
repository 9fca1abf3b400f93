/**
 * The risk score job: every 15 minutes, the users whose score is out of date (a new risk event,
 * or a medium or high score whose events have aged) are rescored, in batches, at most
 * MAX_USERS_PER_RUN a run: the rest wait for the next run.
 */
import { z } from 'zod';
import type { RiskSettings } from '../../config/env';
import type { Database } from '../../db';
import { type AnyJobDefinition, defineJob } from '../../jobs';
import type { Logger } from '../../lib/logger';
import { recomputeScore, staleScoreUsers } from './score';

export const RISK_SCORE_JOB = 'risk.scores';
const BATCH_SIZE = 200;
const MAX_USERS_PER_RUN = 5_000;

export type RiskJobDeps = { risk: RiskSettings; now: () => Date };

/** One run's work; returns how many users were rescored. */
export async function recomputeStaleScores(db: Database, deps: RiskJobDeps, logger?: Logger, signal?: AbortSignal): Promise<number> {
  const now = deps.now();
  let done = 0;
  while (done < MAX_USERS_PER_RUN && !signal?.aborted) {
    const users = await staleScoreUsers(db, now, Math.min(BATCH_SIZE, MAX_USERS_PER_RUN - done));
    if (users.length === 0) break;
    for (const userId of users) await recomputeScore(db, userId, now, deps.risk);
    done += users.length;
    logger?.debug({ batch: users.length, done }, 'risk scores recomputed');
    if (users.length < BATCH_SIZE) break;
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
