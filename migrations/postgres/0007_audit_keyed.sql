-- Issue 18 item 11: an audit trail that holds against someone with write access to
-- the database.
--
-- install_id names this installation's chain: the key the chain is keyed by (HMAC,
-- derived from the master secret, which is not in the database) is looked up by it.
-- keyed_from is the first event chained with the keyed hash; events before it (from
-- before this migration) keep the unkeyed SHA-256 chain, and the first keyed event
-- commits to them. Signed checkpoints carry both, so changing either is detected.
ALTER TABLE audit_head ADD COLUMN install_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT NOT NULL DEFAULT 1;
UPDATE audit_head SET install_id = md5(random()::text || clock_timestamp()::text), keyed_from = seq + 1 WHERE id = 1;

-- The head only advances, one event at a time: seq + 1 with the hash unchanged (the
-- append takes its number), then the hash of the event just appended at that seq.
CREATE FUNCTION audit_head_advance_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'audit_head cannot be deleted or truncated';
    END IF;
    IF NEW.id <> OLD.id OR NEW.install_id <> OLD.install_id OR NEW.keyed_from <> OLD.keyed_from THEN
        RAISE EXCEPTION 'audit_head: only seq and hash change';
    END IF;
    IF NEW.seq = OLD.seq + 1 AND NEW.hash = OLD.hash THEN
        RETURN NEW;
    END IF;
    IF NEW.seq = OLD.seq AND NEW.hash = (SELECT hash FROM audit_events WHERE seq = NEW.seq) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_head may only advance by one event';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_advance_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_advance_only();
-- TRUNCATE fires no row trigger: the append-only rule needs a statement-level guard.
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
