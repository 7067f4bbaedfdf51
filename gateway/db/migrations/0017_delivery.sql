-- Delivery of the notifications outbox (dispatch/delivery, docs/notifications.md).
--
-- A notification is pending until every channel of its recipient acknowledged it
-- (delivered), or until its last retry passed with a channel still silent (failed).
-- Workers claim due rows with FOR UPDATE SKIP LOCKED and lease them by moving
-- next_attempt_at forward, so a worker killed mid-delivery hands its rows on
-- when the lease runs out. The message is composed once, at the first claim, so
-- every retry sends the same text under the same id.

ALTER TABLE notifications
    ADD COLUMN status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    ADD COLUMN attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN message         jsonb,
    ADD COLUMN failed_at       timestamptz,
    ADD COLUMN last_error      text;

UPDATE notifications SET status = 'delivered' WHERE delivered_at IS NOT NULL;

DROP INDEX IF EXISTS notifications_pending;
-- A new notice has no next_attempt_at: it is due from created_at.
CREATE INDEX IF NOT EXISTS notifications_due
    ON notifications ((coalesce(next_attempt_at, created_at)), id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS notifications_failed
    ON notifications (failed_at DESC, id) WHERE status = 'failed';

-- Every attempt on every channel: written as 'sending' and committed before the
-- message leaves, then given its answer, so an attempt cut short by a crash is
-- still here ('abandoned' once another worker takes the notification over).
CREATE TABLE IF NOT EXISTS notification_attempts (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint      NOT NULL REFERENCES notifications (id),
    attempt         integer     NOT NULL CHECK (attempt >= 1),
    channel         text        NOT NULL,   -- 'mqtt' or 'webhook:<name>'
    target          text        NOT NULL,   -- the topic or the URL
    worker          text        NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    outcome         text        NOT NULL DEFAULT 'sending'
        CHECK (outcome IN ('sending', 'acknowledged', 'retry', 'refused', 'abandoned')),
    answer          text,                   -- 'HTTP 503', 'PUBACK 0', 'timeout' ...
    acknowledged    boolean     NOT NULL DEFAULT false,
    sent            jsonb       NOT NULL,   -- what went out: id, timestamp, body
    error           text
);
CREATE INDEX IF NOT EXISTS notification_attempts_notification
    ON notification_attempts (notification_id, id);

-- The API reads attempts of the notifications it may see (those of its cases); the
-- services (owner and service role) see them all. Skipped where migrate.py set no roles.
DO $do$
BEGIN
    IF coalesce(current_setting('gridwatch.api_role', true), '') = '' THEN
        RETURN;
    END IF;
    ALTER TABLE notification_attempts ENABLE ROW LEVEL SECURITY;
    ALTER TABLE notification_attempts FORCE ROW LEVEL SECURITY;
    EXECUTE format('GRANT SELECT ON notification_attempts TO %I',
                   current_setting('gridwatch.api_role'));
    EXECUTE format('CREATE POLICY notification_attempts_services ON notification_attempts'
                   ' TO %I, %I USING (true) WITH CHECK (true)',
                   current_setting('gridwatch.owner_role'),
                   current_setting('gridwatch.service_role'));
    EXECUTE format('CREATE POLICY notification_attempts_scope ON notification_attempts'
                   ' FOR SELECT TO %I USING (notification_id IN (SELECT id FROM notifications))',
                   current_setting('gridwatch.api_role'));
END
$do$;
