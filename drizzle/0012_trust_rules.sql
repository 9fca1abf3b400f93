-- Trust and safety rules that live in the database (see src/db/schema/trust.ts).

-- The audit log is append-only: an UPDATE, DELETE or TRUNCATE is refused whoever runs it, so what
-- an admin did stays as it was written. P0001: a broken rule is our bug, never a client's mistake.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit invariant: % refused on % (append-only)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
END
$$;--> statement-breakpoint
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();--> statement-breakpoint

-- An adjustment is decided once: pending_approval -> posted | rejected, never back, never again.
CREATE FUNCTION ledger_adjustments_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status <> 'pending_approval' THEN
    RAISE EXCEPTION 'ledger invariant: adjustment % was already %', OLD.id, OLD.status USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER ledger_adjustments_decided_once BEFORE UPDATE ON ledger_adjustments FOR EACH ROW EXECUTE FUNCTION ledger_adjustments_decided_once();--> statement-breakpoint
CREATE TRIGGER ledger_adjustments_never_deleted BEFORE DELETE ON ledger_adjustments FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
