-- Rows written before the CHECK existed may hold a list ("user,admin"): read it as the least
-- privileged role, which is how this service already read it; an operator re-grants on purpose.
UPDATE "users" SET "role" = 'user' WHERE "role" NOT IN ('user', 'moderator', 'admin');--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_role_check" CHECK ("users"."role" in ('user', 'moderator', 'admin'));
