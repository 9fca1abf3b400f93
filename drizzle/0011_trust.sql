CREATE TABLE "account_links" (
	"kind" text NOT NULL,
	"fingerprint" text NOT NULL,
	"user_id" text NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	CONSTRAINT "account_links_pkey" PRIMARY KEY("kind","fingerprint","user_id"),
	CONSTRAINT "account_links_kind_check" CHECK ("account_links"."kind" in ('device', 'payout_destination'))
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" timestamp with time zone NOT NULL,
	"actor_id" text,
	"actor_role" text NOT NULL,
	"action" text NOT NULL,
	"target_type" text NOT NULL,
	"target_id" text NOT NULL,
	"reason" text NOT NULL,
	"before" jsonb,
	"after" jsonb,
	"request_id" text,
	CONSTRAINT "audit_log_actor_role_check" CHECK ("audit_log"."actor_role" in ('user', 'moderator', 'admin', 'system')),
	CONSTRAINT "audit_log_actor_present" CHECK (("audit_log"."actor_role" = 'system') = ("audit_log"."actor_id" is null))
);
--> statement-breakpoint
CREATE TABLE "ledger_adjustments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"request_key" text NOT NULL,
	"user_id" text NOT NULL,
	"account_kind" text NOT NULL,
	"currency" text NOT NULL,
	"amount" bigint NOT NULL,
	"reason" text NOT NULL,
	"status" text NOT NULL,
	"created_by" text NOT NULL,
	"decided_by" text,
	"decision_note" text,
	"transaction_id" bigint,
	"created_at" timestamp with time zone NOT NULL,
	"decided_at" timestamp with time zone,
	CONSTRAINT "ledger_adjustments_amount_nonzero" CHECK ("ledger_adjustments"."amount" <> 0),
	CONSTRAINT "ledger_adjustments_status_check" CHECK ("ledger_adjustments"."status" in ('pending_approval', 'posted', 'rejected')),
	CONSTRAINT "ledger_adjustments_account_kind_check" CHECK ("ledger_adjustments"."account_kind" in ('available', 'receivable')),
	CONSTRAINT "ledger_adjustments_four_eyes" CHECK ("ledger_adjustments"."decided_by" is null or "ledger_adjustments"."decided_by" <> "ledger_adjustments"."created_by"),
	CONSTRAINT "ledger_adjustments_posted_has_transaction" CHECK (("ledger_adjustments"."status" = 'posted') = ("ledger_adjustments"."transaction_id" is not null))
);
--> statement-breakpoint
CREATE TABLE "reports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"reporter_id" text NOT NULL,
	"target_type" text NOT NULL,
	"target_id" text NOT NULL,
	"subject_user_id" text NOT NULL,
	"reason" text NOT NULL,
	"text" text NOT NULL,
	"snapshot" jsonb NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"resolution" text,
	"resolution_note" text,
	"resolved_by" text,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "reports_target_type_check" CHECK ("reports"."target_type" in ('bounty', 'user', 'message', 'review')),
	CONSTRAINT "reports_reason_check" CHECK ("reports"."reason" in ('spam', 'scam', 'harassment', 'off_platform_payment', 'inappropriate', 'impersonation', 'other')),
	CONSTRAINT "reports_status_check" CHECK ("reports"."status" in ('open', 'dismissed', 'actioned')),
	CONSTRAINT "reports_resolution_check" CHECK ("reports"."resolution" is null or "reports"."resolution" in ('dismiss', 'remove_content', 'warn', 'ban')),
	CONSTRAINT "reports_resolved_fields" CHECK (("reports"."status" = 'open') = ("reports"."resolved_at" is null))
);
--> statement-breakpoint
CREATE TABLE "risk_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "risk_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_id" text NOT NULL,
	"rule" text NOT NULL,
	"outcome" text NOT NULL,
	"subject_type" text NOT NULL,
	"subject_id" text,
	"detail" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "risk_events_outcome_check" CHECK ("risk_events"."outcome" in ('allow', 'warn', 'flag', 'hold', 'deny'))
);
--> statement-breakpoint
CREATE TABLE "risk_scores" (
	"user_id" text PRIMARY KEY NOT NULL,
	"score" integer NOT NULL,
	"level" text NOT NULL,
	"factors" jsonb NOT NULL,
	"computed_at" timestamp with time zone NOT NULL,
	CONSTRAINT "risk_scores_level_check" CHECK ("risk_scores"."level" in ('low', 'medium', 'high')),
	CONSTRAINT "risk_scores_score_range" CHECK ("risk_scores"."score" between 0 and 100)
);
--> statement-breakpoint
ALTER TABLE "ledger_accounts" DROP CONSTRAINT "ledger_accounts_kind_check";--> statement-breakpoint
ALTER TABLE "withdrawals" DROP CONSTRAINT "withdrawals_status_check";--> statement-breakpoint
ALTER TABLE "connect_accounts" ADD COLUMN "payout_details_changed_at" timestamp with time zone;--> statement-breakpoint
-- An admin freeze sits beside a chargeback freeze: the key becomes (user, source). drizzle-kit put the new
-- key before its column and never dropped the old one.
ALTER TABLE "wallet_freezes" ADD COLUMN "source" text DEFAULT 'chargeback' NOT NULL;--> statement-breakpoint
ALTER TABLE "wallet_freezes" DROP CONSTRAINT "wallet_freezes_pkey";--> statement-breakpoint
ALTER TABLE "wallet_freezes" ADD CONSTRAINT "wallet_freezes_pkey" PRIMARY KEY("user_id","source");--> statement-breakpoint
ALTER TABLE "withdrawals" ADD COLUMN "held_reason" text;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD COLUMN "reviewed_by" text;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD COLUMN "reviewed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "bounties" ADD COLUMN "hidden_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "bounty_reviews" ADD COLUMN "hidden_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "hidden_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "account_links_user_idx" ON "account_links" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "audit_log_actor_idx" ON "audit_log" USING btree ("actor_id","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "audit_log_target_idx" ON "audit_log" USING btree ("target_type","target_id","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "audit_log_action_idx" ON "audit_log" USING btree ("action","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_adjustments_request_key" ON "ledger_adjustments" USING btree ("created_by","request_key");--> statement-breakpoint
CREATE INDEX "ledger_adjustments_pending_idx" ON "ledger_adjustments" USING btree ("created_at","id") WHERE "ledger_adjustments"."status" = 'pending_approval';--> statement-breakpoint
CREATE INDEX "ledger_adjustments_user_idx" ON "ledger_adjustments" USING btree ("user_id","created_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE UNIQUE INDEX "reports_one_open_per_reporter" ON "reports" USING btree ("reporter_id","target_type","target_id") WHERE "reports"."status" = 'open';--> statement-breakpoint
CREATE INDEX "reports_open_queue_idx" ON "reports" USING btree ("created_at","id") WHERE "reports"."status" = 'open';--> statement-breakpoint
CREATE INDEX "reports_subject_idx" ON "reports" USING btree ("subject_user_id","created_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "reports_reporter_idx" ON "reports" USING btree ("reporter_id","created_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "risk_events_user_idx" ON "risk_events" USING btree ("user_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "risk_scores_level_idx" ON "risk_scores" USING btree ("level","score" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "withdrawals_held_idx" ON "withdrawals" USING btree ("created_at","id") WHERE "withdrawals"."status" = 'held';--> statement-breakpoint
ALTER TABLE "ledger_accounts" ADD CONSTRAINT "ledger_accounts_kind_check" CHECK ("ledger_accounts"."kind" in ('available', 'withdrawal_hold', 'receivable', 'escrow', 'fees', 'external', 'adjustments'));--> statement-breakpoint
ALTER TABLE "wallet_freezes" ADD CONSTRAINT "wallet_freezes_source_check" CHECK ("wallet_freezes"."source" in ('chargeback', 'admin'));--> statement-breakpoint
ALTER TABLE "withdrawals" ADD CONSTRAINT "withdrawals_status_check" CHECK ("withdrawals"."status" in ('held', 'pending', 'paid', 'failed', 'reversed', 'payout_failed', 'rejected'));