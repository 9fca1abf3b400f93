-- Real time's rules that live in the database (see src/db/schema/realtime.ts).

-- A message is never deleted (a delete is soft: the text stays evidence for disputes and admins),
-- and its edit history is append-only. P0001: a broken rule is our bug, never a client's mistake.
CREATE FUNCTION realtime_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'realtime invariant: % refused on %', TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
END
$$;--> statement-breakpoint
CREATE TRIGGER messages_never_deleted BEFORE DELETE ON messages FOR EACH ROW EXECUTE FUNCTION realtime_refuse_change();--> statement-breakpoint
CREATE TRIGGER messages_no_truncate BEFORE TRUNCATE ON messages FOR EACH STATEMENT EXECUTE FUNCTION realtime_refuse_change();--> statement-breakpoint
CREATE TRIGGER message_edits_append_only BEFORE UPDATE OR DELETE ON message_edits FOR EACH ROW EXECUTE FUNCTION realtime_refuse_change();--> statement-breakpoint
CREATE TRIGGER message_edits_no_truncate BEFORE TRUNCATE ON message_edits FOR EACH STATEMENT EXECUTE FUNCTION realtime_refuse_change();--> statement-breakpoint

-- A session that ends (sign-out, revocation, a ban, expiry cleanup) or a user who is banned is
-- announced on commit, whichever path did it, so every instance closes those sockets
-- (src/modules/realtime/bus.ts listens). Ids only.
CREATE FUNCTION realtime_announce_session_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('bountyexpo_sessions', json_build_object('sessionId', OLD.id, 'userId', OLD.user_id)::text);
  RETURN OLD;
END
$$;--> statement-breakpoint
CREATE TRIGGER sessions_announce_end AFTER DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION realtime_announce_session_end();--> statement-breakpoint
CREATE FUNCTION realtime_announce_ban() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('bountyexpo_sessions', json_build_object('userId', NEW.id)::text);
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER users_announce_ban AFTER UPDATE OF banned ON users FOR EACH ROW WHEN (NEW.banned AND NOT OLD.banned) EXECUTE FUNCTION realtime_announce_ban();
