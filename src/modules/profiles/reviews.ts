/**
 * Reviews: once a bounty's work has ended (completed, or cancelled after a hunter was accepted),
 * its poster and its hunter may rate each other once each, within the review window after
 * `closed_at`. Double-blind: a review is hidden (from the other side too) until both have reviewed
 * or the window has closed; `visible_from` holds that moment, so every reader filters on
 * `visible_from <= now` and nothing has to flip when the window ends.
 *
 * A review a moderator removed (`hidden_at`) is no longer listed, nor counted (stats.ts). Two
 * people of whom either blocked the other do not review each other (blocks/check.ts).
 *
 * The two sides' reviews can race: each review locks the bounty row first (`FOR UPDATE`), so the
 * second one always sees the first and opens both at once, in one transaction.
 */
import type { Viewer } from '../../lib/auth';
import { and, asc, desc, eq, isNull, lte, or, type SQL, sql } from 'drizzle-orm';
import { type Bounty, bounties, type BountyReview, bountyReviews, bountyTransitions, type DatabaseSession, preparedPerHandle, profiles, type Transaction } from '../../db';
import { findErrorCode } from '../../lib/errors';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { eitherBlocked } from '../blocks/check';
import { canSee, lockBounty } from '../bounties/engine';
import { recordEvents } from '../outbox';
import { PROFILES_ERRORS } from './errors';
import type { NewReview, ReviewerRole, ReviewView } from './schemas';
import { userExists } from './service';


const DAY_MS = 86_400_000;

export const toReviewView = (review: BountyReview, bountyTitle: string | null, reviewerName: string | null, now: Date): ReviewView => ({
  id: review.id,
  bountyId: review.bountyId,
  bountyTitle,
  reviewerId: review.reviewerId,
  reviewerName,
  reviewerRole: review.reviewerRole,
  revieweeId: review.revieweeId,
  rating: review.rating,
  text: review.text,
  context: review.context,
  visible: review.visibleFrom.getTime() <= now.getTime(),
  visibleFrom: review.visibleFrom,
  createdAt: review.createdAt,
});

/** The side `userId` was on, when the bounty's work has a counterpart to review. */
function sideOf(bounty: Bounty, userId: string): ReviewerRole | null {
  if (userId === bounty.posterId) return 'poster';
  if (bounty.hunterId !== null && userId === bounty.hunterId) return 'hunter';
  return null;
}

/** How the work ended, as shown beside the review. A dispute outweighs how it closed. */
async function contextOf(tx: Transaction, bounty: Bounty): Promise<BountyReview['context']> {
  const [disputed] = await tx
    .select({ id: bountyTransitions.id })
    .from(bountyTransitions)
    .where(and(eq(bountyTransitions.bountyId, bounty.id), eq(bountyTransitions.action, 'dispute')))
    .limit(1);
  if (disputed) return 'disputed';
  return bounty.state === 'cancelled' ? 'cancelled' : 'completed';
}

export type ReviewSettings = Readonly<{ now: Date; windowDays: number }>;

/**
 * Records `reviewer`'s review of the other side. Refusals, in order: a bounty the reviewer cannot
 * see is 404 (as one that does not exist); someone who is neither its poster nor its hunter 403;
 * work not ended 409 REVIEW_NOT_OPEN; past the window 409 REVIEW_WINDOW_CLOSED; either of the two
 * blocked the other 403 USER_BLOCKED; a second review
 * 409 ALREADY_REVIEWED.
 */
export async function createReview(
  db: DatabaseSession,
  reviewer: NonNullable<Viewer>,
  bountyId: string,
  input: NewReview,
  settings: ReviewSettings,
): Promise<ReviewView> {
  const { now } = settings;
  try {
    return await db.transaction(async (tx) => {
      const bounty = await lockBounty(tx, bountyId);
      if (!bounty || !(await canSee(tx, bounty, reviewer))) throw PROFILES_ERRORS.error('BOUNTY_NOT_FOUND');
      const side = sideOf(bounty, reviewer.id);
      if (side === null) throw PROFILES_ERRORS.error('NOT_A_PARTY');
      const ended = bounty.state === 'completed' || (bounty.state === 'cancelled' && bounty.hunterId !== null);
      if (!ended || bounty.closedAt === null || bounty.hunterId === null) throw PROFILES_ERRORS.error('REVIEW_NOT_OPEN');
      const windowEnd = new Date(bounty.closedAt.getTime() + settings.windowDays * DAY_MS);
      if (now.getTime() > windowEnd.getTime()) {
        throw PROFILES_ERRORS.error('REVIEW_WINDOW_CLOSED', `Reviews for this bounty closed at ${windowEnd.toISOString()}`);
      }
      const revieweeId = side === 'poster' ? bounty.hunterId : bounty.posterId;
      if (await eitherBlocked(tx, reviewer.id, revieweeId)) throw PROFILES_ERRORS.error('USER_BLOCKED');
      const existing = await tx
        .select({ id: bountyReviews.id, reviewerId: bountyReviews.reviewerId })
        .from(bountyReviews)
        .where(eq(bountyReviews.bountyId, bounty.id));
      if (existing.some((review) => review.reviewerId === reviewer.id)) throw PROFILES_ERRORS.error('ALREADY_REVIEWED');
      const counterpart = existing.find((review) => review.reviewerId === revieweeId);
      // The second side's review opens both now; a first one waits for the other or the window.
      const visibleFrom = counterpart ? now : windowEnd;
      const [review] = await tx
        .insert(bountyReviews)
        .values({
          bountyId: bounty.id,
          reviewerId: reviewer.id,
          revieweeId,
          reviewerRole: side,
          rating: input.rating,
          text: input.text,
          context: await contextOf(tx, bounty),
          visibleFrom,
          createdAt: now,
        })
        .returning();
      if (!review) throw new Error('insert into bounty_reviews returned no row');
      if (counterpart) await tx.update(bountyReviews).set({ visibleFrom: now }).where(eq(bountyReviews.id, counterpart.id));
      await recordEvents(tx, now, [
        {
          topic: 'review.created',
          recipientId: revieweeId,
          subject: { type: 'bounty', id: bounty.id },
          payload: { title: bounty.title, reviewId: review.id, visibleFrom: visibleFrom.toISOString() },
        },
      ]);
      const [name] = await tx.select({ displayName: profiles.displayName }).from(profiles).where(eq(profiles.userId, reviewer.id));
      return toReviewView(review, bounty.title, name?.displayName ?? null, now);
    });
  } catch (error) {
    // Unreachable under the bounty lock; the unique (bounty_id, reviewer_id) is the second line.
    if (findErrorCode(error, (code) => code === '23505')) throw PROFILES_ERRORS.error('ALREADY_REVIEWED');
    throw error;
  }
}

