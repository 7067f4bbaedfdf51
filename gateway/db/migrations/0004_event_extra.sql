-- events.payload (a full JSON copy of every event) becomes events.extra: only the
-- fields that have no column of their own (start, end, the snapshot's frame and
-- size, optional fields newer than the gateway), NULL when there are none. The
-- copy duplicated every column and cost about 30 % of PostgreSQL's work per
-- stored event (docs/storage.md). Envelope keys (v, kind) are not kept.
ALTER TABLE events RENAME COLUMN payload TO extra;
ALTER TABLE events ALTER COLUMN extra DROP NOT NULL;
UPDATE events SET extra = nullif(
    jsonb_strip_nulls(
        (extra - ARRAY['v', 'kind', 'event_id', 'device_id', 'seq', 'ts', 'rule', 'category',
                       'severity', 'phase', 'cls', 'score', 'track_id', 'zone', 'box',
                       'summary', 'point', 'snapshot'])
        || CASE WHEN jsonb_typeof(extra -> 'point') = 'object'
                     AND (extra -> 'point') - 'lon' - 'lat' <> '{}'
                THEN jsonb_build_object('point', (extra -> 'point') - 'lon' - 'lat')
                ELSE '{}' END
        || CASE WHEN jsonb_typeof(extra -> 'snapshot') = 'object'
                     AND (extra -> 'snapshot') - 'sha256' - 'ref' <> '{}'
                THEN jsonb_build_object('snapshot', (extra -> 'snapshot') - 'sha256' - 'ref')
                ELSE '{}' END),
    '{}')
WHERE extra IS NOT NULL;
