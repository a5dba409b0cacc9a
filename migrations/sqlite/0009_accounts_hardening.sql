-- Issue 19 item 8: once an account has had several failed sign-ins, its password is
-- checked at most once per slot (2 to 8 seconds, growing with the failures), however
-- many attempts arrive in parallel or from how many addresses. The slot is claimed
-- atomically here, so every instance sharing the database keeps the same pace. The
-- real user is never locked out: an attempt in a taken slot is told when to retry.
CREATE TABLE signin_slots (
    email_key TEXT PRIMARY KEY,
    next_at   INTEGER NOT NULL
);

-- Issue 19 item 6: an invitation to an address that already has an account with
-- another organisation (or is bank staff). The inviter is answered as for any
-- invitation and sees it listed as invited, so the team page never tells that the
-- address exists elsewhere; the address's owner is told by e-mail instead. No account
-- is created or changed.
CREATE TABLE invitation_notices (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    email        TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL,
    invited_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (org_id, email)
);
