CREATE TABLE "bounties" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"poster_id" text NOT NULL,
	"hunter_id" text,
	"state" text DEFAULT 'draft' NOT NULL,
	"cancel_reason" text,
	"title" text NOT NULL,
	"description" text NOT NULL,
	"criteria" jsonb NOT NULL,
	"reward_amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"category" text NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"remote" boolean NOT NULL,
	"location_name" text,
	"latitude" double precision,
	"longitude" double precision,
	"radius_km" integer,
	"deadline" timestamp with time zone NOT NULL,
	"max_revisions" integer DEFAULT 2 NOT NULL,
	"revisions_used" integer DEFAULT 0 NOT NULL,
	"funding" text,
	"funding_deposit_id" uuid,
	"published_at" timestamp with time zone,
	"accepted_at" timestamp with time zone,
	"last_submitted_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"next_deadline_at" timestamp with time zone,
	"next_action_by" text DEFAULT 'poster' NOT NULL,
	"cancel_proposed_by" text,
	"cancel_proposal_hunter_amount" bigint,
	"cancel_proposal_expires_at" timestamp with time zone,
	"version" integer DEFAULT 0 NOT NULL,
	"search" "tsvector" GENERATED ALWAYS AS (setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', description), 'B')) STORED NOT NULL,
	"geo_cell" integer GENERATED ALWAYS AS (case when not remote then floor((latitude + 90) / 0.5)::integer * 1000 + floor((longitude + 180) / 0.5)::integer end) STORED,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "bounties_state_check" CHECK ("bounties"."state" in ('draft', 'open', 'in_progress', 'submitted', 'changes_requested', 'disputed', 'completed', 'cancelled')),
	CONSTRAINT "bounties_cancel_reason_check" CHECK (("bounties"."state" = 'cancelled') = ("bounties"."cancel_reason" is not null)),
	CONSTRAINT "bounties_cancel_reason_list" CHECK ("bounties"."cancel_reason" is null or "bounties"."cancel_reason" in ('poster', 'expired', 'mutual', 'admin', 'dispute')),
	CONSTRAINT "bounties_hunter_by_state" CHECK (("bounties"."state" in ('draft', 'open') and "bounties"."hunter_id" is null) or "bounties"."state" in ('completed', 'cancelled') or ("bounties"."state" in ('in_progress', 'submitted', 'changes_requested', 'disputed') and "bounties"."hunter_id" is not null)),
	CONSTRAINT "bounties_next_action_check" CHECK ("bounties"."next_action_by" in ('poster', 'hunter', 'admin', 'none')),
	CONSTRAINT "bounties_funding_check" CHECK ("bounties"."funding" is null or "bounties"."funding" in ('wallet', 'card')),
	CONSTRAINT "bounties_reward_positive" CHECK ("bounties"."reward_amount" > 0),
	CONSTRAINT "bounties_currency_check" CHECK ("bounties"."currency" ~ '^[a-z]{3}$'),
	CONSTRAINT "bounties_revisions" CHECK ("bounties"."max_revisions" between 0 and 10 and "bounties"."revisions_used" between 0 and "bounties"."max_revisions"),
	CONSTRAINT "bounties_location" CHECK ("bounties"."remote" or ("bounties"."latitude" is not null and "bounties"."longitude" is not null)),
	CONSTRAINT "bounties_coordinates" CHECK (("bounties"."latitude" is null or "bounties"."latitude" between -90 and 90) and ("bounties"."longitude" is null or "bounties"."longitude" between -180 and 180)),
	CONSTRAINT "bounties_criteria_array" CHECK (jsonb_typeof("bounties"."criteria") = 'array' and jsonb_array_length("bounties"."criteria") between 1 and 20)
);
--> statement-breakpoint
CREATE TABLE "bounty_disputes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"bounty_id" uuid NOT NULL,
	"opened_by" text NOT NULL,
	"opened_by_role" text NOT NULL,
	"from_state" text NOT NULL,
	"reason" text NOT NULL,
	"cited_items" integer[] NOT NULL,
	"respond_by" timestamp with time zone NOT NULL,
	"response" text,
	"responded_at" timestamp with time zone,
	"escalated_at" timestamp with time zone,
	"outcome" text,
	"hunter_amount" bigint,
	"resolution" text,
	"resolved_by" text,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "bounty_disputes_role_check" CHECK ("bounty_disputes"."opened_by_role" in ('poster', 'hunter')),
	CONSTRAINT "bounty_disputes_outcome_check" CHECK ("bounty_disputes"."outcome" is null or "bounty_disputes"."outcome" in ('release', 'refund', 'split')),
	CONSTRAINT "bounty_disputes_resolved_together" CHECK (("bounty_disputes"."resolved_at" is null) = ("bounty_disputes"."outcome" is null))
);
--> statement-breakpoint
CREATE TABLE "bounty_requests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"bounty_id" uuid NOT NULL,
	"hunter_id" text NOT NULL,
	"message" text NOT NULL,
	"approach" text,
	"eta_days" integer,
	"portfolio_url" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"closed_reason" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "bounty_requests_status_check" CHECK ("bounty_requests"."status" in ('pending', 'accepted', 'rejected', 'withdrawn', 'completed')),
	CONSTRAINT "bounty_requests_closed_reason_check" CHECK ("bounty_requests"."closed_reason" is null or "bounty_requests"."closed_reason" in ('poster', 'filled', 'hunter', 'unassigned', 'closed')),
	CONSTRAINT "bounty_requests_eta" CHECK ("bounty_requests"."eta_days" is null or "bounty_requests"."eta_days" between 1 and 365)
);
--> statement-breakpoint
CREATE TABLE "bounty_reviews" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"bounty_id" uuid NOT NULL,
	"reviewer_id" text NOT NULL,
	"reviewee_id" text NOT NULL,
	"reviewer_role" text NOT NULL,
	"rating" integer NOT NULL,
	"text" text NOT NULL,
	"context" text NOT NULL,
	"visible_from" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "bounty_reviews_one_per_reviewer" UNIQUE("bounty_id","reviewer_id"),
	CONSTRAINT "bounty_reviews_rating" CHECK ("bounty_reviews"."rating" between 1 and 5),
	CONSTRAINT "bounty_reviews_role_check" CHECK ("bounty_reviews"."reviewer_role" in ('poster', 'hunter')),
	CONSTRAINT "bounty_reviews_context_check" CHECK ("bounty_reviews"."context" in ('completed', 'disputed', 'cancelled'))
);
--> statement-breakpoint
CREATE TABLE "bounty_submissions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"bounty_id" uuid NOT NULL,
	"hunter_id" text NOT NULL,
	"message" text NOT NULL,
	"links" text[] NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "bounty_submissions_links" CHECK (cardinality("bounty_submissions"."links") between 1 and 10)
);
--> statement-breakpoint
CREATE TABLE "bounty_timers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"bounty_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"anchor_at" timestamp with time zone NOT NULL,
	"detail" integer,
	"fired_at" timestamp with time zone,
	"outcome" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "bounty_timers_kind_check" CHECK ("bounty_timers"."kind" in ('expire', 'auto_approve', 'review_reminder', 'dispute_escalation', 'cancel_proposal_expiry', 'idle_hunter_nudge'))
);
--> statement-breakpoint
CREATE TABLE "bounty_transitions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "bounty_transitions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"bounty_id" uuid NOT NULL,
	"action" text NOT NULL,
	"from_state" text NOT NULL,
	"to_state" text NOT NULL,
	"actor_id" text,
	"actor_role" text NOT NULL,
	"hunter_id" text,
	"reason" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "bounty_transitions_actor_role_check" CHECK ("bounty_transitions"."actor_role" in ('poster', 'hunter', 'admin', 'system'))
);
--> statement-breakpoint
CREATE TABLE "outbox_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "outbox_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"topic" text NOT NULL,
	"recipient_id" text NOT NULL,
	"subject_type" text NOT NULL,
	"subject_id" text NOT NULL,
	"payload" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"delivered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "profiles" (
	"user_id" text PRIMARY KEY NOT NULL,
	"display_name" text NOT NULL,
	"headline" text,
	"bio" text,
	"avatar_url" text,
	"skills" text[] DEFAULT '{}'::text[] NOT NULL,
	"remote" boolean DEFAULT true NOT NULL,
	"location_name" text,
	"latitude" double precision,
	"longitude" double precision,
	"links" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "profiles_coordinates_together" CHECK (("profiles"."latitude" is null) = ("profiles"."longitude" is null))
);
--> statement-breakpoint
ALTER TABLE "bounty_disputes" ADD CONSTRAINT "bounty_disputes_bounty_id_bounties_id_fk" FOREIGN KEY ("bounty_id") REFERENCES "public"."bounties"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bounty_requests" ADD CONSTRAINT "bounty_requests_bounty_id_bounties_id_fk" FOREIGN KEY ("bounty_id") REFERENCES "public"."bounties"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bounty_reviews" ADD CONSTRAINT "bounty_reviews_bounty_id_bounties_id_fk" FOREIGN KEY ("bounty_id") REFERENCES "public"."bounties"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bounty_submissions" ADD CONSTRAINT "bounty_submissions_bounty_id_bounties_id_fk" FOREIGN KEY ("bounty_id") REFERENCES "public"."bounties"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bounty_timers" ADD CONSTRAINT "bounty_timers_bounty_id_bounties_id_fk" FOREIGN KEY ("bounty_id") REFERENCES "public"."bounties"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bounty_transitions" ADD CONSTRAINT "bounty_transitions_bounty_id_bounties_id_fk" FOREIGN KEY ("bounty_id") REFERENCES "public"."bounties"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "profiles" ADD CONSTRAINT "profiles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "bounties_state_published_idx" ON "bounties" USING btree ("state","published_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "bounties_state_reward_idx" ON "bounties" USING btree ("state","reward_amount" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "bounties_state_deadline_idx" ON "bounties" USING btree ("state","deadline","id");--> statement-breakpoint
CREATE INDEX "bounties_state_category_published_idx" ON "bounties" USING btree ("state","category","published_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "bounties_tags_idx" ON "bounties" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "bounties_search_idx" ON "bounties" USING gin ("search");--> statement-breakpoint
CREATE INDEX "bounties_location_idx" ON "bounties" USING btree ("latitude","longitude") WHERE not "bounties"."remote";--> statement-breakpoint
CREATE INDEX "bounties_state_cell_published_idx" ON "bounties" USING btree ("state","geo_cell","published_at" DESC NULLS FIRST,"id" DESC NULLS FIRST,"latitude","longitude") WHERE not "bounties"."remote" and "bounties"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "bounties_state_cell_reward_idx" ON "bounties" USING btree ("state","geo_cell","reward_amount" DESC NULLS FIRST,"id" DESC NULLS FIRST,"latitude","longitude") WHERE not "bounties"."remote" and "bounties"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "bounties_state_cell_deadline_idx" ON "bounties" USING btree ("state","geo_cell","deadline","id","latitude","longitude") WHERE not "bounties"."remote" and "bounties"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "bounties_poster_created_idx" ON "bounties" USING btree ("poster_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "bounties_hunter_idx" ON "bounties" USING btree ("hunter_id") WHERE "bounties"."hunter_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "bounty_disputes_one_open" ON "bounty_disputes" USING btree ("bounty_id") WHERE "bounty_disputes"."resolved_at" is null;--> statement-breakpoint
CREATE INDEX "bounty_disputes_bounty_idx" ON "bounty_disputes" USING btree ("bounty_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "bounty_requests_one_live_per_hunter" ON "bounty_requests" USING btree ("bounty_id","hunter_id") WHERE "bounty_requests"."status" in ('pending', 'accepted');--> statement-breakpoint
CREATE UNIQUE INDEX "bounty_requests_one_accepted" ON "bounty_requests" USING btree ("bounty_id") WHERE "bounty_requests"."status" = 'accepted';--> statement-breakpoint
CREATE INDEX "bounty_requests_bounty_idx" ON "bounty_requests" USING btree ("bounty_id","created_at","id");--> statement-breakpoint
CREATE INDEX "bounty_requests_hunter_idx" ON "bounty_requests" USING btree ("hunter_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "bounty_requests_hunter_pending_idx" ON "bounty_requests" USING btree ("hunter_id") WHERE "bounty_requests"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "bounty_reviews_reviewee_idx" ON "bounty_reviews" USING btree ("reviewee_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "bounty_submissions_bounty_idx" ON "bounty_submissions" USING btree ("bounty_id","created_at","id");--> statement-breakpoint
CREATE INDEX "bounty_timers_due_idx" ON "bounty_timers" USING btree ("due_at") WHERE "bounty_timers"."fired_at" is null;--> statement-breakpoint
CREATE INDEX "bounty_timers_bounty_idx" ON "bounty_timers" USING btree ("bounty_id","kind");--> statement-breakpoint
CREATE INDEX "bounty_transitions_bounty_idx" ON "bounty_transitions" USING btree ("bounty_id","id");--> statement-breakpoint
CREATE INDEX "bounty_transitions_hunter_idx" ON "bounty_transitions" USING btree ("hunter_id","action") WHERE "bounty_transitions"."hunter_id" is not null;--> statement-breakpoint
CREATE INDEX "outbox_events_undelivered_idx" ON "outbox_events" USING btree ("id") WHERE "outbox_events"."delivered_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_events_recipient_idx" ON "outbox_events" USING btree ("recipient_id","id");