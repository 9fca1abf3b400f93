-- The marketplace's rules that live in the database (see src/db/schema/marketplace.ts).

-- The history is append-only: a transition is corrected by another transition, never an edit.
-- P0001, not a constraint class: a broken rule is our bug (a 500, logged), never a client's mistake.
CREATE FUNCTION bounty_history_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'marketplace invariant: % is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'P0001';
END
$$;--> statement-breakpoint
CREATE TRIGGER bounty_transitions_append_only BEFORE UPDATE OR DELETE ON bounty_transitions FOR EACH ROW EXECUTE FUNCTION bounty_history_refuse_change();--> statement-breakpoint
CREATE TRIGGER bounty_transitions_no_truncate BEFORE TRUNCATE ON bounty_transitions FOR EACH STATEMENT EXECUTE FUNCTION bounty_history_refuse_change();--> statement-breakpoint

-- A profile row is created with the account, whichever path creates it (sign-up, an admin, a
-- seed), in the same transaction. Its display name starts as the account's name.
CREATE FUNCTION profiles_create_for_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO profiles (user_id, display_name) VALUES (NEW.id, left(NEW.name, 100)) ON CONFLICT (user_id) DO NOTHING;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER users_create_profile AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION profiles_create_for_user();--> statement-breakpoint
INSERT INTO profiles (user_id, display_name) SELECT id, left(name, 100) FROM users ON CONFLICT (user_id) DO NOTHING;
