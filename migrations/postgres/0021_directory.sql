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
-- issuer of their own.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_issuer_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_issuer_check
    CHECK (issuer IN ('sandbox', 'production', 'directory'));

-- Clients registered with a software statement (RFC 7591): ordinary apps of the
-- software's organisation, each naming the software (app) it was registered from,
-- so withdrawing the software, or suspending its client, reaches them too. The
-- registration access token (RFC 7592) is kept only as a keyed hash.
ALTER TABLE apps ADD COLUMN registered_from TEXT REFERENCES apps (id);
ALTER TABLE apps ADD COLUMN registration_token_hash TEXT;
CREATE INDEX apps_registered_from ON apps (registered_from);
CREATE UNIQUE INDEX apps_registration_token ON apps (registration_token_hash);
