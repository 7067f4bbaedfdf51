-- Events the dispatcher could not open a case for because a working-time
-- deadline would run past the working calendar's last year (dispatch/parked.py).
-- A deadline is never counted on a guessed calendar, and the event must not be
-- lost either, nor hold up the queue behind it: it waits here, and a dispatcher
-- that starts puts every parked event back at the end of the queue (with a
-- calendar.yaml that covers the year, it then opens its case).

CREATE TABLE IF NOT EXISTS dispatch_parked (
    event_id   uuid        NOT NULL,
    ts         timestamptz NOT NULL,
    parked_at  timestamptz NOT NULL,
    year       integer     NOT NULL,   -- the year the calendar lacked
    reason     text        NOT NULL,
    PRIMARY KEY (event_id, ts)
);
