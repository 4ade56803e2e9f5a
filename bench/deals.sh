#!/bin/bash
#
# bench/deals.sh: `make bench-deals`, the CRM issue's benchmark.  Deals
# through the whole stack (HTTP, JWT, rate limit, tenant transaction, RLS,
# JSON) against a data set of BENCH_TENANTS tenants with 500 x BENCH_SCALE
# records each (crmctl seed-demo; 1,000 x 10 = 5,000,000 records), next to
# pgbench running the equivalent SQL as the service's role in a tenant
# transaction, so the ratio API / database shows what our layers cost.
#
#   get     GET /v1/deals/{id}, a random deal of the tenant
#   list    GET /v1/deals?filter[stage_id][eq]=S&sort=-amount&limit=20
#   create  POST /v1/deals
#   update  PATCH /v1/deals/{id}, a random deal
#
# Environment: BENCH_TENANTS (1000), BENCH_SCALE (10), BENCH_SECONDS (10),
# BENCH_CONNECTIONS (32), BENCH_OUT (bench/deals.md), BENCH_KEEP=1 keeps
# the stack and its data in BENCH_DIR (default: a new mktemp directory)
# for another run.  Benchmarks, not tests: figures go to the README by
# hand, with the machine and its load.

set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TENANTS=${BENCH_TENANTS:-1000}
SCALE=${BENCH_SCALE:-10}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-32}
OUT=${BENCH_OUT:-$ROOT/bench/deals.md}
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
PW=bench-deals-password-1234
DIR=${BENCH_DIR:-$(mktemp -d /tmp/crm-bench-deals.XXXXXX)}

