-- Issue 15: access-review campaigns (re-certification). Same conventions as 0001.
-- Never edit this file once it has landed.

-- When each client last used each scope, kept by the request-log writer once per
-- batch (never per request): `call` is the latest successful API call under the
-- scope's API (sandbox), `token` the latest successful token grant naming it.
CREATE TABLE scope_use (
    app_id  TEXT NOT NULL,
    scope   TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('call', 'token')),
    last_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, scope, kind)
);
-- An upgraded installation starts from its request log's history of API calls.
INSERT INTO scope_use (app_id, scope, kind, last_at)
    SELECT app_id, 'accounts', 'call', MAX(at) FROM request_log
    WHERE endpoint LIKE '/sandbox/open-banking/v3.1/aisp/%' AND status < 400 GROUP BY app_id;
INSERT INTO scope_use (app_id, scope, kind, last_at)
    SELECT app_id, 'payments', 'call', MAX(at) FROM request_log
    WHERE endpoint LIKE '/sandbox/open-banking/v3.1/pisp/%' AND status < 400 GROUP BY app_id;
INSERT INTO scope_use (app_id, scope, kind, last_at)
    SELECT app_id, 'reference', 'call', MAX(at) FROM request_log
    WHERE endpoint LIKE '/sandbox/open-banking/v3.1/reference/%' AND status < 400 GROUP BY app_id;

-- A campaign: which production clients it covers (every one, a tier, an
-- organisation, or the holders of a scope), when it is due, when reminders go out
-- (seconds before the due date, JSON), and what happens to an item nobody answered.
-- Recurring campaigns per tier carry `recurring_tier` and `period` ('2027-Q1',
-- '2027-H1', '2027'); the unique index makes the sweep create each period's once,
-- however many instances run it.
CREATE TABLE review_campaigns (
    id             TEXT PRIMARY KEY,
    title          TEXT NOT NULL,
    scope_kind     TEXT NOT NULL CHECK (scope_kind IN ('all', 'tier', 'organisation', 'scope')),
    scope_value    TEXT NOT NULL DEFAULT '',
    period_days    BIGINT NOT NULL,
    starts_at      BIGINT NOT NULL,
    due_at         BIGINT NOT NULL,
    reminders      TEXT NOT NULL,
    on_unanswered  TEXT NOT NULL CHECK (on_unanswered IN ('suspend', 'suspend_then_revoke', 'none')),
    grace_days     BIGINT NOT NULL DEFAULT 0,
    recurring_tier BIGINT,
    period         TEXT,
    status         TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    closed_at      BIGINT,
    pack_id        TEXT
);
CREATE UNIQUE INDEX review_campaigns_period ON review_campaigns (recurring_tier, period)
    WHERE recurring_tier IS NOT NULL;

-- One item per client. The partner admin attests (`kept_scopes`, a justification per
-- kept scope), then a bank reviewer decides; `version` guards every step (a
-- conditional update), so a double submit or two reviewers cannot decide twice.
-- states: awaiting_partner → awaiting_bank → confirmed | narrowed | revoked;
-- awaiting_partner → unanswered (the campaign's outcome applied at the due date).
CREATE TABLE review_items (
    id                TEXT PRIMARY KEY,
    campaign_id       TEXT NOT NULL REFERENCES review_campaigns (id),
    org_id            TEXT NOT NULL REFERENCES organisations (id),
    app_id            TEXT NOT NULL REFERENCES apps (id),
    scopes            TEXT NOT NULL,
    unused_scopes     TEXT NOT NULL,
    last_use          TEXT NOT NULL,
    owner_label       TEXT NOT NULL,
    exceptions        TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('awaiting_partner', 'awaiting_bank', 'confirmed', 'narrowed', 'revoked', 'unanswered')),
    still_needed      BIGINT,
    kept_scopes       TEXT,
    justifications    TEXT,
    attested_by       TEXT REFERENCES users (id),
    attested_at       BIGINT,
    bank_decision     TEXT,
    bank_note         TEXT,
    decided_by        TEXT REFERENCES users (id),
    decided_at        BIGINT,
    resulting_scopes  TEXT,
    outcome           TEXT,
    revoke_due_at     BIGINT,
    version           BIGINT NOT NULL DEFAULT 0,
    UNIQUE (campaign_id, app_id)
);
CREATE INDEX review_items_org ON review_items (org_id, state);
