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
  card_funded_earnings: 15,
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

/**
 * Computes and stores one user's score. `computed_at` is the later of `now` and the newest event
 * read: an event stamped after the job's `now` (a clock ahead of the job's) is then not taken for
 * a new one, and the user is not picked again and again within a run.
 */
export async function recomputeScore(db: Database, userId: string, now: Date, settings: RiskSettings): Promise<Score> {
  const inputs = await scoreInputs(db, userId, now);
  const score = scoreOf(inputs.events, inputs.account, now, settings);
  const newest = inputs.events[0]?.createdAt;
  const computedAt = newest && newest.getTime() > now.getTime() ? newest : now;
  await db
    .insert(riskScores)
    .values({ userId, ...score, computedAt })
    .onConflictDoUpdate({ target: riskScores.userId, set: { score: score.score, level: score.level, factors: score.factors, computedAt } });
  return score;
}

/** The events one page of the job's walk reads (by primary key, newest first). */
export const EVENTS_PER_PAGE = 20_000;
/** Scores above low are recomputed at least this often: they decay as their events age. */
const STALE_AFTER_MS = 60 * 60 * 1000;

const pageRow = z.object({
  users: z.array(z.string()).nullable(),
  min_id: z.coerce.number().int().nullable(),
  scanned: z.coerce.number().int(),
  oldest: z.coerce.date().nullable(),
});
const userRow = z.object({ user_id: z.string() });

export type StalePage = Readonly<{ users: string[]; /** Where the walk goes on (ids below it); null: the walk is over. */ nextBeforeId: number | null }>;

/**
 * Users with an event newer than their score, from one page of events walked down by id from
 * `beforeId` (null: from the newest), within the score window (older events move no score).
 * When `limit` users are found the page may hold more: the walk goes on from the same page
 * (those just rescored are no longer stale there); otherwise from below it. The job walks the
 * pages in turn, so a burst of events larger than one page leaves no user unscored.
 */
export async function staleUsersWithEvents(db: Database, now: Date, limit: number, beforeId: number | null): Promise<StalePage> {
  const since = new Date(now.getTime() - SCORE_WINDOW_DAYS * DAY_MS).toISOString();
  const below = beforeId === null ? sql`true` : sql`id < ${beforeId}`;
  const [page] = await selectRows(
    db,
    sql`with page as (select id, user_id, created_at from risk_events where ${below} order by id desc limit ${EVENTS_PER_PAGE}),
        stale as (
          select p.user_id from page p left join risk_scores s on s.user_id = p.user_id
          where p.created_at > ${since}::timestamptz and (s.computed_at is null or p.created_at > s.computed_at)
          group by p.user_id
          limit ${limit})
        select (select array_agg(user_id) from stale) as users, (select min(id) from page) as min_id,
               (select count(*) from page) as scanned, (select min(created_at) from page) as oldest`,
    pageRow,
  );
  const users = page?.users ?? [];
  if (users.length >= limit) return { users, nextBeforeId: beforeId };
  const walkedOut = !page || page.scanned < EVENTS_PER_PAGE || page.min_id === null || (page.oldest !== null && page.oldest.getTime() <= Date.parse(since));
  return { users, nextBeforeId: walkedOut ? null : page.min_id };
}

/** Medium and high scores not recomputed within the hour (their events decay). A user just recomputed is not one. */
export async function decayingScoreUsers(db: Database, now: Date, limit: number): Promise<string[]> {
  const rows = await selectRows(
    db,
    sql`select user_id from risk_scores
        where level in ('medium', 'high') and computed_at < ${new Date(now.getTime() - STALE_AFTER_MS).toISOString()}::timestamptz
        limit ${limit}`,
    userRow,
  );
  return rows.map((row) => row.user_id);
}
