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

-- A partner organisation's own OpenID provider: what its admin connected (the
-- client secret encrypted with the installation's key), waiting for, approved or
-- rejected (or switched off) by a bank admin. An approved connection is not edited:
-- the partner removes it and connects again. Instances rebuild their provider
-- object when `version` moves.
CREATE TABLE org_idps (
    org_id          TEXT PRIMARY KEY REFERENCES organisations (id),
    issuer          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    client_secret   BYTEA NOT NULL,
    domains         TEXT NOT NULL,
    member_role     TEXT NOT NULL CHECK (member_role IN ('partner_admin', 'partner_developer')),
    require_sso     BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_by    TEXT NOT NULL REFERENCES users (id),
    requested_at    BIGINT NOT NULL,
    decided_by      TEXT REFERENCES users (id),
    decided_at      BIGINT,
    decision_reason TEXT,
    updated_at      BIGINT NOT NULL,
    -- Counts every change: the bank's decision names the version it reviewed.
    version         BIGINT NOT NULL DEFAULT 1
);

-- Each e-mail domain is vouched for by one organisation's provider at most.
CREATE TABLE org_idp_domains (
    domain TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id)
);
CREATE INDEX org_idp_domains_org ON org_idp_domains (org_id);

-- Back-channel logout tokens already acted on (OpenID Connect Back-Channel Logout
-- 1.0 §2.6 item 7): a replayed one is refused. Rows go once the token has expired
-- (a replay then fails its own time checks).
CREATE TABLE sso_logout_jtis (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
