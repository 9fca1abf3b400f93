/**
 * The marketplace: profiles, bounties and their lifecycle history, applications (requests),
 * submissions, disputes, reviews, and the timers the lifecycle runs on.
 *
 * What must always hold is enforced here (constraints, partial unique indexes) or by triggers in
 * drizzle/0006_marketplace_rules.sql:
 * - a bounty is in one of `bountyStates`; a cancelled one carries its reason, no other does;
 * - a bounty past `open` has a hunter, an open or draft one has none;
 * - revisions used never pass the bounty's maximum;
 * - one live request (pending or accepted) per hunter per bounty, one accepted per bounty;
 * - one open dispute per bounty; one review per reviewer per bounty;
 * - the history (`bounty_transitions`) is append-only.
 *
 * Like the money tables, bounties do not reference `users` with a foreign key: a bounty that held
 * money is evidence (for refunds, disputes, tax) and outlives a deleted account. Profiles do.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from './auth';
import { inList } from './checks';

/** drizzle 0.45 has no tsvector column type. */
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

export type ProfileLink = { label: string; url: string };

/**
 * The fixed grid behind `bounties.geo_cell` (browse's `near`): square cells of GEO_CELL_DEG degrees
 * of latitude and of longitude, numbered `row * GEO_CELL_ROW + column` with row
 * `floor((latitude + 90) / GEO_CELL_DEG)` (0..360) and column `floor((longitude + 180) / GEO_CELL_DEG)`
 * (0..720; longitude 180 is column 720, beside column 0 across the antimeridian).
 *
 * Half a degree: 55 km north-south; east-west 48 km at 30 degrees of latitude, 28 km at 60. A circle
 * of the default 30 km needs 3-8 cells up to 60 degrees (browse.ts skips the cells of its box it
 * does not reach), so a page near a point walks a handful of index ranges. Smaller cells mean more
 * ranges per page (about four times as many at a quarter degree); larger ones put more of a region
 * into a cell the circle only grazes, whose range is walked further before it yields a page of
 * matches. Changing the size is a migration (the column's expression) and nothing else: browse.ts
 * reads it from here.
 */
export const GEO_CELL_DEG = 0.5;
export const GEO_CELL_ROW = 1000;


