-- Open311 GeoReport v2: one row per POST requests. The token answers a batch
-- service and resolves to the case through tokens/{token}; the submitter's
-- contact stays here (for the follow-up call, 回访), never in a GET answer.
-- (client, idempotency_key) makes a replayed create answer the first one.

CREATE TABLE IF NOT EXISTS open311_requests (
    token            text        PRIMARY KEY,
    case_id          bigint      REFERENCES cases (id),
    service_code     text        NOT NULL,
    client           text        NOT NULL,   -- 'key:<id>' or 'public:<address>'
    idempotency_key  text,
    address_string   text,
    address_id       text,
    media_url        text,
    first_name       text,
    last_name        text,
    email            text,
    phone            text,
    device_id        text,
    account_id       text,
    attributes       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    received_at      timestamptz NOT NULL,
    UNIQUE (client, idempotency_key)
);
CREATE INDEX IF NOT EXISTS open311_requests_case ON open311_requests (case_id, received_at);
