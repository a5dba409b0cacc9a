-- Gatehouse foundation schema (SQLite).
--
-- Portable conventions shared with migrations/postgres (same tables, same columns):
--   * ids are prefixed, sortable text (`org_…`, `usr_…`, `evt_…`);
--   * times are UTC seconds since the Unix epoch in BIGINT columns;
--   * flags are BIGINT 0/1, because sqlx's `Any` driver decodes SQLite booleans as integers.
-- Never edit this file once it has landed: add a new numbered migration instead.

-- A partner organisation. (country, registration_number) identifies a legal entity,
-- and an LEI, when given, is unique worldwide (ISO 17442).
CREATE TABLE organisations (
    id                  TEXT PRIMARY KEY,
    legal_name          TEXT NOT NULL,
    registration_number TEXT NOT NULL,
    country             TEXT NOT NULL,
    website             TEXT NOT NULL,
    lei                 TEXT UNIQUE,
    status              TEXT NOT NULL CHECK (status IN ('active', 'offboarded')),
    is_demo             BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    UNIQUE (country, registration_number)
);

-- Every human user: partner users belong to one organisation; bank staff have none.
-- `status`: invited (link sent, no password yet), active, disabled.
-- `session_epoch` is copied into each session at sign-in; bumping it ends every
-- session of the user at once (disable, password change, role change).
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    org_id            TEXT REFERENCES organisations (id),
    email             TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('partner_admin', 'partner_developer', 'reviewer', 'approver', 'admin')),
    status            TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash     TEXT,
    email_verified_at BIGINT,
    totp_secret       BLOB,
    totp_enabled_at   BIGINT,
    totp_last_step    BIGINT,
    session_epoch     BIGINT NOT NULL DEFAULT 0,
    is_demo           BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    -- partner roles need an organisation, staff roles must not have one
    CHECK ((role IN ('partner_admin', 'partner_developer')) = (org_id IS NOT NULL))
);
CREATE INDEX users_org ON users (org_id);

-- One-time TOTP recovery codes, stored as keyed hashes (they are high-entropy).
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at   BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- Links sent by e-mail: verification, password reset, invitation, staff set-up.
-- Only the keyed hash of the token is stored; a token is single-use.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset', 'invitation', 'staff_setup')),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- Sign-in attempts, for the per-account slow-down. Keyed by the normalised e-mail
-- typed in, so unknown accounts are throttled exactly like known ones.
CREATE TABLE signin_attempts (
    id         TEXT PRIMARY KEY,
    email_key  TEXT NOT NULL,
    ip         TEXT NOT NULL,
    succeeded  BIGINT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX signin_attempts_email ON signin_attempts (email_key, at);

-- The outbox: every e-mail is written here in the same transaction as the change that
-- caused it, then delivered by the mail worker (SMTP) or shown in the dev mailbox.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'mailbox', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- The audit trail: append-only and hash-chained. `hash` is SHA-256 over `prev_hash`
-- and a canonical encoding of the row (see app/src/audit/chain.rs), so an edit, a
-- deletion or a reordering breaks the chain at a row `gatehouse audit verify` names.
CREATE TABLE audit_events (
    seq           BIGINT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    occurred_at   BIGINT NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor_id      TEXT,
    actor_label   TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT,
    resource_id   TEXT,
    org_id        TEXT,
    ip            TEXT,
    user_agent    TEXT,
    outcome       TEXT NOT NULL,
    details       TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX audit_events_action ON audit_events (action);
CREATE INDEX audit_events_org ON audit_events (org_id);

-- The head of the chain, one row. Appending updates it first, which takes the write
-- lock and so serialises appenders; a deleted tail event no longer matches the head.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only: the application never updates or deletes an event.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

-- Small key/value facts about this installation (e.g. that demo data was seeded).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
