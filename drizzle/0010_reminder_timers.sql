ALTER TABLE "bounty_timers" DROP CONSTRAINT "bounty_timers_kind_check";--> statement-breakpoint
ALTER TABLE "bounty_timers" ADD CONSTRAINT "bounty_timers_kind_check" CHECK ("bounty_timers"."kind" in ('expire', 'expiry_reminder', 'auto_approve', 'review_reminder', 'dispute_escalation', 'dispute_reminder', 'cancel_proposal_expiry', 'idle_hunter_nudge'));--> statement-breakpoint
-- Bounties already waiting on an expiry or an unanswered dispute get their reminder too, 24 hours
-- before (src/modules/bounties/lifecycle.ts: EXPIRY_REMINDER_HOURS_BEFORE, DISPUTE_REMINDER_HOURS_BEFORE).
INSERT INTO "bounty_timers" ("bounty_id", "kind", "due_at", "anchor_at")
SELECT "bounty_id", CASE "kind" WHEN 'expire' THEN 'expiry_reminder' ELSE 'dispute_reminder' END, "due_at" - interval '24 hours', "anchor_at"
FROM "bounty_timers" WHERE "kind" IN ('expire', 'dispute_escalation') AND "fired_at" IS NULL;
