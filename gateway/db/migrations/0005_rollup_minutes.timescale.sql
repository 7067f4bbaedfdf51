-- Same signature as the plain variant (lookback, margin). TimescaleDB's refresh
-- policies keep the aggregates; the gateway's periodic call stays a no-op.
DROP FUNCTION gridwatch_refresh_rollups(interval);
CREATE FUNCTION gridwatch_refresh_rollups(lookback interval DEFAULT '3 days',
                                          margin interval DEFAULT '10 minutes')
RETURNS timestamptz
LANGUAGE sql
AS $$ SELECT now() $$;
