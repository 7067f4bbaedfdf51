-- The dispatch queue holds the keys of each ingest transaction's new events in
-- rows of up to 1,000 (the writer's QUEUE_ROW_KEYS) instead of a row per event.
-- At bulk rates a row per event cost PostgreSQL a heap insert and two B-tree
-- inserts for every event stored: 26 % of its CPU per event, and 74,800 against
-- 88,700 events/s in `gridwatch bench ingest` on the same box (see
-- docs/storage.md). The dispatcher then deleted those rows one by one again.
--
-- A row lists keys of events that one transaction stored, in order;
-- `done` counts those already dispatched. A dispatcher locks the row (FOR
-- UPDATE SKIP LOCKED), takes the next slice, and in the transaction that
-- writes the cases moves `done` on, or deletes the row at its end. The
-- guarantee is unchanged: an event is dispatched exactly once.

CREATE TABLE dispatch_batches (
    id          bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enqueued_at timestamptz   NOT NULL DEFAULT now(),
    event_ids   uuid[]        NOT NULL,
    ts          timestamptz[] NOT NULL,
    done        integer       NOT NULL DEFAULT 0,
    CONSTRAINT dispatch_batches_keys_pair
        CHECK (cardinality(event_ids) = cardinality(ts)),
    CONSTRAINT dispatch_batches_done_range
        CHECK (done >= 0 AND done < cardinality(event_ids))
);

-- Kept uncompressed: random UUIDs do not compress, and trying cost PostgreSQL
-- about a third of the time of storing a row (1.5 against 1.0 us per key here).
ALTER TABLE dispatch_batches
    ALTER COLUMN event_ids SET STORAGE EXTERNAL,
    ALTER COLUMN ts SET STORAGE EXTERNAL;

-- Whatever waited in the old queue waits on, in its old order.
INSERT INTO dispatch_batches (enqueued_at, event_ids, ts)
SELECT min(enqueued_at),
       array_agg(event_id ORDER BY enqueued_at, ts, event_id),
       array_agg(ts ORDER BY enqueued_at, ts, event_id)
FROM dispatch_queue
HAVING count(*) > 0;

DROP TABLE dispatch_queue;

-- The events still waiting, one row each, for people and tests. Unnests every
-- batch: use queued_for_dispatch() for a count on a large backlog.
CREATE VIEW dispatch_queue AS
SELECT k.event_id, k.ts, b.enqueued_at, b.id AS batch_id, k.n::integer AS position
FROM dispatch_batches b
CROSS JOIN LATERAL unnest(b.event_ids, b.ts) WITH ORDINALITY AS k(event_id, ts, n)
WHERE k.n > b.done;

CREATE FUNCTION queued_for_dispatch() RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT coalesce(sum(cardinality(event_ids) - done), 0)::bigint FROM dispatch_batches $$;
