/**
 * A user's reputation, computed from the append-only bounty history (`bounty_transitions`) and the
 * visible reviews, in one statement on the read handle it is given (a replica). Nothing here is
 * stored: a number on a profile can always be traced to the rows it counts.
 *
 * Indexes each part walks (tests/profiles.test.ts EXPLAINs them on seeded data):
 * - as hunter: `bounty_transitions_hunter_idx` (hunter_id, action), partial on hunter_id;
 * - as poster: `bounties_poster_created_idx` (poster_id, ...) for the poster's bounties, then
 *   `bounty_transitions_bounty_idx` (bounty_id, id) for their history, also for "the last submit
 *   before a completion" and "the first answer after a submit" (both an index range on id);
 * - ratings: `bounty_reviews_reviewee_idx` (reviewee_id, ...).
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { type Database, selectRows } from '../../db';
import type { ProfileStats } from './schemas';

/** What ends the poster's review of a submission (whatever the poster's answer was). */
const REVIEW_ANSWERS = sql.raw(`'approve', 'auto_approve', 'request_changes', 'dispute'`);

const statsRow = z.object({
  accepted: z.number(),
  completed: z.number(),
  completed_on_time: z.number(),
  hunter_disputes_lost: z.number(),
  posted: z.number(),
  approved: z.number(),
  auto_approved: z.number(),
  poster_disputes_lost: z.number(),
  running: z.number(),
  median_review_hours: z.number().nullable(),
  reviews: z.number(),
  average_rating: z.number().nullable(),
  hunter_reviews: z.number(),
  hunter_rating: z.number().nullable(),
  poster_reviews: z.number(),
  poster_rating: z.number().nullable(),
});

/** The statement; exported for the query-plan test. `now` decides which reviews are visible. */
export const profileStatsQuery = (userId: string, now: Date) => sql`
  with hunter_history as (
    -- Rows naming the user as the bounty's hunter at that moment.
    select t.id, t.bounty_id, t.action, t.to_state, t.details
    from bounty_transitions t
    where t.hunter_id = ${userId} and (t.action in ('accept', 'resolve') or t.to_state = 'completed')
  ),
  hunter_side as (
    select
      count(*) filter (where action = 'accept')::int as accepted,
      count(*) filter (where to_state = 'completed')::int as completed,
      count(*) filter (where action = 'resolve' and details->>'outcome' = 'refund')::int as disputes_lost
    from hunter_history
  ),
  running as (
    -- Work still under way is neither done nor failed: it stays out of the completion rate.
    select count(*)::int as running
    from bounties
    where hunter_id = ${userId} and state in ('in_progress', 'submitted', 'changes_requested', 'disputed')
  ),
  on_time as (
    -- A completion is on time when the last submission before it came by the deadline.
    select count(*) filter (where last_submit.created_at <= b.deadline)::int as completed_on_time
    from hunter_history c
    join bounties b on b.id = c.bounty_id
    left join lateral (
      select s.created_at
      from bounty_transitions s
      where s.bounty_id = c.bounty_id and s.id < c.id and s.action = 'submit'
      order by s.id desc
      limit 1
    ) last_submit on true
    where c.to_state = 'completed'
  ),
  poster_history as (
    select t.id, t.bounty_id, t.action, t.details, t.created_at
    from bounties b
    join bounty_transitions t on t.bounty_id = b.id
    where b.poster_id = ${userId} and t.action in ('publish', 'submit', 'approve', 'auto_approve', 'resolve')
  ),
  review_times as (
    -- From each submission to the poster's first answer after it (pending ones are not counted).
    select (extract(epoch from answer.created_at - s.created_at) / 3600)::float8 as hours
    from poster_history s
    join lateral (
      select n.created_at
      from bounty_transitions n
      where n.bounty_id = s.bounty_id and n.id > s.id and n.action in (${REVIEW_ANSWERS})
      order by n.id
      limit 1
    ) answer on true
    where s.action = 'submit'
  ),
  poster_side as (
    select
      count(*) filter (where action = 'publish')::int as posted,
      count(*) filter (where action = 'approve')::int as approved,
      count(*) filter (where action = 'auto_approve')::int as auto_approved,
      count(*) filter (where action = 'resolve' and details->>'outcome' = 'release')::int as disputes_lost
    from poster_history
  ),
  ratings as (
    -- Double-blind: a review counts only once it is visible to everyone; one a moderator removed never.
    select
      count(*)::int as reviews,
      avg(rating)::float8 as average_rating,
      count(*) filter (where reviewer_role = 'poster')::int as hunter_reviews,
      (avg(rating) filter (where reviewer_role = 'poster'))::float8 as hunter_rating,
      count(*) filter (where reviewer_role = 'hunter')::int as poster_reviews,
      (avg(rating) filter (where reviewer_role = 'hunter'))::float8 as poster_rating
    from bounty_reviews
    where reviewee_id = ${userId} and visible_from <= ${now.toISOString()}::timestamptz and hidden_at is null
  )
  select
    h.accepted, h.completed, w.running, o.completed_on_time, h.disputes_lost as hunter_disputes_lost,
    p.posted, p.approved, p.auto_approved, p.disputes_lost as poster_disputes_lost,
    (select percentile_cont(0.5) within group (order by hours) from review_times)::float8 as median_review_hours,
    r.reviews, r.average_rating, r.hunter_reviews, r.hunter_rating, r.poster_reviews, r.poster_rating
  from hunter_side h, running w, on_time o, poster_side p, ratings r
`;

const ratio = (part: number, whole: number): number | null => (whole === 0 ? null : round(part / whole, 4));
const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;
const rating = (value: number | null): number | null => (value === null ? null : round(value, 2));

export async function profileStats(reader: Database, userId: string, now: Date): Promise<ProfileStats> {
  const [row] = await selectRows(reader, profileStatsQuery(userId, now), statsRow);
  if (!row) throw new Error('the profile statistics query returned no row');
  return {
    reviews: { averageRating: rating(row.average_rating), count: row.reviews },
    asHunter: {
      accepted: row.accepted,
      completed: row.completed,
      completionRate: ratio(row.completed, row.accepted - row.running),
      onTimeRate: ratio(row.completed_on_time, row.completed),
      averageRating: rating(row.hunter_rating),
      reviewCount: row.hunter_reviews,
      disputesLost: row.hunter_disputes_lost,
    },
    asPoster: {
      bountiesPosted: row.posted,
      medianReviewHours: row.median_review_hours === null ? null : round(row.median_review_hours, 2),
      autoApprovedShare: ratio(row.auto_approved, row.approved + row.auto_approved),
      averageRating: rating(row.poster_rating),
      reviewCount: row.poster_reviews,
      disputesLost: row.poster_disputes_lost,
    },
  };
}
