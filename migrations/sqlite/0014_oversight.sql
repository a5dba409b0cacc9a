-- Issue 17: usage analytics and anomaly alerts. Same conventions as 0001. Never edit
-- this file once it has landed.

-- The caller's address of each logged request (after the trusted-proxy rules), for
-- the distinct-sources figure and the origin rules. Never a token or a secret.
ALTER TABLE request_log ADD COLUMN source TEXT;
-- The retention prune and the usage roll-up read the log by time across all apps.
CREATE INDEX request_log_at ON request_log (at);

-- Time-bucketed usage per client, rolled up by the scheduler from the request log:
-- `granularity` 60 (kept 7 days by default) or 3600 (kept 90 days). Latency is a
-- histogram (`latency_bins`: comma-separated counts of fixed bins, see
-- app/src/usage/series.rs) so buckets add up into any range and percentiles follow.
CREATE TABLE usage_series (
    app_id          TEXT NOT NULL,
    granularity     BIGINT NOT NULL,
    bucket_at       BIGINT NOT NULL,
    calls           BIGINT NOT NULL,
    ok              BIGINT NOT NULL,
    client_errors   BIGINT NOT NULL,
    server_errors   BIGINT NOT NULL,
    latency_bins    TEXT NOT NULL,
    sources         BIGINT NOT NULL,
    peak_per_second BIGINT NOT NULL,
    PRIMARY KEY (app_id, granularity, bucket_at)
);
CREATE INDEX usage_series_at ON usage_series (granularity, bucket_at);

-- Calls per endpoint template (ids replaced by `{id}`), status and error code.
CREATE TABLE usage_detail (
    app_id      TEXT NOT NULL,
    granularity BIGINT NOT NULL,
    bucket_at   BIGINT NOT NULL,
    method      TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    status      BIGINT NOT NULL,
    error       TEXT NOT NULL,
    calls       BIGINT NOT NULL,
    PRIMARY KEY (app_id, granularity, bucket_at, method, endpoint, status, error)
);
CREATE INDEX usage_detail_at ON usage_detail (granularity, bucket_at);

-- Calls and authentication failures per source address and minute (kept as long as
-- the minute series), and every source network (/24, /48) a client has called from.
CREATE TABLE usage_sources (
    app_id    TEXT NOT NULL,
    bucket_at BIGINT NOT NULL,
    source    TEXT NOT NULL,
    calls     BIGINT NOT NULL,
    failures  BIGINT NOT NULL,
    PRIMARY KEY (app_id, bucket_at, source)
);
CREATE INDEX usage_sources_at ON usage_sources (bucket_at);
CREATE TABLE source_networks (
    app_id        TEXT NOT NULL,
    network       TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, network)
);
-- The first call of each client to each endpoint template.
CREATE TABLE usage_endpoints (
    app_id        TEXT NOT NULL,
    method        TEXT NOT NULL,
    endpoint      TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, method, endpoint)
);
-- How far each granularity is rolled up: the roll-up moves it with a conditional
-- update in the transaction that writes the buckets, so no range is counted twice.
CREATE TABLE usage_rollups (
    granularity BIGINT PRIMARY KEY,
    done_until  BIGINT NOT NULL
);

-- The anomaly rules' settings (bank admins change them; absent rows take the
-- defaults in app/src/alerts/rules.rs).
CREATE TABLE alert_rules (
    rule       TEXT PRIMARY KEY,
    enabled    BIGINT NOT NULL,
    severity   TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    params     TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- An alert: which rule fired for which client (or source address), with the
-- thresholds and evidence, and its state. Repeats of one condition (`group_key`)
-- while an alert is not resolved add to it: the partial unique index keeps one.
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    rule            TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    group_key       TEXT NOT NULL,
    app_id          TEXT REFERENCES apps (id),
    org_id          TEXT REFERENCES organisations (id),
    source          TEXT,
    summary         TEXT NOT NULL,
    thresholds      TEXT NOT NULL,
    evidence        TEXT NOT NULL,
    occurrences     BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    first_seen_at   BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    acknowledged_by TEXT REFERENCES users (id),
    acknowledged_at BIGINT,
    resolved_by     TEXT REFERENCES users (id),
    resolved_at     BIGINT,
    resolution      TEXT,
    escalated_at    BIGINT,
    incident_id     TEXT REFERENCES incidents (id),
    suspension_id   TEXT,
    version         BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alerts_open_group ON alerts (group_key) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts (state, first_seen_at);
CREATE INDEX alerts_org ON alerts (org_id, state);
