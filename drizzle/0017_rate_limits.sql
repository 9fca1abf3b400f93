-- UNLOGGED: counters are written on most requests; they need no WAL, no replica copy, and a crash
-- that empties them only resets the windows. (drizzle-kit cannot say UNLOGGED: edited by hand.)
CREATE UNLOGGED TABLE "rate_limits" (
	"key" text PRIMARY KEY NOT NULL,
	"points" integer DEFAULT 0 NOT NULL,
	"expire" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "rate_limits_expire_idx" ON "rate_limits" USING btree ("expire");