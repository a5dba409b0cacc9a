-- Issue 14: governance. Every API consumer stays owned, scoped, short-lived and
-- revocable for as long as it exists. Same conventions as 0001 (times are UTC
-- seconds; the PostgreSQL migration has the same tables).

-- "Last used", kept apart: `last_token_at` is the last successful token request,
-- `last_used_at` (0001) the last successful API call. Both are written in batches
-- off the hot path (governance/last_used.rs and sandbox/reqlog.rs), never per request.
ALTER TABLE credentials ADD COLUMN last_token_at BIGINT;
-- Why a credential or client was revoked: 'partner', 'rotated', 'dormant', 'retired', …
ALTER TABLE credentials ADD COLUMN revoked_reason TEXT;
ALTER TABLE apps ADD COLUMN revoked_reason TEXT;
-- When the sweep found the client's owner gone (removed, disabled); cleared when a
-- new owner is named. The grace period runs from here.
ALTER TABLE apps ADD COLUMN owner_lost_at BIGINT;
-- A reviewer's acceptance of a piece of evidence uploaded to replace an expiring one.
ALTER TABLE evidence ADD COLUMN accepted_at BIGINT;
ALTER TABLE evidence ADD COLUMN accepted_by TEXT;

-- The lifecycle policy: per tier and for the sandbox, as JSON. Every save is a new
-- version; the highest version is in force, earlier ones stay for the record.
CREATE TABLE lifecycle_policies (
    id         TEXT PRIMARY KEY,
    version    BIGINT NOT NULL UNIQUE,
    content    TEXT NOT NULL,
    note       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The kill switch. A suspension names what it covers: one client (by app id), every
-- client of an organisation, every client holding a scope, or a whole issuer. It
-- is judged at each use (token endpoint, introspection, sandbox API), so a client
-- created after an organisation's suspension is covered too. `origin` is 'manual'
-- (a bank admin; lifting needs a second bank user) or the sweep rule that took it
-- ('ownerless', 'evidence', 'exception_lapsed'), which lifts it when the cause is
-- cured.
CREATE TABLE suspensions (
    id          TEXT PRIMARY KEY,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('client', 'organisation', 'scope', 'issuer')),
    target      TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('manual', 'ownerless', 'evidence', 'exception_lapsed')),
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    lifted_at   BIGINT,
    lifted_by   TEXT,
    lift_reason TEXT
);
CREATE INDEX suspensions_open ON suspensions (lifted_at, target_kind, target);
-- One open sweep suspension per client and cause, however many sweeps run at once.
CREATE UNIQUE INDEX suspensions_one_open_rule ON suspensions (target, origin)
    WHERE lifted_at IS NULL AND origin <> 'manual';

-- Exceptions to a tier rule for one client: explicit, temporary, reviewable.
-- `version` guards each decision (a conditional update), so one decision wins.
CREATE TABLE policy_exceptions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organisations (id),
    app_id          TEXT NOT NULL REFERENCES apps (id),
    rule            TEXT NOT NULL CHECK (rule IN ('client_secret', 'credential_lifetime', 'ip_allowlist')),
    reason          TEXT NOT NULL,
    ends_at         BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'granted', 'refused', 'lapsed')),
    requested_by    TEXT NOT NULL,
    requested_at    BIGINT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    decision_reason TEXT,
    version         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX policy_exceptions_app ON policy_exceptions (app_id, status);

-- The one scheduler: a row per periodic job. An instance runs a job only after
-- taking its lease with a conditional update (due, and no unexpired lease), so
-- instances sharing a database never run the same job at the same time.
CREATE TABLE scheduler_jobs (
    name        TEXT PRIMARY KEY,
    next_due_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT
);
-- What each run did.
CREATE TABLE job_runs (
    id          TEXT PRIMARY KEY,
    job         TEXT NOT NULL,
    instance    TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    summary     TEXT NOT NULL
);
CREATE INDEX job_runs_job ON job_runs (job, started_at);

-- Every notice the sweep gives (an expiry warning at one lead time, a dormancy
-- warning, an owner request, …), by a key naming its subject and occasion. The
-- primary key makes each notice happen once, whichever instance gets there first;
-- the e-mails are written in the same transaction. Shown on the dashboard and in
-- the inventory until resolved.
CREATE TABLE governance_notices (
    key           TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    org_id        TEXT NOT NULL,
    app_id        TEXT,
    credential_id TEXT,
    message       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    resolved_at   BIGINT
);
CREATE INDEX governance_notices_org ON governance_notices (org_id, resolved_at);