/**
 * A bounty's reviews: the visible ones, plus the viewer's own even while it is hidden (never one
 * a moderator removed). null when the viewer may not see the bounty (404).
 */
/**
 * A review a person may read: not hidden by a moderator, and past its double-blind window (its
 * author reads it before). The bounty's reviews and a report on a review both ask this.
 */
export const reviewShownTo = (viewerId: string | null, now: Date): SQL | undefined =>
  and(isNull(bountyReviews.hiddenAt), or(lte(bountyReviews.visibleFrom, now), viewerId ? eq(bountyReviews.reviewerId, viewerId) : undefined));

export async function listBountyReviews(db: DatabaseSession, viewer: Viewer, bountyId: string, now: Date): Promise<ReviewView[] | null> {
  return db.read(async (reader) => {
    const [bounty] = await reader.select().from(bounties).where(eq(bounties.id, bountyId)).limit(1);
    if (!bounty || !(await canSee(reader, bounty, viewer))) return null;
    const rows = await reader
      .select({ review: bountyReviews, reviewerName: profiles.displayName })
      .from(bountyReviews)
      .leftJoin(profiles, eq(profiles.userId, bountyReviews.reviewerId))
      .where(
        and(
          eq(bountyReviews.bountyId, bounty.id),
          reviewShownTo(viewer?.id ?? null, now),
        ),
      )
      .orderBy(asc(bountyReviews.createdAt), asc(bountyReviews.id))
      .limit(10);
    return rows.map((row) => toReviewView(row.review, bounty.title, row.reviewerName, now));
  });
}

const reviewsPage = (afterCursor: boolean) =>
  preparedPerHandle((db) =>
    db
      .select({
        review: bountyReviews,
        // A cancelled or removed bounty is not public (GET /bounties/:id is 404): its review keeps
        // its rating and text, not the bounty's title.
        bountyTitle: sql<string | null>`case when ${bounties.state} = 'cancelled' or ${bounties.hiddenAt} is not null then null else ${bounties.title} end`,
        reviewerName: profiles.displayName,
        cursorAt: sql<string>`${bountyReviews.createdAt}::text`,
      })
      .from(bountyReviews)
      .innerJoin(bounties, eq(bounties.id, bountyReviews.bountyId))
      .leftJoin(profiles, eq(profiles.userId, bountyReviews.reviewerId))
      .where(
        and(
          eq(bountyReviews.revieweeId, sql.placeholder('userId')),
          sql`${bountyReviews.visibleFrom} <= ${sql.placeholder('now')}::timestamptz`,
          isNull(bountyReviews.hiddenAt),
          afterCursor
            ? sql`(${bountyReviews.createdAt}, ${bountyReviews.id}) < (${sql.placeholder('t')}::timestamptz, ${sql.placeholder('i')}::uuid)`
            : undefined,
        ),
      )
      .orderBy(desc(bountyReviews.createdAt), desc(bountyReviews.id))
      .limit(sql.placeholder('limit'))
      .prepare(`profiles_reviews_page${afterCursor ? '_after' : ''}`),
  );
const firstReviewsPage = reviewsPage(false);
const nextReviewsPage = reviewsPage(true);

export type ReviewPage = { items: ReviewView[]; nextCursor: string | null };

/** Visible reviews about `userId` (not removed by a moderator), newest first; null when there is no such account. */
export async function listUserReviews(
  db: DatabaseSession,
  userId: string,
  options: { limit: number; cursor: KeysetCursor | null; now: Date },
): Promise<ReviewPage | null> {
  const { cursor, now } = options;
  const values = { userId, now: now.toISOString(), limit: options.limit + 1 };
  const rows = await db.read(async (reader) => {
    if (!(await userExists(reader, userId))) return null;
    return cursor ? nextReviewsPage(reader).execute({ ...values, t: cursor.t, i: cursor.i }) : firstReviewsPage(reader).execute(values);
  });
  if (rows === null) return null;
  return keysetPage(
    rows,
    options.limit,
    (row) => toReviewView(row.review, row.bountyTitle, row.reviewerName, now),
    (row) => ({ t: row.cursorAt, i: row.review.id }),
  );
}
