-- Issue 19 item 8: once an account has had several failed sign-ins, its password is
-- checked at most once per slot (2 to 8 seconds, growing with the failures), however
-- many attempts arrive in parallel or from how many addresses. The slot is claimed
-- atomically here, so every instance sharing the database keeps the same pace. The
-- real user is never locked out: an attempt in a taken slot is told when to retry.
CREATE TABLE signin_slots (
    email_key TEXT PRIMARY KEY,
    next_at   INTEGER NOT NULL
);