cleanup() {
	[ "${BENCH_KEEP:-0}" = 1 ] && { echo "bench: kept $DIR"; return; }
	"$ROOT/tests/env.sh" stop "$DIR" >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT

export CRM_RATE_LIMIT_MULTIPLIER=${CRM_RATE_LIMIT_MULTIPLIER:-100000}
if [ ! -f "$DIR/test.env" ] || ! curl -sf -m 2 -o /dev/null \
    "$(sed -n 's/^export CRM_TEST_URL=//p' "$DIR/test.env" | tr -d "'\"")/readyz"; then
	"$ROOT/tests/env.sh" start "$DIR" >/dev/null || {
		echo "bench: the service did not start" >&2
		exit 1
	}
fi
# shellcheck disable=SC1091
. "$DIR/test.env"

sql() {
	psql -X -q -A -t -d "$CRM_PG_SUPER_URL" -c "$1"
}

t0=$(date +%s)
CRM_DEMO_PASSWORD=$PW "$ROOT/build/crmctl" seed-demo --tenants "$TENANTS" \
    --scale "$SCALE" | grep -E '^bulk' || exit 1
SEED_S=$(( $(date +%s) - t0 ))
# A load leaves autovacuum and a checkpoint behind: settle first, so the
# run measures the service rather than the aftermath of the load.
sql "VACUUM ANALYZE" >/dev/null 2>&1 || sql "ANALYZE" >/dev/null
sql "CHECKPOINT" >/dev/null

# The bench tenant: demo-2 (demo itself has the hand-made accounts too).
SLUG=demo-2
[ "$TENANTS" -ge 2 ] || SLUG=demo
TENANT=$(sql "SELECT tenant_id FROM crm.tenants WHERE slug = '$SLUG'")
TOKEN=$(curl -s -X POST -H 'content-type: application/json' \
    -d "{\"email\":\"owner@$SLUG.example\",\"password\":\"$PW\",\"tenant\":\"$SLUG\"}" \
    "$CRM_TEST_URL/v1/auth/login" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || {
	echo "bench: login failed" >&2
	exit 1
}
USER_ID=$(sql "SELECT id FROM crm.users WHERE tenant_id = '$TENANT' AND email = 'owner@$SLUG.example'")
IDS=$(sql "SELECT string_agg(id::text, ',') FROM (SELECT id FROM crm.deals WHERE tenant_id = '$TENANT' AND deleted_at IS NULL ORDER BY id LIMIT 1000) d")
STAGE=$(sql "SELECT stage_id FROM crm.deals WHERE tenant_id = '$TENANT' GROUP BY stage_id ORDER BY count(*) DESC LIMIT 1")
NDEALS=$(sql "SELECT count(*) FROM crm.deals WHERE tenant_id = '$TENANT'")
ROWS=$(sql "SELECT (SELECT count(*) FROM crm.accounts) + (SELECT count(*) FROM crm.contacts) + (SELECT count(*) FROM crm.leads) + (SELECT count(*) FROM crm.deals) + (SELECT count(*) FROM crm.activities)")

lua() {
	local f
	f=$(mktemp "$DIR/wrk.XXXXXX.lua")
	cat >"$f"
	echo "$f"
}

IDS_LUA="local ids = {\"${IDS//,/\",\"}\"}"
GET=$(lua <<LUA
$IDS_LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
request = function()
	return wrk.format("GET", "/v1/deals/" .. ids[math.random(#ids)])
end
LUA
)
LIST=$(lua <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.path = "/v1/deals?limit=20&filter%5Bstage_id%5D%5Beq%5D=$STAGE&sort=-amount"
LUA
)
CREATE=$(lua <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Bench deal","amount":"12500.00","currency":"USD","expected_close_date":"2026-12-31"}'
wrk.path = "/v1/deals"
LUA
)
UPDATE=$(lua <<LUA
$IDS_LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
request = function()
	return wrk.format("PATCH", "/v1/deals/" .. ids[math.random(#ids)], nil,
	    '{"amount":"' .. math.random(1000, 99999) .. '.00"}')
end
LUA
)

# pgbench: the service's own statements (bench/pgb/deals_*.sql), in one
# pipeline each as app/db.c sends them, as crm_app with row security, at
# the database concurrency the service uses (2 Kore workers x a pool of 4:
# PGB_CONNS, 8).  A record id is a literal, one copy of the script per id
# (pgbench has no string arrays), 20 ids drawn at random per transaction.
PGB_CONNS=${PGB_CONNS:-8}
SESSION=$(/usr/bin/python3 -c 'import jwt,sys; print(jwt.decode(sys.argv[1], options={"verify_signature": False})["sid"])' "$TOKEN")
PGB_VARS=(-D tid="$TENANT" -D uid="$USER_ID" -D sid="$SESSION" -D sv=1
    -D sc=all -D stage="$STAGE" -D nm="Bench deal" -D amt=12500.00 -D cur=USD
    -D ecd=2026-12-31 -D cfv=0 -D cf={})

SUPER_SOCK=$(sed "s|@127.0.0.1:$CRM_PG_PORT/crm|@/crm?host=$CRM_PG_SOCKET_DIR\&port=$CRM_PG_PORT|" <<<"$CRM_PG_SUPER_URL")

# pgb_files NAME: the -f arguments for bench/pgb/deals_NAME.sql, per id.
pgb_files() {
	local id n=0
	for id in ${IDS//,/ }; do
		[ $n -lt 20 ] || break
		sed "s/:did::uuid/'$id'::uuid/g" "$ROOT/bench/pgb/deals_$1.sql" \
		    >"$DIR/pgb_$1_$n.sql"
		echo "-f $DIR/pgb_$1_$n.sql"
		n=$((n + 1))
	done
}

# pgbench's sessions get the service's own session settings (app/db.c,
# db_options): without force_generic_plan PostgreSQL plans every execution
# over the 16 partitions again and the baseline would look slower than it is.
pgb() {
	local url=${2:-$CRM_DATABASE_URL}
	# shellcheck disable=SC2046
	PGOPTIONS="-c DateStyle=ISO -c plan_cache_mode=force_generic_plan" \
	    "$PGBENCH" -n -c "$PGB_CONNS" -j 2 -T "$SECS" -M prepared \
	    "${PGB_VARS[@]}" $(pgb_files "$1") "$url" 2>/dev/null |
	    awk '/^tps/ { printf "%.0f", $3 }'
}

field() {
	case "$2" in
	rps) awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$1" ;;
	p50) awk '$1 == "50%" { print $2 }' <<<"$1" ;;
	p99) awk '$1 == "99%" { print $2 }' <<<"$1" ;;
	err) awk '/Non-2xx/ { n = $5 } END { print n + 0 }' <<<"$1" ;;
	esac
}

row() {
	local name=$1 script=$2 pgsql=$3 res rps tps
	res=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$script" \
	    "$CRM_TEST_URL" 2>&1)
	rps=$(field "$res" rps)
	tps=$(pgb "$pgsql")
	echo "| $name | ${rps:-?} | $(field "$res" p50) | $(field "$res" p99) |" \
	    "$(field "$res" err) | ${tps:-?} | $(awk -v a="$rps" -v b="$tps" \
	    'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') |"
}

{
	echo "# Deals benchmark $(date -u '+%Y-%m-%d %H:%M') UTC"
	echo
	echo "$(nproc) CPUs; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Data: $TENANTS tenants x $SCALE scale = $ROWS records in all (seeded in" \
	    "${SEED_S} s this run, then VACUUM ANALYZE); the bench tenant ($SLUG) has $NDEALS deals."
	echo "wrk -t2 -c$CONNS -d${SECS}s with an owner's JWT; pgbench -c$PGB_CONNS -j2" \
	    "-M prepared as crm_app (the service's statements and pipelines," \
	    "bench/pgb/deals_*.sql), same machine, same cores."
	echo
	echo "| route | req/s | p50 | p99 | non-2xx | pgbench tps (equivalent SQL) | API / pgbench |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	row "GET /v1/deals/{id}" "$GET" get
	row "GET /v1/deals (stage filter, -amount, 20)" "$LIST" list
	row "POST /v1/deals" "$CREATE" create
	row "PATCH /v1/deals/{id}" "$UPDATE" patch
	echo
	echo "PostgreSQL alone (bench/pgb/deals_pk.sql: the get's statement as" \
	    "the superuser, no tenant transaction, no principal check, no row" \
	    "security, over the same Unix socket), pgbench -c$PGB_CONNS:" \
	    "$(pgb pk "$SUPER_SOCK") reads/s."
	echo
	echo "Targets (issue 5): get >= 9,000 req/s, list >= 4,000, create >= 1,600," \
	    "p99 <= 10 ms for reads, API / pgbench >= 0.6."
} | tee "$OUT"
