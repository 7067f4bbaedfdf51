-- A merge updates a case's recurrence, last_event_at, severity and updated_at.
-- With last_event_at in cases_open_by_area, every such update was a new tuple
-- with an entry in each of the table's nine indexes: the largest single cost of
-- dispatching a merge-heavy stream. Without it no indexed column changes, and
-- PostgreSQL updates the row in place on its page (a HOT update) when the page
-- has room, which the fill factor leaves. The merge query (dispatch/batch.py)
-- still finds a village's open cases of a category by this index and checks
-- their last event time as it reads them.

DROP INDEX IF EXISTS cases_open_by_area;
CREATE INDEX IF NOT EXISTS cases_open_by_area
    ON cases (category, village_id)
    WHERE status IN ('new', 'assigned', 'accepted', 'in_progress', 'reopened');

ALTER TABLE cases SET (fillfactor = 80);
