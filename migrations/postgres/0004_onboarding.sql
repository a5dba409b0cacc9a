-- Tiered onboarding and due diligence (PostgreSQL; migrations/sqlite has the same tables).
--
-- The catalogue (scopes, questionnaires, tiers) is edited by bank admins; the bundled
-- default is seeded at start-up when the catalogue is empty (app/src/onboarding/catalogue.rs).
-- A partner's application for a tier collects its steps as drafts, then each submission
-- freezes them into a dossier round that never changes again.
-- Never edit this file once it has landed: add a new numbered migration instead.

-- API scopes with the class of data they reach and how sensitive that is.
CREATE TABLE catalogue_scopes (
    scope       TEXT PRIMARY KEY,
    product     TEXT NOT NULL,
    description TEXT NOT NULL,
    data_class  TEXT NOT NULL CHECK (data_class IN ('public_reference', 'account_information', 'payment_initiation', 'account_mutation')),
    sensitivity TEXT NOT NULL CHECK (sensitivity IN ('low', 'medium', 'high')),
    updated_at  BIGINT NOT NULL
);

-- Questionnaires, versioned. `content` is JSON (sections of questions, see
-- onboarding::model::Questionnaire). A published version is never changed: answers
-- keep pointing at the version they were given against, and editing means a new version.
CREATE TABLE questionnaires (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    content      TEXT NOT NULL,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    published_at BIGINT,
    UNIQUE (name, version)
);

-- Tiers: what a tier opens and what it demands. `scopes` and `client_auth` are
-- space-separated lists; `evidence` is JSON: [{"kind": "pen_test", "max_age_days": 365}].
CREATE TABLE tiers (
    level                 BIGINT PRIMARY KEY CHECK (level BETWEEN 1 AND 9),
    name                  TEXT NOT NULL,
    description           TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    questionnaire_id      TEXT NOT NULL REFERENCES questionnaires (id),
    evidence              TEXT NOT NULL,
    client_auth           TEXT NOT NULL,
    max_credential_days   BIGINT NOT NULL CHECK (max_credential_days > 0),
    rate_limit_per_minute BIGINT NOT NULL CHECK (rate_limit_per_minute > 0),
    review_sla_hours      BIGINT NOT NULL CHECK (review_sla_hours > 0),
    updated_at            BIGINT NOT NULL
);

-- An organisation's application for a tier. `version` moves on every status change:
-- decisions are conditional updates on (status, version), so a double submit or two
-- reviewers at once make exactly one decision. `round` counts submissions.
CREATE TABLE applications (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organisations (id),
    tier             BIGINT NOT NULL,
    questionnaire_id TEXT NOT NULL REFERENCES questionnaires (id),
    status           TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'more_info', 'approved', 'rejected')),
    round            BIGINT NOT NULL DEFAULT 0,
    version          BIGINT NOT NULL DEFAULT 0,
    assigned_to      TEXT REFERENCES users (id),
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    submitted_at     BIGINT,
    decided_at       BIGINT,
    decided_by       TEXT,
    decision_reason  TEXT
);
-- One open application per organisation at a time.
CREATE UNIQUE INDEX applications_one_open ON applications (org_id) WHERE status IN ('draft', 'submitted', 'more_info');
CREATE INDEX applications_queue ON applications (status, submitted_at);

-- Each wizard step's saved answers (a JSON object), with an optimistic-lock version:
-- a save names the version it was edited from, so two admins never overwrite each other.
CREATE TABLE application_steps (
    application_id TEXT NOT NULL REFERENCES applications (id),
    step           TEXT NOT NULL,
    answers        TEXT NOT NULL,
    version        BIGINT NOT NULL,
    updated_by     TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (application_id, step)
);

-- Evidence files of an organisation, stored in the object store under `object_key`.
-- Dates are `YYYY-MM-DD`. A removed file keeps its row and object: a dossier may cite it.
CREATE TABLE evidence (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    kind         TEXT NOT NULL CHECK (kind IN ('pen_test', 'iso27001_soc2', 'licence', 'incident_response_plan', 'insurance')),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    object_key   TEXT NOT NULL,
    issued_on    TEXT NOT NULL,
    expires_on   TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  BIGINT NOT NULL,
    removed_at   BIGINT
);
CREATE INDEX evidence_org ON evidence (org_id);

-- A submission, frozen: the questionnaire version, every step's answers and the
-- evidence (ids, hashes, dates) as they were when the partner submitted round `round`.
CREATE TABLE dossiers (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    round          BIGINT NOT NULL,
    content        TEXT NOT NULL,
    submitted_by   TEXT NOT NULL,
    submitted_at   BIGINT NOT NULL,
    UNIQUE (application_id, round)
);

-- The conversation of an application: reviewers' questions and decisions' reasons,
-- partners' answers, each tied to the round it belongs to.
CREATE TABLE application_messages (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    round          BIGINT NOT NULL,
    author_id      TEXT NOT NULL,
    author_side    TEXT NOT NULL CHECK (author_side IN ('bank', 'partner')),
    kind           TEXT NOT NULL CHECK (kind IN ('question', 'answer', 'approval', 'rejection')),
    body           TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX application_messages_app ON application_messages (application_id, created_at);

-- Tiers an organisation is approved for. A higher tier adds a row; the lower one stays.
CREATE TABLE tier_approvals (
    org_id         TEXT NOT NULL REFERENCES organisations (id),
    tier           BIGINT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id),
    approved_by    TEXT NOT NULL,
    approved_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, tier)
);
