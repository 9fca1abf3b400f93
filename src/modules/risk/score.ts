/**
 * A risk score per user, 0..100, and its level, recomputed by a job (jobs.ts) from the user's
 * recent risk events and a few account facts. Staff read it beside held withdrawals and on the
 * account; nothing is decided by it automatically.
 *
 * How it is computed (scoreOf, pure):
 * - Each risk event of the last SCORE_WINDOW_DAYS counts its rule's weight (EVENT_WEIGHTS), halved
 *   every SCORE_HALF_LIFE_DAYS of age; a rule's events together count at most RULE_CAP points.
 * - Account facts: an account younger than RISK_NEW_ACCOUNT_DAYS without completed work +10;
 *   every other account sharing a device or payout destination with it +10 (at most +30); a
 *   completed bounty as poster or hunter -10.
 * - The sum, rounded and bounded to 0..100. Level: high from 60, medium from 30, else low.
 * `factors` keeps each contribution by name: why the score is what it is.
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { RiskSettings } from '../../config/env';
import { type Database, type RiskLevel, riskScores, selectRows } from '../../db';
import { RISK_RULES, type RuleName } from './rules';

/** Points one fresh event of each rule adds (its outcome is the rule's: see RISK_RULES). */
export const EVENT_WEIGHTS: Record<RuleName, number> = {
  failed_payments: 25,
  deposit_velocity: 15,
  card_hold: 5,
  withdrawal_velocity: 15,
  deposit_then_withdraw: 20,
  payout_details_changed: 10,
  new_account_reward: 5,
  new_account_open_bounties: 5,
  new_account_requests: 5,
  off_platform_contact: 8,
  linked_accounts: 30,
};
export const SCORE_WINDOW_DAYS = 30;
export const SCORE_HALF_LIFE_DAYS = 7;
export const RULE_CAP = 40;
export const ACCOUNT_WEIGHTS = { newAccount: 10, perLinkedAccount: 10, linkedAccountsCap: 30, completedWork: -10 } as const;
export const LEVELS: ReadonlyArray<readonly [RiskLevel, number]> = [
  ['high', 60],
  ['medium', 30],
  ['low', 0],
];

const DAY_MS = 86_400_000;

export type ScoredEvent = Readonly<{ rule: string; createdAt: Date }>;
export type ScoreAccount = Readonly<{ createdAt: Date | null; hasCompletedWork: boolean; otherLinkedAccounts: number }>;
export type Score = Readonly<{ score: number; level: RiskLevel; factors: Record<string, number> }>;

export const levelOf = (score: number): RiskLevel => LEVELS.find(([, from]) => score >= from)?.[0] ?? 'low';

const isRule = (name: string): name is RuleName => name in RISK_RULES;
const round1 = (value: number): number => Math.round(value * 10) / 10;

export function scoreOf(events: readonly ScoredEvent[], account: ScoreAccount, now: Date, settings: RiskSettings): Score {
  const byRule = new Map<string, number>();
  for (const event of events) {
    if (!isRule(event.rule)) continue;
    const ageDays = Math.max(0, (now.getTime() - event.createdAt.getTime()) / DAY_MS);
    if (ageDays > SCORE_WINDOW_DAYS) continue;
    const points = EVENT_WEIGHTS[event.rule] * 0.5 ** (ageDays / SCORE_HALF_LIFE_DAYS);
    byRule.set(event.rule, Math.min(RULE_CAP, (byRule.get(event.rule) ?? 0) + points));
  }
  const factors: Record<string, number> = {};
  for (const [rule, points] of byRule) factors[rule] = round1(points);
  const young = account.createdAt !== null && now.getTime() - account.createdAt.getTime() < settings.newAccountDays * DAY_MS;
  if (young && !account.hasCompletedWork) factors.new_account = ACCOUNT_WEIGHTS.newAccount;
  if (account.otherLinkedAccounts > 0) {
    factors.shared_device_or_destination = Math.min(ACCOUNT_WEIGHTS.linkedAccountsCap, account.otherLinkedAccounts * ACCOUNT_WEIGHTS.perLinkedAccount);
  }
  if (account.hasCompletedWork) factors.completed_work = ACCOUNT_WEIGHTS.completedWork;
  const total = Object.values(factors).reduce((sum, points) => sum + points, 0);
  const score = Math.max(0, Math.min(100, Math.round(total)));
  return { score, level: levelOf(score), factors };
}

