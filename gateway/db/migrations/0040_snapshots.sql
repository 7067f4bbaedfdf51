-- Evidence JPEGs the gateway holds (docs/evidence.md). The bytes live on the
-- filesystem, content-addressed by their SHA-256 (GRIDWATCH_SNAPSHOT_DIR); this
-- table says whose they are, for which event, and since when. A snapshot may
-- arrive before or after its event: the row links by event_id, never by a key.
CREATE TABLE IF NOT EXISTS snapshots (
    sha256      text        PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    device_id   text        NOT NULL,
    event_id    uuid,
    role        text        NOT NULL CHECK (role IN ('frame', 'crop')),
    category    text,
    nbytes      integer     NOT NULL CHECK (nbytes > 0),
    taken_at    timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS snapshots_event ON snapshots (event_id);
CREATE INDEX IF NOT EXISTS snapshots_received ON snapshots (received_at);

-- How long a snapshot is kept after it was taken, per category; '*' for the rest.
-- Snapshots of open (or reopened, disputed) cases are held past it.
CREATE TABLE IF NOT EXISTS snapshot_retention (
    category text     PRIMARY KEY,
    keep     interval NOT NULL CHECK (keep >= interval '1 day')
);
INSERT INTO snapshot_retention VALUES ('*', interval '180 days') ON CONFLICT DO NOTHING;

-- The API sees a snapshot when it sees the event that holds it, from the same
-- device (events_visible, migration 0016); the services see them all.
DO $do$
BEGIN
    IF coalesce(current_setting('gridwatch.api_role', true), '') = '' THEN
        RETURN;
    END IF;
    ALTER TABLE snapshots ENABLE ROW LEVEL SECURITY;
    ALTER TABLE snapshots FORCE ROW LEVEL SECURITY;
    EXECUTE format('GRANT SELECT ON snapshots TO %I', current_setting('gridwatch.api_role'));
    EXECUTE format('CREATE POLICY snapshots_services ON snapshots'
                   ' TO %I, %I USING (true) WITH CHECK (true)',
                   current_setting('gridwatch.owner_role'),
                   current_setting('gridwatch.service_role'));
    EXECUTE format('CREATE POLICY snapshots_scope ON snapshots FOR SELECT TO %I USING ('
                   ' EXISTS (SELECT 1 FROM events_visible e WHERE e.event_id = snapshots.event_id'
                   ' AND e.device_id = snapshots.device_id))',
                   current_setting('gridwatch.api_role'));
END
$do$;