/** One row per account, created with it (a trigger on `users`, drizzle/0006_marketplace_rules.sql). */
export const profiles = pgTable(
  'profiles',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    displayName: text('display_name').notNull(),
    headline: text('headline'),
    bio: text('bio'),
    avatarUrl: text('avatar_url'),
    skills: text('skills').array().notNull().default(sql`'{}'::text[]`),
    remote: boolean('remote').notNull().default(true),
    locationName: text('location_name'),
    latitude: doublePrecision('latitude'),
    longitude: doublePrecision('longitude'),
    links: jsonb('links').$type<ProfileLink[]>().notNull().default(sql`'[]'::jsonb`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [check('profiles_coordinates_together', sql`(${table.latitude} is null) = (${table.longitude} is null)`)],
);

export const bountyStates = ['draft', 'open', 'in_progress', 'submitted', 'changes_requested', 'disputed', 'completed', 'cancelled'] as const;
export type BountyState = (typeof bountyStates)[number];
export const cancelReasons = ['poster', 'expired', 'mutual', 'admin', 'dispute'] as const;
export type CancelReason = (typeof cancelReasons)[number];
/** Who acts next on a bounty (shown to clients as `nextActionBy`). */
export const bountyParties = ['poster', 'hunter', 'admin', 'none'] as const;
export type BountyParty = (typeof bountyParties)[number];
export const fundingMethods = ['wallet', 'card'] as const;
export type FundingMethod = (typeof fundingMethods)[number];

/** One acceptance criterion; `id` is what change requests and disputes cite (1..20). */
export type Criterion = { id: number; text: string };

export const bounties = pgTable(
  'bounties',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    posterId: text('poster_id').notNull(),
    /** The accepted hunter, from acceptance until the bounty is reopened or closed. */
    hunterId: text('hunter_id'),
    state: text('state').$type<BountyState>().notNull().default('draft'),
    cancelReason: text('cancel_reason').$type<CancelReason>(),
    title: text('title').notNull(),
    description: text('description').notNull(),
    criteria: jsonb('criteria').$type<Criterion[]>().notNull(),
    rewardAmount: bigint('reward_amount', { mode: 'number' }).notNull(),
    currency: text('currency').notNull(),
    category: text('category').notNull(),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    remote: boolean('remote').notNull(),
    locationName: text('location_name'),
    latitude: doublePrecision('latitude'),
    longitude: doublePrecision('longitude'),
    radiusKm: integer('radius_km'),
    deadline: timestamp('deadline', { withTimezone: true }).notNull(),
    maxRevisions: integer('max_revisions').notNull().default(2),
    revisionsUsed: integer('revisions_used').notNull().default(0),
    /** How the reward was (or is being) funded; a card funding waits for its deposit's webhook. */
    funding: text('funding').$type<FundingMethod>(),
    fundingDepositId: uuid('funding_deposit_id'),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    acceptedAt: timestamp('accepted_at', { withTimezone: true }),
    lastSubmittedAt: timestamp('last_submitted_at', { withTimezone: true }),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    nextDeadlineAt: timestamp('next_deadline_at', { withTimezone: true }),
    nextActionBy: text('next_action_by').$type<BountyParty>().notNull().default('poster'),
    /** A pending mutual-cancel proposal: who proposed, the hunter's share, when it lapses. */
    cancelProposedBy: text('cancel_proposed_by'),
    cancelProposalHunterAmount: bigint('cancel_proposal_hunter_amount', { mode: 'number' }),
    cancelProposalExpiresAt: timestamp('cancel_proposal_expires_at', { withTimezone: true }),
    /** Transitions so far: a client's view is stale when this moved on. */
    version: integer('version').notNull().default(0),
    /**
     * Removed by a moderator: seen only by its participants and staff. A bounty that can still be
     * cancelled is also cancelled and refunded; a completed one is only hidden.
     */
    hiddenAt: timestamp('hidden_at', { withTimezone: true }),
    search: tsvector('search')
      .notNull()
      .generatedAlwaysAs(
        sql`setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', description), 'B')`,
      ),
    /** The bounty's cell of the grid above, for in-person bounties (null when remote). */
    geoCell: integer('geo_cell').generatedAlwaysAs(
      sql.raw(
        `case when not remote then floor((latitude + 90) / ${GEO_CELL_DEG})::integer * ${GEO_CELL_ROW} + floor((longitude + 180) / ${GEO_CELL_DEG})::integer end`,
      ),
    ),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    // Browse: one index per sort, led by the state filter (every public list filters on it), with
    // NULLS FIRST on the descending keys so ORDER BY ... DESC can walk them (see posts).
    index('bounties_state_published_idx').on(table.state, table.publishedAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('bounties_state_reward_idx').on(table.state, table.rewardAmount.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('bounties_state_deadline_idx').on(table.state, table.deadline, table.id),
    index('bounties_state_category_published_idx').on(
      table.state,
      table.category,
      table.publishedAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('bounties_tags_idx').using('gin', table.tags),
    index('bounties_search_idx').using('gin', table.search),
    index('bounties_location_idx').on(table.latitude, table.longitude).where(sql`not ${table.remote}`),
    // Browse near a point, one cell at a time (browse.ts): per sort, the cell right after the state.
    // The coordinates last (after the unique id, so they never change the order; drizzle has no
    // INCLUDE), and published ones only (browse asks for that): a cell's walk checks the distance
    // on index entries alone, an index-only scan, and reads from the table only the page it keeps.
    index('bounties_state_cell_published_idx')
      .on(table.state, table.geoCell, table.publishedAt.desc().nullsFirst(), table.id.desc().nullsFirst(), table.latitude, table.longitude)
      .where(sql`not ${table.remote} and ${table.publishedAt} is not null`),
    index('bounties_state_cell_reward_idx')
      .on(table.state, table.geoCell, table.rewardAmount.desc().nullsFirst(), table.id.desc().nullsFirst(), table.latitude, table.longitude)
      .where(sql`not ${table.remote} and ${table.publishedAt} is not null`),
    index('bounties_state_cell_deadline_idx')
      .on(table.state, table.geoCell, table.deadline, table.id, table.latitude, table.longitude)
      .where(sql`not ${table.remote} and ${table.publishedAt} is not null`),
    index('bounties_poster_created_idx').on(table.posterId, table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('bounties_hunter_idx').on(table.hunterId).where(sql`${table.hunterId} is not null`),
    check('bounties_state_check', sql`${table.state} in (${inList(bountyStates)})`),
    check('bounties_cancel_reason_check', sql`(${table.state} = 'cancelled') = (${table.cancelReason} is not null)`),
    check('bounties_cancel_reason_list', sql`${table.cancelReason} is null or ${table.cancelReason} in (${inList(cancelReasons)})`),
    check(
      'bounties_hunter_by_state',
      sql`(${table.state} in ('draft', 'open') and ${table.hunterId} is null) or ${table.state} in ('completed', 'cancelled') or (${table.state} in ('in_progress', 'submitted', 'changes_requested', 'disputed') and ${table.hunterId} is not null)`,
    ),
    check('bounties_next_action_check', sql`${table.nextActionBy} in (${inList(bountyParties)})`),
    check('bounties_funding_check', sql`${table.funding} is null or ${table.funding} in (${inList(fundingMethods)})`),
    check('bounties_reward_positive', sql`${table.rewardAmount} > 0`),
    check('bounties_currency_check', sql`${table.currency} ~ '^[a-z]{3}$'`),
    check('bounties_revisions', sql`${table.maxRevisions} between 0 and 10 and ${table.revisionsUsed} between 0 and ${table.maxRevisions}`),
    check('bounties_location', sql`${table.remote} or (${table.latitude} is not null and ${table.longitude} is not null)`),
    check('bounties_coordinates', sql`(${table.latitude} is null or ${table.latitude} between -90 and 90) and (${table.longitude} is null or ${table.longitude} between -180 and 180)`),
    check('bounties_criteria_array', sql`jsonb_typeof(${table.criteria}) = 'array' and jsonb_array_length(${table.criteria}) between 1 and 20`),
  ],
);

export type Bounty = typeof bounties.$inferSelect;

export const actorRoles = ['poster', 'hunter', 'admin', 'system'] as const;
export type ActorRole = (typeof actorRoles)[number];

/**
 * The history: one row per transition, written in the transition's transaction, never changed.
 * `hunter_id` is the hunter the bounty had at that moment (profile statistics count from it).
 */
export const bountyTransitions = pgTable(
  'bounty_transitions',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    bountyId: uuid('bounty_id')
      .notNull()
      .references(() => bounties.id),
    action: text('action').notNull(),
    fromState: text('from_state').$type<BountyState>().notNull(),
    toState: text('to_state').$type<BountyState>().notNull(),
    actorId: text('actor_id'),
    actorRole: text('actor_role').$type<ActorRole>().notNull(),
    hunterId: text('hunter_id'),
    reason: text('reason'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('bounty_transitions_bounty_idx').on(table.bountyId, table.id),
    index('bounty_transitions_hunter_idx').on(table.hunterId, table.action).where(sql`${table.hunterId} is not null`),
    check('bounty_transitions_actor_role_check', sql`${table.actorRole} in (${inList(actorRoles)})`),
  ],
);

export type BountyTransition = typeof bountyTransitions.$inferSelect;

export const requestStatuses = ['pending', 'accepted', 'rejected', 'withdrawn', 'completed'] as const;
export type RequestStatus = (typeof requestStatuses)[number];
/**
 * Why a request closed: `poster` (rejected), `filled` (another hunter was accepted: may apply
 * again if the bounty reopens), `hunter` (withdrawn), `unassigned` (the poster ended the work),
 * `closed` (the bounty was cancelled or expired).
 */
export const requestCloseReasons = ['poster', 'filled', 'hunter', 'unassigned', 'closed'] as const;
export type RequestCloseReason = (typeof requestCloseReasons)[number];

export const bountyRequests = pgTable(
  'bounty_requests',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    bountyId: uuid('bounty_id')
      .notNull()
      .references(() => bounties.id),
    hunterId: text('hunter_id').notNull(),
    message: text('message').notNull(),
    approach: text('approach'),
    etaDays: integer('eta_days'),
    portfolioUrl: text('portfolio_url'),
    status: text('status').$type<RequestStatus>().notNull().default('pending'),
    closedReason: text('closed_reason').$type<RequestCloseReason>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('bounty_requests_one_live_per_hunter').on(table.bountyId, table.hunterId).where(sql`${table.status} in ('pending', 'accepted')`),
    uniqueIndex('bounty_requests_one_accepted').on(table.bountyId).where(sql`${table.status} = 'accepted'`),
    index('bounty_requests_bounty_idx').on(table.bountyId, table.createdAt, table.id),
    index('bounty_requests_hunter_idx').on(table.hunterId, table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('bounty_requests_hunter_pending_idx').on(table.hunterId).where(sql`${table.status} = 'pending'`),
    check('bounty_requests_status_check', sql`${table.status} in (${inList(requestStatuses)})`),
    check('bounty_requests_closed_reason_check', sql`${table.closedReason} is null or ${table.closedReason} in (${inList(requestCloseReasons)})`),
    check('bounty_requests_eta', sql`${table.etaDays} is null or ${table.etaDays} between 1 and 365`),
  ],
);

export type BountyRequest = typeof bountyRequests.$inferSelect;

/** A hunter's deliverable: a message and at least one link. */
export const bountySubmissions = pgTable(
  'bounty_submissions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    bountyId: uuid('bounty_id')
      .notNull()
      .references(() => bounties.id),
    hunterId: text('hunter_id').notNull(),
    message: text('message').notNull(),
    links: text('links').array().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('bounty_submissions_bounty_idx').on(table.bountyId, table.createdAt, table.id),
    check('bounty_submissions_links', sql`cardinality(${table.links}) between 1 and 10`),
  ],
);

export type BountySubmission = typeof bountySubmissions.$inferSelect;

export const disputeOutcomes = ['release', 'refund', 'split'] as const;
export type DisputeOutcome = (typeof disputeOutcomes)[number];

/**
 * A dispute: opened by one side citing criteria; the other side answers by `respond_by`, or it is
 * escalated to an admin (a timer never settles it); an admin resolves it.
 */
export const bountyDisputes = pgTable(
  'bounty_disputes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    bountyId: uuid('bounty_id')
      .notNull()
      .references(() => bounties.id),
    openedBy: text('opened_by').notNull(),
    openedByRole: text('opened_by_role').$type<'poster' | 'hunter'>().notNull(),
    /** The state the bounty was in when the dispute opened. */
    fromState: text('from_state').$type<BountyState>().notNull(),
    reason: text('reason').notNull(),
    citedItems: integer('cited_items').array().notNull(),
    respondBy: timestamp('respond_by', { withTimezone: true }).notNull(),
    response: text('response'),
    respondedAt: timestamp('responded_at', { withTimezone: true }),
    escalatedAt: timestamp('escalated_at', { withTimezone: true }),
    outcome: text('outcome').$type<DisputeOutcome>(),
    hunterAmount: bigint('hunter_amount', { mode: 'number' }),
    resolution: text('resolution'),
    resolvedBy: text('resolved_by'),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('bounty_disputes_one_open').on(table.bountyId).where(sql`${table.resolvedAt} is null`),
    index('bounty_disputes_bounty_idx').on(table.bountyId, table.createdAt),
    // GET /admin/disputes: the open ones, oldest first.
    index('bounty_disputes_open_queue_idx').on(table.createdAt, table.id).where(sql`${table.resolvedAt} is null`),
    check('bounty_disputes_role_check', sql`${table.openedByRole} in ('poster', 'hunter')`),
    check('bounty_disputes_outcome_check', sql`${table.outcome} is null or ${table.outcome} in (${inList(disputeOutcomes)})`),
    check('bounty_disputes_resolved_together', sql`(${table.resolvedAt} is null) = (${table.outcome} is null)`),
  ],
);

export type BountyDispute = typeof bountyDisputes.$inferSelect;

/** How the work ended, shown beside a review ("after a dispute", "after a cancellation"). */
export const reviewContexts = ['completed', 'disputed', 'cancelled'] as const;
export type ReviewContext = (typeof reviewContexts)[number];

export const bountyReviews = pgTable(
  'bounty_reviews',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    bountyId: uuid('bounty_id')
      .notNull()
      .references(() => bounties.id),
    reviewerId: text('reviewer_id').notNull(),
    revieweeId: text('reviewee_id').notNull(),
    reviewerRole: text('reviewer_role').$type<'poster' | 'hunter'>().notNull(),
    rating: integer('rating').notNull(),
    text: text('text').notNull(),
    context: text('context').$type<ReviewContext>().notNull(),
    /** Double-blind: hidden until the other side reviews too or the window closes. */
    visibleFrom: timestamp('visible_from', { withTimezone: true }).notNull(),
    /** Hidden by a moderator (a report resolved by removing it): no longer shown or counted. */
    hiddenAt: timestamp('hidden_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    unique('bounty_reviews_one_per_reviewer').on(table.bountyId, table.reviewerId),
    index('bounty_reviews_reviewee_idx').on(table.revieweeId, table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    check('bounty_reviews_rating', sql`${table.rating} between 1 and 5`),
    check('bounty_reviews_role_check', sql`${table.reviewerRole} in ('poster', 'hunter')`),
    check('bounty_reviews_context_check', sql`${table.context} in (${inList(reviewContexts)})`),
  ],
);

export type BountyReview = typeof bountyReviews.$inferSelect;

export const timerKinds = [
  'expire',
  'expiry_reminder',
  'auto_approve',
  'review_reminder',
  'dispute_escalation',
  'dispute_reminder',
  'cancel_proposal_expiry',
  'idle_hunter_nudge',
] as const;
export type TimerKind = (typeof timerKinds)[number];

/**
 * The lifecycle's timers: what is due when, and the moment it counts from (`anchor_at`). A job
 * fires the due ones, each re-checking the bounty under its row lock against the anchor, so a
 * timer whose state moved on does nothing.
 */
export const bountyTimers = pgTable(
  'bounty_timers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    bountyId: uuid('bounty_id')
      .notNull()
      .references(() => bounties.id),
    kind: text('kind').$type<TimerKind>().notNull(),
    dueAt: timestamp('due_at', { withTimezone: true }).notNull(),
    anchorAt: timestamp('anchor_at', { withTimezone: true }).notNull(),
    /** For reminders: days before the deadline it warns of. */
    detail: integer('detail'),
    firedAt: timestamp('fired_at', { withTimezone: true }),
    outcome: text('outcome'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('bounty_timers_due_idx').on(table.dueAt).where(sql`${table.firedAt} is null`),
    index('bounty_timers_bounty_idx').on(table.bountyId, table.kind),
    check('bounty_timers_kind_check', sql`${table.kind} in (${inList(timerKinds)})`),
  ],
);

export type BountyTimer = typeof bountyTimers.$inferSelect;

/**
 * Events for the people they concern, written in the transaction that caused them (transitions,
 * reminders, nudges). The real-time issue delivers them (in-app, push, email); until then they
 * are the record of what each person should have been told.
 */
export const outboxEvents = pgTable(
  'outbox_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    topic: text('topic').notNull(),
    recipientId: text('recipient_id').notNull(),
    subjectType: text('subject_type').notNull(),
    subjectId: text('subject_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (table) => [
    index('outbox_events_undelivered_idx').on(table.id).where(sql`${table.deliveredAt} is null`),
    index('outbox_events_recipient_idx').on(table.recipientId, table.id),
  ],
);

export type OutboxEvent = typeof outboxEvents.$inferSelect;
