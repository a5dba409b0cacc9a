-- Issue 18 item 16: the bank's own resource servers (API gateways), which introspect
-- the tokens whose audience they serve, and nothing else. The secret is kept only as a
-- keyed hash, like client secrets.
CREATE TABLE resource_servers (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    issuer      TEXT NOT NULL CHECK (issuer IN ('sandbox', 'production')),
    secret_hash TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
