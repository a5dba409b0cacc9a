-- Issue 17: partners' webhook endpoints and their outbox. Same conventions as 0001.
-- Never edit this file once it has landed.

-- An endpoint a partner admin registered. The signing secrets are kept encrypted
-- with the installation's key (`Keys::encrypt`), never in the clear; a rotation keeps
-- the previous secret until `previous_until`, and deliveries are signed with both.
CREATE TABLE webhook_endpoints (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organisations (id),
    url               TEXT NOT NULL,
    description       TEXT NOT NULL,
    -- The event types delivered, space-separated.
    events            TEXT NOT NULL,
    secret            BYTEA NOT NULL,
    previous_secret   BYTEA,
    previous_until    BIGINT,
    -- active | disabled
    state             TEXT NOT NULL,
    disabled_reason   TEXT,
    disabled_at       BIGINT,
    -- The first failure since the last success; cleared by a success.
    failing_since     BIGINT,
    created_by        TEXT NOT NULL REFERENCES users (id),
    created_at        BIGINT NOT NULL,
    version           BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id);

-- The outbox: one message per endpoint and event, written in the transaction of the
-- change it reports. `id` is the `webhook-id` header, the same on every attempt.
-- state: pending | delivered | failed (gave up or refused) | cancelled
-- A claimed message has `claimed_until` in the future: no other instance sends it.
CREATE TABLE webhook_messages (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id),
    org_id          TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    -- The attempts made before the last "send again": the retry schedule restarts.
    base_attempts   BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    claimed_until   BIGINT,
    claimed_by      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX webhook_messages_due ON webhook_messages (state, next_attempt_at);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);

-- Every attempt: when, the answer's status (none when no answer came), the error,
-- and how long it took.
CREATE TABLE webhook_attempts (
    message_id  TEXT NOT NULL REFERENCES webhook_messages (id),
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status      BIGINT,
    error       TEXT,
    latency_ms  BIGINT NOT NULL,
    PRIMARY KEY (message_id, attempt)
);
