-- Issue 30: several instances on one PostgreSQL. Same conventions as 0001.
-- Never edit this file once it has landed.

-- Every running instance registers here and beats every few seconds; one that stops
-- beating is shown as gone (and the next live instance takes its scheduler leases).
-- `stopped_at` is set by an instance that shut down cleanly; `cache_generation` is
-- how many times its state cache was emptied.
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    version       TEXT NOT NULL,
    address       TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    last_beat_at  BIGINT NOT NULL,
    stopped_at    BIGINT,
    cache_generation BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX instances_beat ON instances (last_beat_at);

-- Shared rate-limit windows (platform::limiter): each key's current window (it starts
-- with the first request after the last one ended) and the requests reserved in it,
-- by one conditional upsert. UNLOGGED: a counter is not worth
-- the write-ahead log, and a crash loses at most the windows in progress.
CREATE UNLOGGED TABLE rate_windows (
    key           TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    hits          BIGINT NOT NULL,
    granted       BIGINT NOT NULL,
    PRIMARY KEY (key)
);
CREATE INDEX rate_windows_start ON rate_windows (window_start);

-- Evidence packs are also written to the object store (evidence_packs::archive, the
-- `evidence_packs_archive` job), once committed: when, or NULL while not yet.
ALTER TABLE evidence_packs ADD COLUMN archived_at BIGINT;
CREATE INDEX evidence_packs_unarchived ON evidence_packs (created_at) WHERE archived_at IS NULL;
