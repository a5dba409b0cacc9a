-- Issue 18 item 11: an audit trail that holds against someone with write access to
-- the database (see migrations/postgres/0007_audit_keyed.sql). SQLite has no
-- TRUNCATE: a DELETE without WHERE still fires the row triggers.
ALTER TABLE audit_head ADD COLUMN install_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_head ADD COLUMN keyed_from INTEGER NOT NULL DEFAULT 1;
UPDATE audit_head SET install_id = lower(hex(randomblob(16))), keyed_from = seq + 1 WHERE id = 1;

CREATE TRIGGER audit_head_guard BEFORE UPDATE ON audit_head
WHEN NOT (
    NEW.id = OLD.id AND NEW.install_id = OLD.install_id AND NEW.keyed_from = OLD.keyed_from
    AND (
        (NEW.seq = OLD.seq + 1 AND NEW.hash = OLD.hash)
        OR (NEW.seq = OLD.seq AND NEW.hash = (SELECT hash FROM audit_events WHERE seq = NEW.seq))
    )
)
BEGIN
    SELECT RAISE(ABORT, 'audit_head may only advance by one event');
END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head cannot be deleted');
END;
