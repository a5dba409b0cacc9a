-- Production access requests, the risk policy, reviews and production clients
-- (PostgreSQL; migrations/sqlite has the same tables). Same conventions as 0001.

-- Production clients live in `apps` with environment 'production'. They add an IP
-- allow-list (CIDR ranges, whitespace-separated, empty = anywhere) enforced at the
-- production token endpoint, and a link to the request that created them.
ALTER TABLE apps ADD COLUMN ip_allowlist TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN access_request_id TEXT;

-- The approval-routing policy: Rego source and its own test table, hashed together.
-- Exactly one version is active; earlier versions stay, so every decision can be
-- replayed with the policy it was made under.
CREATE TABLE risk_policies (
    id         TEXT PRIMARY KEY,
    version    BIGINT NOT NULL UNIQUE,
    sha256     TEXT NOT NULL,
    source     TEXT NOT NULL,
    tests      TEXT NOT NULL,
    note       TEXT NOT NULL,
    active     BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX risk_policies_one_active ON risk_policies (active) WHERE active = 1;

-- A partner's request for production credentials for one sandbox app.
-- `justifications` is a JSON object scope → text. `facts` and `decision` are the
-- policy's full input and output for the latest round; `conditions` are those of
-- the credential issued (the policy's, narrowed by reviewers). `version` guards
-- every state change (a conditional update), so one decision wins.
CREATE TABLE access_requests (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organisations (id),
    app_id             TEXT NOT NULL REFERENCES apps (id),
    tier               BIGINT NOT NULL,
    scopes             TEXT NOT NULL,
    justifications     TEXT NOT NULL,
    calls_per_day      BIGINT NOT NULL,
    peak_per_second    BIGINT NOT NULL,
    auth_method        TEXT NOT NULL,
    key_material       TEXT,
    ip_allowlist       TEXT NOT NULL,
    lifetime_days      BIGINT NOT NULL,
    go_live            TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending_review', 'pending_second_review', 'more_info', 'approved', 'rejected')),
    route              TEXT NOT NULL CHECK (route IN ('auto_approve', 'one_reviewer', 'four_eyes', 'auto_reject')),
    score              BIGINT NOT NULL,
    band               TEXT NOT NULL,
    policy_id          TEXT NOT NULL REFERENCES risk_policies (id),
    policy_sha256      TEXT NOT NULL,
    facts              TEXT NOT NULL,
    decision           TEXT NOT NULL,
    evidence_version   TEXT NOT NULL,
    conditions         TEXT,
    round              BIGINT NOT NULL DEFAULT 1,
    assigned_to        TEXT REFERENCES users (id),
    production_app_id  TEXT REFERENCES apps (id),
    secret_collected   BIGINT NOT NULL DEFAULT 0,
    escalated_at       BIGINT,
    version            BIGINT NOT NULL DEFAULT 1,
    submitted_by       TEXT NOT NULL REFERENCES users (id),
    submitted_at       BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    decided_at         BIGINT
);
CREATE INDEX access_requests_org ON access_requests (org_id);
CREATE INDEX access_requests_status ON access_requests (status, submitted_at);
-- One open request per app.
CREATE UNIQUE INDEX access_requests_open ON access_requests (app_id)
    WHERE status IN ('pending_review', 'pending_second_review', 'more_info');

-- Every decision on a request, by a person or by the policy (reviewer_id NULL):
-- stage 1 is the first review, stage 2 the four-eyes approver. One decision per
-- stage and round, enforced here as well as by the request's version.
CREATE TABLE access_reviews (
    id             TEXT PRIMARY KEY,
    request_id     TEXT NOT NULL REFERENCES access_requests (id),
    round          BIGINT NOT NULL,
    stage          BIGINT NOT NULL,
    reviewer_id    TEXT REFERENCES users (id),
    reviewer_email TEXT,
    decision       TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'more_info')),
    conditions     TEXT,
    reason         TEXT NOT NULL,
    step_up_at     BIGINT,
    created_at     BIGINT NOT NULL,
    UNIQUE (request_id, round, stage)
);

-- The conversation of a request: reviewers' questions and partners' answers.
CREATE TABLE access_request_messages (
    id         TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    round      BIGINT NOT NULL,
    author_id  TEXT NOT NULL REFERENCES users (id),
    from_bank  BIGINT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX access_request_messages_request ON access_request_messages (request_id);
