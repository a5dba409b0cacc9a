-- Issue 15: incident records. Same conventions as 0001. Never edit this file once it
-- has landed.

-- An incident at a partner: detected (when, how), escalated (who was told, when),
-- contained (suspensions taken from the incident page are linked to it), and closed
-- with a post-incident review. Its timeline is read from the audit trail: every
-- step records an event on the incident. `version` guards each change.
CREATE TABLE incidents (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    title        TEXT NOT NULL,
    severity     TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status       TEXT NOT NULL CHECK (status IN ('open', 'contained', 'closed')),
    detected_at  BIGINT NOT NULL,
    detection    TEXT NOT NULL,
    opened_by    TEXT NOT NULL REFERENCES users (id),
    opened_at    BIGINT NOT NULL,
    review       TEXT,
    closed_by    TEXT REFERENCES users (id),
    closed_at    BIGINT,
    version      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX incidents_org ON incidents (org_id, opened_at);

-- The clients an incident concerns.
CREATE TABLE incident_clients (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    app_id      TEXT NOT NULL REFERENCES apps (id),
    PRIMARY KEY (incident_id, app_id)
);

-- What was done: an escalation (who was told, when), a containment (the suspension
-- taken), or a note.
CREATE TABLE incident_entries (
    id            TEXT PRIMARY KEY,
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    kind          TEXT NOT NULL CHECK (kind IN ('escalation', 'containment', 'note')),
    body          TEXT NOT NULL,
    told          TEXT,
    told_at       BIGINT,
    suspension_id TEXT REFERENCES suspensions (id),
    created_by    TEXT NOT NULL REFERENCES users (id),
    created_at    BIGINT NOT NULL
);
CREATE INDEX incident_entries_incident ON incident_entries (incident_id, created_at);

-- The timeline of an incident and the decisive event of a review item are read by
-- the resource an event names.
CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id);
