#!/bin/bash
#
# setup.sh: one-shot cluster set-up for deploy/citus/compose.yaml, run in a
# Citus image container (it has psql) against the coordinator:
#   1. registers the coordinator and the workers (idempotent),
#   2. applies sql/roles.sql on the coordinator (Citus propagates roles,
#      their passwords and extensions to the workers).
# Migrations (crmctl migrate) and sql/citus/distribute.sql run after it, as
# separate services.  Passwords reach psql on stdin only.

set -euo pipefail
: "${CRM_PG_OWNER_PASSWORD:?}" "${CRM_PG_APP_PASSWORD:?}" "${CRM_PG_WORKER_PASSWORD:?}"
export PGHOST=coordinator PGUSER=postgres PGDATABASE=crm
export PGPASSWORD=$POSTGRES_PASSWORD

for h in coordinator ${CITUS_WORKERS:-worker1 worker2}; do
	until pg_isready -q -h "$h" -U postgres -d crm; do sleep 1; done
done

psql -X -v ON_ERROR_STOP=1 -q <<SQL
SELECT citus_set_coordinator_host('coordinator', 5432);
SQL
for w in ${CITUS_WORKERS:-worker1 worker2}; do
	psql -X -v ON_ERROR_STOP=1 -q -c \
	    "SELECT citus_add_node('$w', 5432) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = '$w')"
done

psql -X -v ON_ERROR_STOP=1 -q -f - <<SQL
\set owner_password '$CRM_PG_OWNER_PASSWORD'
\set app_password '$CRM_PG_APP_PASSWORD'
\set worker_password '$CRM_PG_WORKER_PASSWORD'
\i /crm-sql/roles.sql
SQL
psql -X -At -c "SELECT nodename || ':' || nodeport FROM pg_dist_node ORDER BY 1"
echo "citus set-up done"
