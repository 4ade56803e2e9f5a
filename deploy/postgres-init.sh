#!/bin/bash
#
# postgres-init.sh: mounted into the postgres:15 image's
# /docker-entrypoint-initdb.d/ by deploy/compose.yaml.  Runs once, on an
# empty data directory, as the image's superuser: creates database crm and
# applies sql/roles.sql (mounted at /crm-sql/roles.sql) with the role
# passwords from the environment.  Passwords go to psql on stdin, never on
# a command line.

set -euo pipefail

: "${CRM_PG_OWNER_PASSWORD:?}" "${CRM_PG_APP_PASSWORD:?}" "${CRM_PG_WORKER_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 -X -q -U "$POSTGRES_USER" -d postgres \
    -c "CREATE DATABASE crm"
psql -v ON_ERROR_STOP=1 -X -q -U "$POSTGRES_USER" -d crm -f - <<SQL
\set owner_password '$CRM_PG_OWNER_PASSWORD'
\set app_password '$CRM_PG_APP_PASSWORD'
\set worker_password '$CRM_PG_WORKER_PASSWORD'
\i /crm-sql/roles.sql
SQL
