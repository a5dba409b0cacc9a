-- Issue 32: agreements partners accept. Same conventions as 0001. Never edit this
-- file once it has landed.
--
-- A material agreement version not accepted by its deadline suspends the
-- organisation's production clients: a sweep origin of its own. SQLite cannot
-- change a CHECK constraint, so `suspensions` is rebuilt as its documentation says:
-- in one transaction, with foreign keys off (`Db::migrate` runs migrations so), the
-- same rows and indexes under the same name.
CREATE TABLE suspensions_new (
    id          TEXT PRIMARY KEY,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('client', 'organisation', 'scope', 'issuer')),
    target      TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('manual', 'ownerless', 'evidence', 'exception_lapsed', 'agreement')),
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    lifted_at   BIGINT,
    lifted_by   TEXT,
    lift_reason TEXT
);
INSERT INTO suspensions_new (id, target_kind, target, origin, reason, created_by, created_at, lifted_at, lifted_by, lift_reason)
    SELECT id, target_kind, target, origin, reason, created_by, created_at, lifted_at, lifted_by, lift_reason FROM suspensions;
DROP TABLE suspensions;
ALTER TABLE suspensions_new RENAME TO suspensions;
CREATE INDEX suspensions_open ON suspensions (lifted_at, target_kind, target);
CREATE UNIQUE INDEX suspensions_one_open_rule ON suspensions (target, origin)
    WHERE lifted_at IS NULL AND origin <> 'manual';

-- Agreement documents the bank maintains: one per kind, environment and tier (the
-- API terms, the data-sharing agreement, the SLA schedule), each with versions.
CREATE TABLE agreement_documents (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('api_terms', 'data_sharing', 'sla_schedule')),
    environment TEXT NOT NULL CHECK (environment IN ('sandbox', 'production')),
    tier        BIGINT NOT NULL,
    title       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (kind, environment, tier)
);

-- A version's exact text (Markdown) and its SHA-256, never edited once published.
-- It is in force from `effective_at`. A material version must be accepted again
-- within `window_days` of taking effect; a non-material one needs no re-acceptance.
CREATE TABLE agreement_versions (
    id           TEXT PRIMARY KEY,
    document_id  TEXT NOT NULL REFERENCES agreement_documents (id),
    version      BIGINT NOT NULL,
    body         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    effective_at BIGINT NOT NULL,
    material     BIGINT NOT NULL,
    window_days  BIGINT NOT NULL,
    change_note  TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    UNIQUE (document_id, version)
);
CREATE INDEX agreement_versions_document ON agreement_versions (document_id, effective_at);

-- An organisation's acceptance of one version by its authorised signatory (a partner
-- admin who gave a second-factor code): who, when, from where, and the hash of the
-- exact text they accepted. One per version and organisation.
CREATE TABLE agreement_acceptances (
    id          TEXT PRIMARY KEY,
    version_id  TEXT NOT NULL REFERENCES agreement_versions (id),
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    accepted_at BIGINT NOT NULL,
    ip          TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    UNIQUE (version_id, org_id)
);
CREATE INDEX agreement_acceptances_org ON agreement_acceptances (org_id, accepted_at);
