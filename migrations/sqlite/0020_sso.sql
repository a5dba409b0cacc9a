-- Issue 28: single sign-on through OpenID providers. Same conventions as 0001.
-- Never edit this file once it has landed.
--
-- A person as an OpenID provider knows them: one row per (issuer, subject), the
-- Gatehouse account it signs in, the provider's id in the configuration, and the
-- claims that mattered at the last sign-in (JSON: groups, acr, amr, e-mail). The
-- dormant-staff job reads last_sign_in_at.
CREATE TABLE sso_identities (
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    idp             TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_seen_at   BIGINT NOT NULL,
    last_sign_in_at BIGINT NOT NULL,
    last_claims     TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_identities_user ON sso_identities (user_id);

-- The provider's session (`sid`) behind a Gatehouse sign-in, so a back-channel
-- logout token that names only the session still finds the person.
CREATE TABLE sso_sessions (
    issuer     TEXT NOT NULL,
    sid        TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, sid)
);
CREATE INDEX sso_sessions_user ON sso_sessions (user_id);

-- A fresh multi-factor sign-in at the provider that stands for the authenticator
-- code of one decision: used once (used_at set in one conditional update), within
-- five minutes.
CREATE TABLE sso_step_ups (
    id      TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at      BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX sso_step_ups_user ON sso_step_ups (user_id);