/** The newest events a score reads: enough for any rule to reach its cap. */
const EVENTS_PER_USER = 200;

const eventRow = z.object({ rule: z.string(), created_at: z.coerce.date() });
const accountRow = z.object({ created_at: z.coerce.date().nullable(), completed: z.boolean(), linked: z.coerce.number().int() });

/** Reads what one user's score is computed from (on the primary: the job's). */
async function scoreInputs(db: Database, userId: string, now: Date) {
  const since = new Date(now.getTime() - SCORE_WINDOW_DAYS * DAY_MS).toISOString();
  const events = await selectRows(
    db,
    sql`select rule, created_at from risk_events
        where user_id = ${userId} and created_at > ${since}::timestamptz
        order by created_at desc, id desc limit ${EVENTS_PER_USER}`,
    eventRow,
  );
  const [account] = await selectRows(
    db,
    sql`select
          (select created_at from users where id = ${userId}) as created_at,
          exists (select 1 from bounties b where b.state = 'completed' and (b.poster_id = ${userId} or b.hunter_id = ${userId})) as completed,
          (select count(distinct other.user_id) from account_links mine
             join account_links other on other.kind = mine.kind and other.fingerprint = mine.fingerprint and other.user_id <> mine.user_id
            where mine.user_id = ${userId}) as linked`,
    accountRow,
  );
  return {
    events: events.map((row) => ({ rule: row.rule, createdAt: row.created_at })),
    account: { createdAt: account?.created_at ?? null, hasCompletedWork: account?.completed ?? false, otherLinkedAccounts: account?.linked ?? 0 },
  };
}

/** Computes and stores one user's score. */
export async function recomputeScore(db: Database, userId: string, now: Date, settings: RiskSettings): Promise<Score> {
  const inputs = await scoreInputs(db, userId, now);
  const score = scoreOf(inputs.events, inputs.account, now, settings);
  await db
    .insert(riskScores)
    .values({ userId, ...score, computedAt: now })
    .onConflictDoUpdate({ target: riskScores.userId, set: { score: score.score, level: score.level, factors: score.factors, computedAt: now } });
  return score;
}

/** The newest events the job looks through for users to rescore (a primary-key walk, bounded). */
const RECENT_EVENTS_SCANNED = 20_000;
/** Scores above low are recomputed at least this often: they decay as their events age. */
const STALE_AFTER_MS = 60 * 60 * 1000;

const userRow = z.object({ user_id: z.string() });

/**
 * Users whose score is out of date, a batch at a time: those with an event newer than their score
 * (among the newest RECENT_EVENTS_SCANNED events, walked by id), then medium and high scores not
 * recomputed within the hour (their events decay). A user just recomputed is neither.
 */
export async function staleScoreUsers(db: Database, now: Date, limit: number): Promise<string[]> {
  const withEvents = await selectRows(
    db,
    sql`with recent as (select user_id, created_at from risk_events order by id desc limit ${RECENT_EVENTS_SCANNED})
        select r.user_id from recent r left join risk_scores s on s.user_id = r.user_id
        where s.computed_at is null or r.created_at > s.computed_at
        group by r.user_id
        limit ${limit}`,
    userRow,
  );
  if (withEvents.length >= limit) return withEvents.map((row) => row.user_id);
  const decaying = await selectRows(
    db,
    sql`select user_id from risk_scores
        where level in ('medium', 'high') and computed_at < ${new Date(now.getTime() - STALE_AFTER_MS).toISOString()}::timestamptz
        limit ${limit - withEvents.length}`,
    userRow,
  );
  return [...new Set([...withEvents, ...decaying].map((row) => row.user_id))];
}
