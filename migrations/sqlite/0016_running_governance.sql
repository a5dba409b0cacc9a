-- Issue 27: governance that holds in a running server. Same conventions as 0001.
-- Never edit this file once it has landed.

-- Deliveries a partner admin queued by hand (a test event, "send again"), by the
-- application's clock: at most `dispatch::MANUAL_PER_MINUTE` per organisation per
-- minute, so a script cannot fill the outbox (review finding N6). Pruned with the
-- finished deliveries.
CREATE TABLE webhook_manual_sends (
    org_id  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX webhook_manual_sends_org ON webhook_manual_sends (org_id, at);

-- Picking due deliveries skips endpoints with an attempt in flight.
CREATE INDEX webhook_messages_claimed ON webhook_messages (state, claimed_until);

-- When a credential was rotated: it has a successor and cannot be rotated again,
-- so a rotation is one credential replaced by one (review finding L6).
ALTER TABLE credentials ADD COLUMN rotated_at BIGINT;

-- The operations page reads the latest runs, and `job_runs_prune` deletes the old
-- ones: both by start time (review finding L11).
CREATE INDEX job_runs_started ON job_runs (started_at);
