-- The sandbox API: each organisation's synthetic dataset, Open Banking consents
-- (account-access and domestic-payment "intents"), payments and idempotency keys.
-- Same conventions as 0001: prefixed text ids, BIGINT epoch seconds.
-- Never edit this file once it has landed: add a new numbered migration instead.

-- The seed of an organisation's sandbox dataset. Transactions are generated from it on
-- demand (sandbox-data); a reset gives the organisation a new seed.
CREATE TABLE sandbox_datasets (
    org_id     TEXT PRIMARY KEY REFERENCES organisations (id),
    seed       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    reset_at   BIGINT
);

-- OBIE consents, created by the app with a client-credentials token and authorised by
-- a test customer in the authorization-code flow (`openbanking_intent_id`).
-- account-access: `permissions` (space-separated), the optional expiry and
-- transaction window, and once authorised the `accounts` the customer picked.
-- domestic-payment: `initiation` (the JSON the app sent), once authorised the
-- `debtor_account`; Consumed when the payment is made.
CREATE TABLE ob_consents (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('account-access', 'domestic-payment')),
    app_id             TEXT NOT NULL REFERENCES apps (id),
    org_id             TEXT NOT NULL REFERENCES organisations (id),
    status             TEXT NOT NULL CHECK (status IN ('AwaitingAuthorisation', 'Authorised', 'Rejected', 'Revoked', 'Consumed')),
    permissions        TEXT,
    expires_at         BIGINT,
    transactions_from  BIGINT,
    transactions_to    BIGINT,
    initiation         TEXT,
    risk               TEXT NOT NULL,
    customer           TEXT,
    accounts           TEXT,
    created_at         BIGINT NOT NULL,
    status_updated_at  BIGINT NOT NULL
);
CREATE INDEX ob_consents_app ON ob_consents (app_id);

-- The customer's grant behind an access token names the OBIE consent it authorised.
ALTER TABLE consents ADD COLUMN intent_id TEXT REFERENCES ob_consents (id);

-- Domestic payments made through the sandbox: they debit the customer's account in
-- that organisation's dataset (as transactions and in the balance).
CREATE TABLE sandbox_payments (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    app_id      TEXT NOT NULL REFERENCES apps (id),
    consent_id  TEXT NOT NULL UNIQUE REFERENCES ob_consents (id),
    account_id  TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    initiation  TEXT NOT NULL,
    -- rejected: refused for insufficient funds; it never touches the balance.
    outcome     TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    created_at  BIGINT NOT NULL
);
CREATE INDEX sandbox_payments_account ON sandbox_payments (org_id, account_id);

-- x-idempotency-key (OBIE): the same key with the same body replays the first
-- response; with another body it is refused. Kept for 24 hours.
CREATE TABLE idempotency_keys (
    app_id        TEXT NOT NULL REFERENCES apps (id),
    endpoint      TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT NOT NULL,
    response      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (app_id, endpoint, idem_key)
);
