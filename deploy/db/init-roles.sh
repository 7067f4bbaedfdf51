#!/bin/sh
# The database's login roles, created once when the data directory is initialised
# (the TimescaleDB image runs /docker-entrypoint-initdb.d/*.sh as the superuser; by
# hand: POSTGRES_USER=postgres POSTGRES_DB=gridwatch sh deploy/db/init-roles.sh).
#
# - gridwatch_owner: owns the database and every table; `gridwatch db migrate` logs in
#   as it (GRIDWATCH_MIGRATE_DATABASE_URL). No superuser.
# - gridwatch_app: the services' login (GRIDWATCH_DATABASE_URL); DML only, through the
#   default privileges the migrations grant. Member of gridwatch_api, the NOLOGIN role
#   the API's requests run as under row-level security (gateway/db/migrate.py).
# Passwords come from the environment; there are no defaults.
set -eu
: "${GRIDWATCH_OWNER_DB_PASSWORD:?set GRIDWATCH_OWNER_DB_PASSWORD}"
: "${GRIDWATCH_APP_DB_PASSWORD:?set GRIDWATCH_APP_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-gridwatch}" \
    -v owner="${GRIDWATCH_OWNER_ROLE:-gridwatch_owner}" \
    -v app="${GRIDWATCH_SERVICE_ROLE:-gridwatch_app}" \
    -v api="${GRIDWATCH_API_ROLE:-gridwatch_api}" \
    -v db="${POSTGRES_DB:-gridwatch}" \
    -v owner_password="$GRIDWATCH_OWNER_DB_PASSWORD" \
    -v app_password="$GRIDWATCH_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
CREATE ROLE :"api" NOLOGIN;
GRANT :"api" TO :"app";
ALTER DATABASE :"db" OWNER TO :"owner";
SQL
