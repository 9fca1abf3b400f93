/**
 * Disputes as an admin rules on them: the open ones, oldest first, and a bounty's evidence (the
 * bounty and its acceptance criteria, every dispute with its grounds and answer, the history,
 * the submissions, a pending cancel proposal, and the conversation between poster and hunter
 * with deleted and removed text). The ruling itself is the marketplace's POST /bounties/:id/resolve.
 */
import { and, asc, desc, eq, inArray, isNotNull, isNull, type SQL, sql } from 'drizzle-orm';
import {
  bounties,
  bountyDisputes,
  bountyTransitions,
  conversations,
  type DatabaseSession,
  disputeOutcomes,
  messages,
  users,
} from '../../db';
import type { Viewer } from '../../lib/auth';
import { defineErrors } from '../../lib/errors';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { bountyView, disputesOf, submissionsOf } from '../bounties/service';
import { toTransitionView } from '../bounties/views';
import { viewsFor } from '../conversations/views';
import { money } from '../ledger';

export const DISPUTE_ADMIN_ERRORS = defineErrors({
  DISPUTE_NOT_FOUND: { status: 404, message: 'No dispute on this bounty' },
});

/** The newest transitions and messages an evidence page carries; older ones page through their own routes. */
export const EVIDENCE_HISTORY = 200;
export const EVIDENCE_MESSAGES = 100;

/**
 * Open disputes (not resolved), oldest first; `escalated` narrows to those past their answer
 * window (true) or still within it (false). The open ones are found by bounty_disputes_one_open
 * and sorted (a walk once an index on (created_at, id) where resolved_at is null exists); the
 * names of the page's people are read after it, by id.
 */
export async function openDisputes(db: DatabaseSession, filters: { escalated?: boolean | undefined }, page: { limit: number; cursor: KeysetCursor | null }) {
  const { cursor } = page;
  const conditions: Array<SQL | undefined> = [
    isNull(bountyDisputes.resolvedAt),
    filters.escalated === undefined ? undefined : filters.escalated ? isNotNull(bountyDisputes.escalatedAt) : isNull(bountyDisputes.escalatedAt),
    cursor ? sql`(${bountyDisputes.createdAt}, ${bountyDisputes.id}) > (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
  ];
  return db.read(async (reader) => {
    const rows = await reader
      .select({
        dispute: bountyDisputes,
        cursorAt: sql<string>`${bountyDisputes.createdAt}::text`,
        bounty: { id: bounties.id, title: bounties.title, state: bounties.state, rewardAmount: bounties.rewardAmount, currency: bounties.currency, posterId: bounties.posterId, hunterId: bounties.hunterId },
      })
      .from(bountyDisputes)
      .innerJoin(bounties, eq(bounties.id, bountyDisputes.bountyId))
      .where(and(...conditions))
      .orderBy(asc(bountyDisputes.createdAt), asc(bountyDisputes.id))
      .limit(page.limit + 1);
    const people = [...new Set(rows.flatMap((row) => [row.bounty.posterId, row.bounty.hunterId, row.dispute.openedBy]).filter((id): id is string => id !== null))];
    const named = people.length === 0 ? [] : await reader.select({ id: users.id, name: users.name }).from(users).where(inArray(users.id, people));
    const names = new Map(named.map((person) => [person.id, person.name]));
    const personOf = (id: string) => ({ id, name: names.get(id) ?? null });
    return keysetPage(
      rows,
      page.limit,
      (row) => ({
        disputeId: row.dispute.id,
        bounty: { id: row.bounty.id, title: row.bounty.title, state: row.bounty.state, reward: money(row.bounty.rewardAmount, row.bounty.currency) },
        poster: personOf(row.bounty.posterId),
        hunter: row.bounty.hunterId === null ? null : personOf(row.bounty.hunterId),
        openedBy: { ...personOf(row.dispute.openedBy), role: row.dispute.openedByRole },
        openedAt: row.dispute.createdAt,
        respondBy: row.dispute.respondBy,
        answered: row.dispute.respondedAt !== null,
        escalated: row.dispute.escalatedAt !== null,
      }),
      (row) => ({ t: row.cursorAt, i: row.dispute.id }),
    );
  });
}

/**
 * Everything an admin rules from, for a bounty that has (or had) a dispute; null when it has none.
 * `admin` is the reader: the bounty's allowed transitions are theirs (resolve, while disputed).
 */
export async function disputeEvidence(db: DatabaseSession, admin: NonNullable<Viewer>, bountyId: string) {
  const found = await db.read(async (reader) => {
    const [bounty] = await reader.select().from(bounties).where(eq(bounties.id, bountyId));
    if (!bounty) return null;
    const [anyDispute] = await reader.select({ id: bountyDisputes.id }).from(bountyDisputes).where(eq(bountyDisputes.bountyId, bountyId)).limit(1);
    if (!anyDispute) return null;
    const history = await reader
      .select()
      .from(bountyTransitions)
      .where(eq(bountyTransitions.bountyId, bountyId))
      .orderBy(desc(bountyTransitions.id))
      .limit(EVIDENCE_HISTORY + 1);
    // The hunter the dispute was with: the bounty's, or the last one its history names (a bounty
    // closed after the ruling may have none left).
    const hunterId = bounty.hunterId ?? history.find((row) => row.hunterId !== null)?.hunterId ?? null;
    const [conversation] =
      hunterId === null
        ? []
        : await reader
            .select({ id: conversations.id })
            .from(conversations)
            .where(and(eq(conversations.bountyId, bountyId), eq(conversations.hunterId, hunterId)));
    const recent = conversation
      ? await reader.select().from(messages).where(eq(messages.conversationId, conversation.id)).orderBy(desc(messages.id)).limit(EVIDENCE_MESSAGES + 1)
      : [];
    const shown = recent.slice(0, EVIDENCE_MESSAGES).reverse();
    // Admins read deleted text and edits (viewsFor), and whether a moderator removed a message.
    const hiddenAt = new Map(shown.map((row) => [row.id, row.hiddenAt]));
    const views = (await viewsFor(reader, admin, shown)).map((view) => ({ ...view, hiddenAt: hiddenAt.get(view.id) ?? null }));
    return {
      bounty,
      history: history.slice(0, EVIDENCE_HISTORY).reverse().map(toTransitionView),
      earlierHistory: history.length > EVIDENCE_HISTORY,
      conversation: conversation
        ? { id: conversation.id, messages: views, earlierMessages: recent.length > EVIDENCE_MESSAGES }
        : null,
    };
  });
  if (!found) return null;
  const [bounty, disputes, submissions] = await Promise.all([bountyView(db, admin, found.bounty), disputesOf(db, bountyId), submissionsOf(db, bountyId)]);
  const open = disputes.find((dispute) => dispute.resolvedAt === null) ?? null;
  return {
    bounty,
    disputes,
    history: found.history,
    earlierHistory: found.earlierHistory,
    submissions,
    cancelProposal: bounty.cancelProposal,
    conversation: found.conversation,
    ruling: {
      open: open !== null && found.bounty.state === 'disputed',
      disputeId: open?.id ?? null,
      action: `POST /bounties/${bountyId}/resolve`,
      outcomes: [...disputeOutcomes],
    },
  };
}
