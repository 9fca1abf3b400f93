CREATE TABLE "analytics_daily" (
	"dimension" text NOT NULL,
	"day" date NOT NULL,
	"metric" text NOT NULL,
	"currency" text DEFAULT '' NOT NULL,
	"value" bigint NOT NULL,
	"computed_at" timestamp with time zone NOT NULL,
	CONSTRAINT "analytics_daily_dimension_day_metric_currency_pk" PRIMARY KEY("dimension","day","metric","currency"),
	CONSTRAINT "analytics_daily_metric_check" CHECK ("analytics_daily"."metric" in ('events', 'signups', 'bounties_created', 'bounties_published', 'bounties_accepted', 'bounties_completed', 'bounties_settled', 'disputes_opened', 'requests_created', 'messages_sent', 'deposits', 'payouts', 'gmv', 'platform_fees', 'deposit_volume', 'payout_volume', 'active_posters', 'active_hunters', 'median_seconds_to_accept', 'median_seconds_to_approve')),
	CONSTRAINT "analytics_daily_dimension_check" CHECK ("analytics_daily"."dimension" = 'all' or "analytics_daily"."dimension" like 'poster:_%'),
	CONSTRAINT "analytics_daily_currency_check" CHECK ("analytics_daily"."currency" = '' or "analytics_daily"."currency" ~ '^[a-z]{3}$')
);
--> statement-breakpoint
CREATE TABLE "analytics_events" (
	"event_id" bigint PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"recorded_at" timestamp with time zone NOT NULL,
	"user_id" text NOT NULL,
	"poster_id" text,
	"hunter_id" text,
	"bounty_id" uuid,
	"amount" bigint,
	"fee" bigint,
	"currency" text,
	"seconds" bigint,
	CONSTRAINT "analytics_events_name_check" CHECK ("analytics_events"."name" in ('user.signed_up', 'bounty.created', 'bounty.published', 'bounty.accepted', 'bounty.completed', 'bounty.settled', 'bounty.disputed', 'request.created', 'message.sent', 'deposit.succeeded', 'payout.paid')),
	CONSTRAINT "analytics_events_money_check" CHECK (("analytics_events"."amount" is null or "analytics_events"."amount" >= 0) and ("analytics_events"."fee" is null or "analytics_events"."fee" >= 0)),
	CONSTRAINT "analytics_events_currency_check" CHECK (("analytics_events"."amount" is null) = ("analytics_events"."currency" is null) and ("analytics_events"."currency" is null or "analytics_events"."currency" ~ '^[a-z]{3}$')),
	CONSTRAINT "analytics_events_seconds_check" CHECK ("analytics_events"."seconds" is null or "analytics_events"."seconds" >= 0)
);
--> statement-breakpoint
CREATE TABLE "analytics_forwards" (
	"event_id" bigint PRIMARY KEY NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"queued_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "analytics_forwards" ADD CONSTRAINT "analytics_forwards_event_id_analytics_events_event_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."analytics_events"("event_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "analytics_daily_day_idx" ON "analytics_daily" USING btree ("day");--> statement-breakpoint
CREATE INDEX "analytics_events_occurred_idx" ON "analytics_events" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "analytics_events_name_occurred_idx" ON "analytics_events" USING btree ("name","occurred_at");--> statement-breakpoint
CREATE INDEX "analytics_events_poster_idx" ON "analytics_events" USING btree ("poster_id","name","occurred_at") WHERE "analytics_events"."poster_id" is not null;--> statement-breakpoint
CREATE INDEX "analytics_events_recorded_idx" ON "analytics_events" USING btree ("recorded_at");--> statement-breakpoint

-- Analytics' rules that live in the database (see src/db/schema/analytics.ts); written by hand.

-- A recorded event is a fact: it is never changed (a day's figures are recomputed from them).
CREATE FUNCTION analytics_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'analytics invariant: % refused on %', TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
END
$$;--> statement-breakpoint
CREATE TRIGGER analytics_events_never_updated BEFORE UPDATE ON analytics_events FOR EACH ROW EXECUTE FUNCTION analytics_refuse_change();--> statement-breakpoint

-- Every new account is an outbox event (analytics.user_signed_up) in the transaction that created
-- it, whichever path did (Better-Auth's sign-up, an admin, a seed script: Better-Auth's own
-- after-create hook runs only after its commit). Per statement, so a bulk insert writes one
-- INSERT and a few NOTIFYs; the ids are announced on commit as recordEvents does
-- (src/modules/outbox, src/modules/realtime/channels.ts): ids only, 300 a payload (< 7000 bytes).
CREATE FUNCTION analytics_record_signups() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ids bigint[];
  chunk_start integer := 1;
BEGIN
  WITH written AS (
    INSERT INTO outbox_events (topic, recipient_id, subject_type, subject_id, payload, created_at)
    SELECT 'analytics.user_signed_up', created.id, 'user', created.id, '{}'::jsonb, created.created_at FROM created_users AS created
    RETURNING id
  )
  SELECT array_agg(written.id ORDER BY written.id) INTO ids FROM written;
  WHILE ids IS NOT NULL AND chunk_start <= array_length(ids, 1) LOOP
    PERFORM pg_notify('bountyexpo_outbox', to_json(ids[chunk_start:chunk_start + 299])::text);
    chunk_start := chunk_start + 300;
  END LOOP;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER users_analytics_signup AFTER INSERT ON users REFERENCING NEW TABLE AS created_users FOR EACH STATEMENT EXECUTE FUNCTION analytics_record_signups();
