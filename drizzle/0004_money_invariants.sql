-- The ledger's invariants, enforced where the data lives (see src/db/schema/ledger.ts).
-- Every message names the invariant, so a failure in a log says which rule a write broke. They
-- raise P0001, not a constraint class: a broken invariant is our bug (a 500, logged), never a
-- client's mistake (the error handler maps constraint classes to 4xx).

-- Entries and transactions are append-only: a correction is a reversing transaction.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger invariant: % is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'P0001';
END
$$;--> statement-breakpoint
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();--> statement-breakpoint
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();--> statement-breakpoint
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();--> statement-breakpoint
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();--> statement-breakpoint

-- Each entry carries its account's balance after it, chained to the previous entry. The posting
-- function holds the account's row lock, so entries of one account are inserted one at a time.
CREATE FUNCTION ledger_entry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE previous bigint;
BEGIN
  SELECT balance_after INTO previous FROM ledger_entries WHERE account_id = NEW.account_id ORDER BY id DESC LIMIT 1;
  IF coalesce(previous, 0) + NEW.amount <> NEW.balance_after THEN
    RAISE EXCEPTION 'ledger invariant: entry on account % says balance % after %, the previous balance was %',
      NEW.account_id, NEW.balance_after, NEW.amount, coalesce(previous, 0) USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER ledger_entries_chain BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_entry_chain();--> statement-breakpoint

-- At commit: each transaction's entries sum to zero per currency, and it has at least two.
CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE unbalanced text;
DECLARE legs integer;
BEGIN
  SELECT string_agg(currency || ' ' || total, ', ') INTO unbalanced FROM (
    SELECT currency, sum(amount) AS total FROM ledger_entries WHERE transaction_id = NEW.id GROUP BY currency
  ) per_currency WHERE total <> 0;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'ledger invariant: transaction % does not sum to zero (%)', NEW.id, unbalanced USING ERRCODE = 'P0001';
  END IF;
  SELECT count(*) INTO legs FROM ledger_entries WHERE transaction_id = NEW.id;
  IF legs < 2 THEN
    RAISE EXCEPTION 'ledger invariant: transaction % has % entries, at least 2 are needed', NEW.id, legs USING ERRCODE = 'P0001';
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced();--> statement-breakpoint

-- At commit: an account's cached balance is its last entry's balance_after (by the chain, the sum
-- of its entries). Checked for every account whose balance changed or that got an entry.
CREATE FUNCTION ledger_account_matches_entries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE target bigint;
DECLARE cached bigint;
DECLARE last_balance bigint;
BEGIN
  IF TG_TABLE_NAME = 'ledger_entries' THEN target := NEW.account_id; ELSE target := NEW.id; END IF;
  SELECT balance INTO cached FROM ledger_accounts WHERE id = target;
  SELECT balance_after INTO last_balance FROM ledger_entries WHERE account_id = target ORDER BY id DESC LIMIT 1;
  IF cached IS DISTINCT FROM coalesce(last_balance, 0) THEN
    RAISE EXCEPTION 'ledger invariant: account % caches balance %, its entries say %', target, cached, coalesce(last_balance, 0) USING ERRCODE = 'P0001';
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER ledger_accounts_balance_matches AFTER UPDATE OF balance ON ledger_accounts
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_account_matches_entries();--> statement-breakpoint
CREATE CONSTRAINT TRIGGER ledger_entries_balance_matches AFTER INSERT ON ledger_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_account_matches_entries();--> statement-breakpoint
-- A new account starts at zero: a balance can only come from entries.
CREATE FUNCTION ledger_account_starts_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance <> 0 THEN
    RAISE EXCEPTION 'ledger invariant: account % opened with balance %, balances come from entries', NEW.id, NEW.balance USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER ledger_accounts_opened_empty BEFORE INSERT ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_account_starts_empty();--> statement-breakpoint
-- An account's identity (owner, kind, currency, sign rule) never changes; only its balance does.
CREATE FUNCTION ledger_account_identity_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.owner_type, NEW.owner_id, NEW.kind, NEW.currency, NEW.user_id, NEW.allow_negative)
     IS DISTINCT FROM (OLD.owner_type, OLD.owner_id, OLD.kind, OLD.currency, OLD.user_id, OLD.allow_negative) THEN
    RAISE EXCEPTION 'ledger invariant: account % may change only its balance', OLD.id USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER ledger_accounts_identity_fixed BEFORE UPDATE ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_account_identity_fixed();--> statement-breakpoint
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();--> statement-breakpoint

-- A hold is resolved once: pending -> posted or voided, never back, never again; amounts fixed.
CREATE FUNCTION ledger_hold_resolves_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status <> 'pending' OR NEW.status = 'pending'
     OR (NEW.kind, NEW.reference_id, NEW.user_id, NEW.source_account_id, NEW.hold_account_id, NEW.amount, NEW.currency)
        IS DISTINCT FROM (OLD.kind, OLD.reference_id, OLD.user_id, OLD.source_account_id, OLD.hold_account_id, OLD.amount, OLD.currency) THEN
    RAISE EXCEPTION 'ledger invariant: hold % is % and cannot become %', OLD.id, OLD.status, NEW.status USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER ledger_holds_resolve_once BEFORE UPDATE ON ledger_holds FOR EACH ROW EXECUTE FUNCTION ledger_hold_resolves_once();--> statement-breakpoint
CREATE TRIGGER ledger_holds_no_delete BEFORE DELETE ON ledger_holds FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
