/**
 * What a report points at: a bounty, a user, a message or a review. For a reporter, the target as
 * they may see it (else null: a 404 as for one that does not exist) with the person it is against
 * and a snapshot of its content; for staff, the same content as it is now.
 *
 * Who may see what is each module's own rule: canSee for bounties (blocks and removals included),
 * conversation membership for messages, visible_from and hidden_at for reviews.
 */
import { and, eq } from 'drizzle-orm';
import {
  bounties,
  bountyReviews,
  conversationMembers,
  type Database,
  messages,
  profiles,
  type ReportSnapshot,
  type ReportTargetType,
  type UserRole,
  users,
} from '../../db';
import { canSee } from '../bounties/engine';
import { reviewShownTo } from '../profiles/reviews';
import { MODERATION_ERRORS } from './errors';

type Reader = Pick<Database, 'select'>;

export type Reporter = Readonly<{ id: string; role: UserRole }>;

export type ReportedTarget = Readonly<{ subjectUserId: string; snapshot: ReportSnapshot }>;

const iso = (at: Date | null): string | null => (at === null ? null : at.toISOString());

/** The target's id as stored: uuids lower-cased, so one target never has two spellings. */
export const canonicalTargetId = (type: ReportTargetType, id: string): string => (type === 'bounty' || type === 'review' ? id.toLowerCase() : id);

/**
 * The target as `reporter` may see it, or null. A message must be in a conversation the reporter
 * is a member of (staff included: moderators read reported messages through the queue, not here);
 * a system message has no author to report (422).
 */
export async function reportableTarget(db: Reader, reporter: Reporter, type: ReportTargetType, id: string, now: Date): Promise<ReportedTarget | null> {
  switch (type) {
    case 'bounty': {
      const [bounty] = await db.select().from(bounties).where(eq(bounties.id, id));
      if (!bounty || !(await canSee(db, bounty, reporter))) return null;
      return {
        subjectUserId: bounty.posterId,
        snapshot: { title: bounty.title, description: bounty.description, state: bounty.state, posterId: bounty.posterId },
      };
    }
    case 'user': {
      const [user] = await userContent(db, id);
      if (!user) return null;
      return { subjectUserId: user.id, snapshot: userSnapshot(user) };
    }
    case 'message': {
      const [row] = await db
        .select({ message: messages })
        .from(messages)
        .innerJoin(conversationMembers, and(eq(conversationMembers.conversationId, messages.conversationId), eq(conversationMembers.userId, reporter.id)))
        .where(eq(messages.id, Number(id)));
      if (!row) return null;
      const { message } = row;
      if (message.senderId === null) throw MODERATION_ERRORS.error('REPORT_TARGET_INVALID', 'A system message has no author to report');
      return {
        subjectUserId: message.senderId,
        snapshot: {
          body: message.body,
          links: message.links,
          senderId: message.senderId,
          conversationId: message.conversationId,
          createdAt: message.createdAt.toISOString(),
        },
      };
    }
    case 'review': {
      const [review] = await db
        .select()
        .from(bountyReviews)
        .where(
          and(eq(bountyReviews.id, id), reviewShownTo(reporter.id, now)),
        );
      if (!review) return null;
      return {
        subjectUserId: review.reviewerId,
        snapshot: { rating: review.rating, text: review.text, reviewerId: review.reviewerId, revieweeId: review.revieweeId },
      };
    }
  }
}

function userContent(db: Reader, id: string) {
  return db
    .select({
      id: users.id,
      name: users.name,
      image: users.image,
      role: users.role,
      banned: users.banned,
      banExpires: users.banExpires,
      displayName: profiles.displayName,
      headline: profiles.headline,
      bio: profiles.bio,
    })
    .from(users)
    .leftJoin(profiles, eq(profiles.userId, users.id))
    .where(eq(users.id, id));
}

type UserContent = Awaited<ReturnType<typeof userContent>>[number];

const userSnapshot = (user: UserContent): ReportSnapshot => ({
  name: user.name,
  image: user.image,
  displayName: user.displayName,
  headline: user.headline,
  bio: user.bio,
});

/** The target's content as it is now, for staff (null when it no longer exists). */
export async function currentContent(db: Reader, type: ReportTargetType, id: string): Promise<ReportSnapshot | null> {
  switch (type) {
    case 'bounty': {
      const [bounty] = await db.select().from(bounties).where(eq(bounties.id, id));
      if (!bounty) return null;
      return {
        title: bounty.title,
        description: bounty.description,
        state: bounty.state,
        posterId: bounty.posterId,
        hunterId: bounty.hunterId,
        hiddenAt: iso(bounty.hiddenAt),
      };
    }
    case 'user': {
      const [user] = await userContent(db, id);
      if (!user) return null;
      return { ...userSnapshot(user), role: user.role, banned: user.banned, banExpires: iso(user.banExpires) };
    }
    case 'message': {
      const [message] = await db.select().from(messages).where(eq(messages.id, Number(id)));
      if (!message) return null;
      return {
        body: message.body,
        links: message.links,
        senderId: message.senderId,
        conversationId: message.conversationId,
        createdAt: message.createdAt.toISOString(),
        editedAt: iso(message.editedAt),
        deletedAt: iso(message.deletedAt),
        hiddenAt: iso(message.hiddenAt),
      };
    }
    case 'review': {
      const [review] = await db.select().from(bountyReviews).where(eq(bountyReviews.id, id));
      if (!review) return null;
      return {
        rating: review.rating,
        text: review.text,
        reviewerId: review.reviewerId,
        revieweeId: review.revieweeId,
        bountyId: review.bountyId,
        visibleFrom: review.visibleFrom.toISOString(),
        hiddenAt: iso(review.hiddenAt),
      };
    }
  }
}
