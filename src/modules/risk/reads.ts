/**
 * What staff read: the review queue (withdrawals the rules held, oldest first, walking
 * withdrawals_held_idx) with each user's score and newest events, and one user's risk record
 * (score, factors, events newest first through risk_events_user_idx). Routed reads: a replica a
 * moment behind shows the queue a moment late, which a review can afford.
 */
import { and, asc, desc, eq, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type DatabaseSession, type RiskEvent, riskEvents, riskScores, selectRows, users, withdrawals } from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { money } from '../ledger';
import type { QueueItem, RiskEventView, UserRiskView } from './schemas';

const LATEST_EVENTS = 5;

export const toRiskEventView = (event: Pick<RiskEvent, 'id' | 'rule' | 'outcome' | 'subjectType' | 'subjectId' | 'detail' | 'createdAt'>): RiskEventView => ({
  id: String(event.id),
  rule: event.rule,
  outcome: event.outcome,
  subjectType: event.subjectType,
  subjectId: event.subjectId,
  detail: event.detail,
  createdAt: event.createdAt,
});

const latestEventRow = z.object({
  id: z.coerce.number().int(),
  user_id: z.string(),
  rule: z.string(),
  outcome: z.enum(['allow', 'warn', 'flag', 'hold', 'deny']),
  subject_type: z.string(),
  subject_id: z.string().nullable(),
  detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  created_at: z.coerce.date(),
});

/** The newest few events of each user, one index walk per user (a lateral join). */
async function latestEventsOf(db: DatabaseSession, userIds: readonly string[]): Promise<Map<string, RiskEventView[]>> {
  const byUser = new Map<string, RiskEventView[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db.read((reader) =>
    selectRows(
      reader,
      sql`select e.* from unnest(${sql`array[${sql.join(userIds.map((id) => sql`${id}`), sql`, `)}]::text[]`}) as u(user_id)
          cross join lateral (
            select id, user_id, rule, outcome, subject_type, subject_id, detail, created_at from risk_events
            where risk_events.user_id = u.user_id
            order by created_at desc, id desc
            limit ${LATEST_EVENTS}
          ) e`,
      latestEventRow,
    ),
  );
  for (const row of rows) {
    const list = byUser.get(row.user_id) ?? [];
    list.push(
      toRiskEventView({ id: row.id, rule: row.rule, outcome: row.outcome, subjectType: row.subject_type, subjectId: row.subject_id, detail: row.detail, createdAt: row.created_at }),
    );
    byUser.set(row.user_id, list);
  }
  return byUser;
}

/** Held withdrawals, oldest first (the one waiting longest on top). */
export async function riskQueue(db: DatabaseSession, page: { limit: number; cursor: KeysetCursor | null }): Promise<{ items: QueueItem[]; nextCursor: string | null }> {
  const { cursor } = page;
  const rows = await db.read((reader) =>
    reader
      .select({
        withdrawal: withdrawals,
        cursorAt: sql<string>`${withdrawals.createdAt}::text`,
        userName: users.name,
        userEmail: users.email,
        userCreatedAt: users.createdAt,
        score: riskScores.score,
        level: riskScores.level,
        computedAt: riskScores.computedAt,
      })
      .from(withdrawals)
      .leftJoin(users, eq(users.id, withdrawals.userId))
      .leftJoin(riskScores, eq(riskScores.userId, withdrawals.userId))
      .where(
        and(
          eq(withdrawals.status, 'held'),
          cursor ? sql`(${withdrawals.createdAt}, ${withdrawals.id}) > (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
        ),
      )
      .orderBy(asc(withdrawals.createdAt), asc(withdrawals.id))
      .limit(page.limit + 1),
  );
  const shown = rows.slice(0, page.limit);
  const events = await latestEventsOf(db, [...new Set(shown.map((row) => row.withdrawal.userId))]);
  return keysetPage(
    rows,
    page.limit,
    (row) => ({
      withdrawal: {
        id: row.withdrawal.id,
        amount: money(row.withdrawal.amount, row.withdrawal.currency),
        status: row.withdrawal.status,
        heldReason: row.withdrawal.heldReason,
        createdAt: row.withdrawal.createdAt,
      },
      user: { id: row.withdrawal.userId, name: row.userName, email: row.userEmail, createdAt: row.userCreatedAt },
      risk: row.score !== null && row.level !== null && row.computedAt !== null ? { score: row.score, level: row.level, computedAt: row.computedAt } : null,
      latestEvents: events.get(row.withdrawal.userId) ?? [],
    }),
    (row) => ({ t: row.cursorAt, i: row.withdrawal.id }),
  );
}

/** A user's score and events, newest first; null when there is no such user and no record of one. */
export async function userRisk(
  db: DatabaseSession,
  userId: string,
  page: { limit: number; cursor: KeysetCursor | null },
): Promise<{ view: UserRiskView; nextCursor: string | null } | null> {
  const { cursor } = page;
  const conditions: SQL[] = [eq(riskEvents.userId, userId)];
  if (cursor) conditions.push(sql`(${riskEvents.createdAt}, ${riskEvents.id}) < (${cursor.t}::timestamptz, ${cursor.i}::bigint)`);
  const [scores, known, eventRows] = await db.read((reader) =>
    Promise.all([
      reader.select().from(riskScores).where(eq(riskScores.userId, userId)),
      reader.select({ id: users.id }).from(users).where(eq(users.id, userId)),
      reader
        .select({ event: riskEvents, cursorAt: sql<string>`${riskEvents.createdAt}::text` })
        .from(riskEvents)
        .where(and(...conditions))
        .orderBy(desc(riskEvents.createdAt), desc(riskEvents.id))
        .limit(page.limit + 1),
    ]),
  );
  const score = scores[0];
  if (!score && known.length === 0 && eventRows.length === 0 && !cursor) return null;
  const events = keysetPage(eventRows, page.limit, (row) => toRiskEventView(row.event), (row) => ({ t: row.cursorAt, i: String(row.event.id) }));
  return {
    view: {
      userId,
      score: score?.score ?? null,
      level: score?.level ?? null,
      factors: score?.factors ?? {},
      computedAt: score?.computedAt ?? null,
      events: events.items,
    },
    nextCursor: events.nextCursor,
  };
}
