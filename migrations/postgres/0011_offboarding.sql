-- Issue 15: ending a partner relationship completely, and proving it. Same
-- conventions as 0001 (times are UTC seconds; the PostgreSQL migration has the same
-- tables). Never edit this file once it has landed.

-- One offboarding per organisation. A partner admin may ask for one
-- ('requested', confirmed or declined by a bank admin); a bank admin's offboarding
-- starts 'running' at once. The job (app/src/offboarding/job.rs) works through its
-- steps, each idempotent, and marks it 'done' when the evidence pack is written.
-- `suspension_id` is the organisation-wide suspension taken when the action was
-- accepted: from that moment no token of the organisation is valid, before the job
-- has revoked anything.
CREATE TABLE offboardings (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organisations (id),
    status            TEXT NOT NULL CHECK (status IN ('requested', 'declined', 'running', 'done')),
    reason            TEXT NOT NULL,
    requested_by      TEXT REFERENCES users (id),
    requested_at      BIGINT NOT NULL,
    accepted_by       TEXT REFERENCES users (id),
    accepted_at       BIGINT,
    declined_reason   TEXT,
    suspension_id     TEXT REFERENCES suspensions (id),
    step              TEXT NOT NULL DEFAULT '',
    finished_at       BIGINT,
    pack_id           TEXT
);
-- At most one offboarding asked for, running or done per organisation: a double
-- click or two admins at once cannot start two.
CREATE UNIQUE INDEX offboardings_one ON offboardings (org_id) WHERE status <> 'declined';

-- Everything an offboarding did, one row per identity or record it ended, with the
-- audit event that records it. The primary key makes each happen once, however many
-- times the job is resumed or however many instances run it.
CREATE TABLE offboarding_actions (
    offboarding_id TEXT NOT NULL REFERENCES offboardings (id),
    kind           TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    label          TEXT NOT NULL,
    done_at        BIGINT NOT NULL,
    audit_event_id TEXT NOT NULL,
    PRIMARY KEY (offboarding_id, kind, target_id)
);

-- Signed evidence packs (app/src/evidence_packs): the manifest as a compact JWS
-- (EdDSA, the installation's evidence key, published at
-- /.well-known/gatehouse-evidence-keys) and the same as CSV, whose SHA-256 the
-- manifest carries. One pack per offboarding or campaign.
CREATE TABLE evidence_packs (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('offboarding', 'campaign')),
    subject_id TEXT NOT NULL,
    org_id     TEXT REFERENCES organisations (id),
    title      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    jws        TEXT NOT NULL,
    csv        TEXT NOT NULL,
    UNIQUE (kind, subject_id)
);

-- Requests ended because their organisation left: the status stays 'rejected'
-- (the CHECKs of 0004 and 0005 are kept), with the time it was withdrawn.
ALTER TABLE applications ADD COLUMN withdrawn_at BIGINT;
ALTER TABLE access_requests ADD COLUMN withdrawn_at BIGINT;
ALTER TABLE organisations ADD COLUMN offboarded_at BIGINT;
-- When an offboarded organisation's evidence file was deleted at the end of the
-- retention the bank sets (the row stays: dossiers and the audit trail cite it).
ALTER TABLE evidence ADD COLUMN purged_at BIGINT;
