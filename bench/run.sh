#!/bin/bash
#
# bench/run.sh: `make bench`.  Benchmarks, not timed tests: the figures go
# in the README by hand, with the machine they were measured on.
#
# Starts a throw-away service (tests/env.sh: PostgreSQL, Redis, Kore with
# one worker per CPU), then measures with wrk (c=32, 2 threads) each route
# of the table below, and pgbench on the SQL of the DB-backed routes, so the
# ratio API/pgbench shows what our HTTP + pipeline + JSON layer costs.
# Everything runs on this machine's cores, wrk and PostgreSQL included.
#
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (32),
# BENCH_OUT (bench/results.md).

set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-32}
OUT=${BENCH_OUT:-$ROOT/bench/results.md}
PGBENCH=/usr/lib/postgresql/15/bin/pgbench

DIR=$(mktemp -d /tmp/crm-bench.XXXXXX)
cleanup() {
	"$ROOT/tests/env.sh" stop "$DIR" >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT

# The limiter stays in the request path, far above what one client sends.
export CRM_RATE_LIMIT_MULTIPLIER=${CRM_RATE_LIMIT_MULTIPLIER:-100000}
"$ROOT/tests/env.sh" start "$DIR" >/dev/null || {
	echo "bench: the service did not start" >&2
	exit 1
}
# shellcheck disable=SC1091
. "$DIR/test.env"

# A tenant and its owner's token for the authenticated routes.
BENCH_EMAIL=bench-$$@example.com
BENCH_PW=bench-password-$$-$(date +%s)
SIGNUP=$(curl -s -X POST -H 'content-type: application/json' \
    -d "{\"company_name\":\"Bench $$\",\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PW\"}" \
    "$CRM_TEST_URL/v1/signup")
TOKEN=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$SIGNUP") || {
	echo "bench: sign-up failed" >&2
	exit 1
}

# name | method path | SQL the route runs (for pgbench), or -
ROUTES=(
	"healthz|/healthz|-"
	"plans (1 SELECT, JSON built by PostgreSQL)|/v1/plans|SELECT json_build_object('data', coalesce(json_agg(json_build_object('code', code, 'name', name, 'seats', seats, 'records', records, 'api_requests_per_minute', api_per_min, 'storage_mb', storage_mb, 'price_cents', price_cents) ORDER BY price_cents, code), '[]'))::text FROM crm.plans;"
	"readyz (PostgreSQL SELECT 1 + Redis PING)|/readyz|SELECT 1;"
)

# wrk prints "Requests/sec:" and, with --latency, the percentiles.
wrk_run() {
	wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$@" 2>&1
}

# Logins: a POST body, and c=4 (the KDF is CPU-bound: 4 task threads).
login_run() {
	local lua
	lua=$(mktemp "$DIR/login.XXXXXX.lua")
	cat >"$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$BENCH_EMAIL","password":"$BENCH_PW"}'
LUA
	wrk -t2 -c4 -d"${SECS}s" --latency -s "$lua" \
	    "$CRM_TEST_URL/v1/auth/login" 2>&1
}

wrk_field() {
	case "$2" in
	rps) awk '/Requests\/sec/ { print $2 }' <<<"$1" ;;
	p50) awk '$1 == "50%" { print $2 }' <<<"$1" ;;
	p99) awk '$1 == "99%" { print $2 }' <<<"$1" ;;
	err) awk '/Non-2xx/ { n = $5 } END { print n + 0 }' <<<"$1" ;;
	esac
}

pgbench_tps() {
	local f
	f=$(mktemp "$DIR/pgb.XXXXXX.sql")
	printf '%s\n' "$1" >"$f"
	"$PGBENCH" -n -c "$CONNS" -j 2 -T "$SECS" -M prepared -f "$f" \
	    "$CRM_DATABASE_URL" 2>/dev/null |
	    awk '/^tps/ { printf "%.0f", $3; exit }'
}

worker_rss() {
	ps -o rss=,cmd= --ppid "$CRM_TEST_KORE_PID" |
	    awk '/wrk/ { printf "%s%d MiB", sep, $1 / 1024; sep = ", " }'
}

{
	echo "# Benchmark $(date -u +%Y-%m-%d)"
	echo
	echo "$(nproc) CPUs, $(awk '/MemTotal/ { printf "%d GiB", $2/1048576 }' /proc/meminfo)," \
	    "wrk -t2 -c$CONNS -d${SECS}s; Kore workers = CPUs; PostgreSQL," \
	    "Redis and wrk on the same machine."
	echo
	echo "| route | req/s | p50 | p99 | non-2xx | pgbench tps (same SQL, c=$CONNS) | API / pgbench |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	for r in "${ROUTES[@]}"; do
		IFS='|' read -r name path sql <<<"$r"
		res=$(wrk_run "$CRM_TEST_URL$path")
		rps=$(wrk_field "$res" rps)
		tps="-"
		ratio="-"
		if [ "$sql" != "-" ]; then
			tps=$(pgbench_tps "$sql")
			ratio=$(awk -v a="$rps" -v b="$tps" \
			    'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		fi
		echo "| $name | ${rps:-?} | $(wrk_field "$res" p50) |" \
		    "$(wrk_field "$res" p99) | $(wrk_field "$res" err) | $tps | $ratio |"
	done
	res=$(wrk_run -H "Authorization: Bearer $TOKEN" "$CRM_TEST_URL/v1/me")
	echo "| me (JWT, rate limit in Redis, tenant tx + principal check) |" \
	    "$(wrk_field "$res" rps) | $(wrk_field "$res" p50) |" \
	    "$(wrk_field "$res" p99) | $(wrk_field "$res" err) | - | - |"
	res=$(login_run)
	echo "| login (argon2id in task threads, c=4) |" \
	    "$(wrk_field "$res" rps) | $(wrk_field "$res" p50) |" \
	    "$(wrk_field "$res" p99) | $(wrk_field "$res" err) | - | - |"
	echo
	echo "Kore worker RSS after the run: $(worker_rss)."
} | tee "$OUT"
