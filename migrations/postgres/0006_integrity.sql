-- Integrity fixes from the line-by-line review (issue 18).
--
-- 1. Mutual-TLS clients register their certificate (RFC 8705 §2.2,
--    `self_signed_tls_client_auth`): a credential of kind `tls_certificate` whose
--    `material` is the certificate's base64url SHA-256 thumbprint (`x5t#S256`). A
--    `tls_subject` credential (a subject DN, §2.1) is now trusted only in a certificate
--    whose chain validates against a partner CA the bank configured.
ALTER TABLE credentials DROP CONSTRAINT credentials_kind_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_kind_check
    CHECK (kind IN ('client_secret', 'jwks', 'jwks_uri', 'tls_subject', 'tls_certificate'));

-- 3. Every access token minted from a refresh-token family (by the authorization-code
--    grant or a refresh), so that revoking the family (reuse detection, RFC 7009
--    revocation of a refresh token, a reused code) revokes the access tokens that
--    descend from it too, not only the refresh tokens. Rows go when the token expires.
CREATE TABLE family_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    expires_at BIGINT NOT NULL
);
CREATE INDEX family_access_tokens_family ON family_access_tokens (family_id);

-- 6. A production request form carries a one-time submission key, drawn when the form
--    is first shown and kept when it comes back with errors. A double click, a retry
--    after a lost response or two concurrent posts of the same form give one request
--    (and, when the policy approves it at once, one production client): the second
--    finds the first by its key.
ALTER TABLE access_requests ADD COLUMN submission_key TEXT;
CREATE UNIQUE INDEX access_requests_submission ON access_requests (org_id, submission_key);

-- Issue 19 item 16: a production request's review clock (SLA, escalation, the queue's
-- order) runs from its submission or the partner's latest answer, not from any
-- update, so an edit cannot reset it.
ALTER TABLE access_requests ADD COLUMN waiting_since BIGINT;
UPDATE access_requests SET waiting_since = submitted_at;

-- Issue 18 item 4: a signing key can be retired (`gatehouse keys retire`), for example
-- when it is compromised. A retired key is neither published in the JWKS nor accepted
-- when verifying a token, from the moment instances reload their keys.
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;

-- Issue 18 item 9: removing a member never deletes the user row (their apps, requests
-- and messages refer to it). The account is disabled, its sessions end, and it is
-- marked removed: it leaves the members list, and what it owned either passes to a
-- named colleague or shows as having no owner.
ALTER TABLE users ADD COLUMN removed_at BIGINT;

-- Issue 18 item 13: sign-out is final. Every session id that was ended (sign-out, an
-- id cycled at sign-in or enrolment, a session ended for a disabled account) is
-- remembered, by its SHA-256, until sessions of that age have expired anyway. A
-- request still in flight with that id cannot write the session back: the store
-- refuses to load or keep it.
CREATE TABLE ended_sessions (
    id_sha256 TEXT PRIMARY KEY,
    ended_at  BIGINT NOT NULL
);
