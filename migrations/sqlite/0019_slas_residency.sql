-- Issue 32: service levels both sides are held to, and data residency. Same
-- conventions as 0001. Never edit this file once it has landed.
--
-- A commitment per tier and measure, in hours. A measure without a row uses its
-- default (`slas::MEASURES`); the two decision measures default to the tier's
-- review SLA.
CREATE TABLE sla_commitments (
    tier       BIGINT NOT NULL,
    measure    TEXT NOT NULL,
    hours      BIGINT NOT NULL CHECK (hours > 0),
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tier, measure)
);

-- The partner acknowledges an incident the bank opened at its organisation: the
-- time it took is one of the partner's commitments.
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT REFERENCES users (id);
ALTER TABLE incidents ADD COLUMN acknowledged_at BIGINT;

-- Data residency: the countries (ISO 3166-1 alpha-2, space-separated; empty: no
-- constraint) a production client may call from, as the production request recorded
-- them and as the client carries them, and whether the token endpoint refuses its
-- requests from anywhere else (otherwise they raise an alert only).
ALTER TABLE access_requests ADD COLUMN allowed_countries TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN allowed_countries TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN refuse_other_countries BIGINT NOT NULL DEFAULT 0;
