-- Dispatchers wake on the ingest commit instead of polling every 20 ms: any
-- statement that queues events (ingest, reports' requeue, parked events coming
-- back) sends one NOTIFY on gridwatch_dispatch. PostgreSQL folds identical
-- notifications of one transaction into one and delivers it at commit, so ingest
-- pays one notification per transaction, and a dispatcher never wakes before the
-- events it is told about are visible. Dispatchers still poll slowly as a
-- fallback (dispatch/worker.py).

CREATE FUNCTION gridwatch_dispatch_wakeup() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('gridwatch_dispatch', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER dispatch_batches_wakeup AFTER INSERT ON dispatch_batches
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_dispatch_wakeup();
