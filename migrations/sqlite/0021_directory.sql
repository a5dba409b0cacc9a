-- Issue 29: Gatehouse as the directory of its partners' software. Same conventions
-- as 0001. Never edit this file once it has landed.
--
-- Every app is a piece of software the directory knows (its software id is derived
-- from the app's id; a revoked app is withdrawn software). The directory signs its
-- statements with keys of its own: `signing_keys` rows whose issuer is 'directory',
-- never the token issuers' keys.
--
-- One row per software statement (SSA) issued: who downloaded it and when, and when
-- it expires. Registration (RFC 7591) will use each `jti` once through `used_at`.
CREATE TABLE software_statements (
    jti        TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    org_id     TEXT NOT NULL REFERENCES organisations (id),
    issued_by  TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX software_statements_app ON software_statements (app_id, issued_at);

-- The directory's keys live beside the token issuers' in `signing_keys`, under an
-- issuer of their own. SQLite cannot change a CHECK constraint, so the table is
-- rebuilt as 0018 rebuilt `suspensions`: the same rows under the same name.
CREATE TABLE signing_keys_new (
    kid         TEXT PRIMARY KEY,
    issuer      TEXT NOT NULL CHECK (issuer IN ('sandbox', 'production', 'directory')),
    alg         TEXT NOT NULL CHECK (alg IN ('ES256', 'PS256', 'EdDSA')),
    private_key BLOB NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    active_from BIGINT NOT NULL,
    retired_at  BIGINT
);
INSERT INTO signing_keys_new (kid, issuer, alg, private_key, public_jwk, created_at, active_from, retired_at)
    SELECT kid, issuer, alg, private_key, public_jwk, created_at, active_from, retired_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;

-- Clients registered with a software statement (RFC 7591): ordinary apps of the
-- software's organisation, each naming the software (app) it was registered from,
-- so withdrawing the software, or suspending its client, reaches them too. The
-- registration access token (RFC 7592) is kept only as a keyed hash.
ALTER TABLE apps ADD COLUMN registered_from TEXT REFERENCES apps (id);
ALTER TABLE apps ADD COLUMN registration_token_hash TEXT;
CREATE INDEX apps_registered_from ON apps (registered_from);
CREATE UNIQUE INDEX apps_registration_token ON apps (registration_token_hash);
