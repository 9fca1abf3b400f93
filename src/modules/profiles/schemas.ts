import { z } from 'zod';
import { reviewContexts } from '../../db';
import { cursorQuery, imageUrlSchema, limitQuery, safeText, userIdSchema } from '../../lib/validation';

export const DISPLAY_NAME_MAX = 100;
export const HEADLINE_MAX = 120;
export const BIO_MAX = 2_000;
export const SKILL_MAX = 40;
export const SKILLS_MAX = 30;
export const LINK_LABEL_MAX = 50;
export const LINKS_MAX = 10;
export const LOCATION_NAME_MAX = 100;
export const REVIEW_TEXT_MAX = 2_000;

/** http(s) only, like avatars: a `javascript:` link in a profile is an XSS vector for whoever renders it. */
const httpUrlSchema = imageUrlSchema;

const latitudeSchema = z.number().min(-90).max(90);
const longitudeSchema = z.number().min(-180).max(180);

const locationSchema = z.object({
  name: z.string().max(LOCATION_NAME_MAX).nullable(),
  latitude: latitudeSchema,
  longitude: longitudeSchema,
});

const linkSchema = z.object({ label: z.string().max(LINK_LABEL_MAX), url: z.string().max(2048) });

/** What the profile's owner sees and edits. */
export const profileSchema = z
  .object({
    userId: z.string().max(64),
    displayName: z.string().max(DISPLAY_NAME_MAX),
    headline: z.string().max(HEADLINE_MAX).nullable(),
    bio: z.string().max(BIO_MAX).nullable(),
    avatarUrl: z.string().max(2048).nullable(),
    skills: z.array(z.string().max(SKILL_MAX)).max(SKILLS_MAX),
    remote: z.boolean().describe('Takes remote work'),
    location: locationSchema.nullable().describe('Where in-person work is possible'),
    links: z.array(linkSchema).max(LINKS_MAX),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .describe('Your profile');
export type ProfileView = z.infer<typeof profileSchema>;

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const rate = z.number().min(0).max(1).nullable();
const averageRating = z.number().min(1).max(5).nullable().describe('Visible reviews only; null without any');

export const profileStatsSchema = z
  .object({
    reviews: z.object({ averageRating, count }).describe('Every visible review about the user, on either side'),
    asHunter: z.object({
      accepted: count.describe('Times accepted for a bounty'),
      completed: count.describe('Bounties completed as the hunter'),
      completionRate: rate.describe('completed / accepted work that has ended (work under way counts neither way); a withdrawal or removal counts against it. null when none has ended'),
      onTimeRate: rate.describe('Share of completed bounties whose last submission came by the deadline; null when none completed'),
      averageRating: averageRating.describe('From posters, visible reviews only; null without any'),
      reviewCount: count,
      disputesLost: count.describe('Disputes an admin resolved with a refund to the poster'),
    }),
    asPoster: z.object({
      bountiesPosted: count.describe('Bounties published'),
      medianReviewHours: z.number().min(0).nullable().describe('Median hours from a submission to approval, auto-approval, a change request or a dispute; null when none'),
      autoApprovedShare: rate.describe('Share of approvals that came from the auto-approve timer; null when none'),
      averageRating: averageRating.describe('From hunters, visible reviews only; null without any'),
      reviewCount: count,
      disputesLost: count.describe('Disputes an admin resolved by releasing the reward to the hunter'),
    }),
  })
  .describe('Computed from the bounty history and visible reviews');
export type ProfileStats = z.infer<typeof profileStatsSchema>;

/** What anyone sees: no email, no wallet; coordinates rounded to about a kilometre. */
export const publicProfileSchema = z
  .object({
    userId: z.string().max(64),
    displayName: z.string().max(DISPLAY_NAME_MAX),
    headline: z.string().max(HEADLINE_MAX).nullable(),
    bio: z.string().max(BIO_MAX).nullable(),
    avatarUrl: z.string().max(2048).nullable(),
    skills: z.array(z.string().max(SKILL_MAX)).max(SKILLS_MAX),
    remote: z.boolean(),
    location: locationSchema.nullable().describe('Coordinates rounded to 0.01 degrees'),
    links: z.array(linkSchema).max(LINKS_MAX),
    memberSince: z.date(),
    stats: profileStatsSchema,
  })
  .describe('Public profile');
export type PublicProfileView = z.infer<typeof publicProfileSchema>;

/**
 * The fields an owner may change. Anything else in the body (userId, email, stats, timestamps) is
 * stripped by zod and never reaches the database.
 */
export const updateProfileBody = z
  .object({
    displayName: safeText(DISPLAY_NAME_MAX).optional(),
    headline: safeText(HEADLINE_MAX).nullable().optional(),
    bio: safeText(BIO_MAX).nullable().optional(),
    avatarUrl: imageUrlSchema.nullable().optional().describe('http or https'),
    skills: z.array(safeText(SKILL_MAX)).max(SKILLS_MAX).optional().describe('Replaces the list; duplicates (ignoring case) are dropped'),
    remote: z.boolean().optional(),
    location: z
      .object({ name: safeText(LOCATION_NAME_MAX), latitude: latitudeSchema, longitude: longitudeSchema })
      .nullable()
      .optional()
      .describe('null clears it'),
    links: z
      .array(z.object({ label: safeText(LINK_LABEL_MAX), url: httpUrlSchema.describe('http or https') }))
      .max(LINKS_MAX)
      .optional()
      .describe('Replaces the list'),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: 'Send at least one of displayName, headline, bio, avatarUrl, skills, remote, location, links',
  });
export type ProfileChanges = z.infer<typeof updateProfileBody>;

export const userParams = z.object({ userId: userIdSchema });
export const bountyParams = z.object({ id: z.uuid().max(36) });
export const listReviewsQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

export const reviewerRoles = ['poster', 'hunter'] as const;
export type ReviewerRole = (typeof reviewerRoles)[number];

export const reviewSchema = z.object({
  id: z.uuid().max(36),
  bountyId: z.uuid().max(36),
  bountyTitle: z.string().max(200).nullable().describe('null when the bounty was cancelled (cancelled bounties are not public)'),
  reviewerId: z.string().max(64),
  reviewerName: z.string().max(DISPLAY_NAME_MAX).nullable().describe("The reviewer's display name; null once their account is gone"),
  reviewerRole: z.enum(reviewerRoles).describe('The side the reviewer was on'),
  revieweeId: z.string().max(64),
  rating: z.number().int().min(1).max(5),
  text: z.string().max(REVIEW_TEXT_MAX),
  context: z.enum(reviewContexts).describe('How the work ended: completed, disputed (went through a dispute) or cancelled'),
  visible: z.boolean().describe('false only for your own review while the other side has not reviewed and the window is open'),
  visibleFrom: z.date(),
  createdAt: z.date(),
});
export type ReviewView = z.infer<typeof reviewSchema>;

export const createReviewBody = z.object({
  rating: z.number().int().min(1).max(5),
  text: safeText(REVIEW_TEXT_MAX),
});
export type NewReview = z.infer<typeof createReviewBody>;
