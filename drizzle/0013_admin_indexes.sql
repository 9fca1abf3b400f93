CREATE INDEX "users_role_created_at_id_idx" ON "users" USING btree ("role","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "ledger_accounts_user_id_idx" ON "ledger_accounts" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "bounty_disputes_open_queue_idx" ON "bounty_disputes" USING btree ("created_at","id") WHERE "bounty_disputes"."resolved_at" is null;--> statement-breakpoint
CREATE INDEX "reports_open_type_idx" ON "reports" USING btree ("target_type","created_at","id") WHERE "reports"."status" = 'open';--> statement-breakpoint
CREATE INDEX "reports_open_target_idx" ON "reports" USING btree ("target_type","target_id") WHERE "reports"."status" = 'open';--> statement-breakpoint
CREATE INDEX "reports_resolved_idx" ON "reports" USING btree ("resolved_at" DESC NULLS FIRST,"id" DESC NULLS FIRST) WHERE "reports"."status" <> 'open';