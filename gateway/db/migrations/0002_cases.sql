-- Dispatch: cases, the events they hold, their append-only history, the people
-- pulled in, and the notification outbox. Plain SQL that runs with and without
-- TimescaleDB; no foreign key to events (a hypertable cannot be referenced).

CREATE TABLE IF NOT EXISTS cases (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source              text        NOT NULL CHECK (source IN ('event', 'report')),
    category            text        NOT NULL,
    severity            smallint    NOT NULL CHECK (severity BETWEEN 1 AND 4),
    status              text        NOT NULL CHECK (status IN (
                            'new', 'assigned', 'accepted', 'in_progress', 'resolved',
                            'verified', 'closed', 'rejected', 'duplicate', 'reopened')),
    summary             text,
    description         text,
    lon                 double precision,
    lat                 double precision,
    unit_id             text,
    grid_id             text,
    village_id          text,
    town_id             text,
    department_id       text,
    assignee            text,       -- person id of whoever must act
    assignee_name       text,
    assignee_area       text,       -- the area whose leader the assignee is
    route_note          text,       -- why this assignee (vacancies, fallbacks)
    escalation_level    smallint    NOT NULL DEFAULT 0,  -- 0 unit, 1 grid, 2 village, 3 town
    escalated_to        text,
    escalated_to_name   text,
    recurrence          integer     NOT NULL DEFAULT 1,  -- distinct events or reports merged in
    returns             integer     NOT NULL DEFAULT 0,  -- 退回重办 count
    reopens             integer     NOT NULL DEFAULT 0,
    rejections          integer     NOT NULL DEFAULT 0,
    duplicate_of        bigint      REFERENCES cases (id),
    mediation_outcome   text,
    rating              smallint    CHECK (rating BETWEEN 1 AND 5),
    satisfied           boolean,
    raised_by           text,       -- person id or resident's contact; NULL for machine events
    device_id           text,
    opened_at           timestamptz NOT NULL,
    first_event_at      timestamptz NOT NULL,
    last_event_at       timestamptz NOT NULL,
    accept_by           timestamptz,
    resolve_by          timestamptz,
    next_escalation_at  timestamptz,
    accepted_at         timestamptz,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    updated_at          timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS cases_open_by_area
    ON cases (category, village_id, last_event_at)
    WHERE status IN ('new', 'assigned', 'accepted', 'in_progress', 'reopened');
CREATE INDEX IF NOT EXISTS cases_escalation_due
    ON cases (next_escalation_at)
    WHERE next_escalation_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS cases_status_id ON cases (status, id);
CREATE INDEX IF NOT EXISTS cases_unit_id ON cases (unit_id, id);
CREATE INDEX IF NOT EXISTS cases_grid_id ON cases (grid_id, id);
CREATE INDEX IF NOT EXISTS cases_assignee ON cases (assignee, id);

-- One row per stored event a case holds; the primary key makes attaching an
-- event idempotent, so a redelivered or re-dispatched event is counted once.
CREATE TABLE IF NOT EXISTS case_events (
    event_id     uuid        NOT NULL,
    ts           timestamptz NOT NULL,
    case_id      bigint      NOT NULL REFERENCES cases (id),
    phase        text        NOT NULL,
    attached_at  timestamptz NOT NULL,
    PRIMARY KEY (event_id, ts)
);
CREATE INDEX IF NOT EXISTS case_events_case ON case_events (case_id, ts);

-- Append-only: reports are computed from it. Nothing updates or deletes rows.
CREATE TABLE IF NOT EXISTS case_history (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      bigint      NOT NULL REFERENCES cases (id),
    at           timestamptz NOT NULL,
    actor        text        NOT NULL,   -- person id, or 'system' / 'dispatcher'
    action       text        NOT NULL,
    from_status  text,
    to_status    text,
    note         text,
    data         jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS case_history_case ON case_history (case_id, id);
CREATE INDEX IF NOT EXISTS case_history_at ON case_history (at);

-- People who must turn up (报到): the unit's liaison household, department
-- contacts, leaders of the levels a case rose to.
CREATE TABLE IF NOT EXISTS case_participants (
    case_id      bigint      NOT NULL REFERENCES cases (id),
    person       text        NOT NULL,   -- person id, else the contact's name
    name         text,
    role         text        NOT NULL CHECK (role IN ('leader', 'liaison', 'department')),
    area_id      text,
    level        smallint    NOT NULL,
    added_at     timestamptz NOT NULL,
    PRIMARY KEY (case_id, person, role)
);

-- The one notification mechanism: an outbox. Delivery channels (SMS, MQTT,
-- webhooks) read it later; dedupe_key makes each notice at most once.
CREATE TABLE IF NOT EXISTS notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      bigint      REFERENCES cases (id),
    recipient    text        NOT NULL,
    recipient_name text,
    kind         text        NOT NULL,
    title        text        NOT NULL,
    body         text        NOT NULL,
    data         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key   text        NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    delivered_at timestamptz
);
CREATE INDEX IF NOT EXISTS notifications_pending
    ON notifications (id) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS notifications_case ON notifications (case_id, id);

-- Reminders due before a deadline; the worker sends and deletes them.
CREATE TABLE IF NOT EXISTS case_reminders (
    case_id      bigint      NOT NULL REFERENCES cases (id),
    kind         text        NOT NULL,   -- 'accept' or 'resolve'
    due_at       timestamptz NOT NULL,
    deadline     timestamptz NOT NULL,
    PRIMARY KEY (case_id, kind, due_at)
);
CREATE INDEX IF NOT EXISTS case_reminders_due ON case_reminders (due_at);
