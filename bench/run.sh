#!/bin/bash
#
# bench/run.sh: `make bench`.  Benchmarks, not timed tests: the figures go
# in the README by hand, with the machine they were measured on.
#
# Starts a throw-away service (tests/env.sh: PostgreSQL, Redis, Kore with
# one worker per CPU), signs up a bench tenant, seeds its accounts
# (bench/seed.sql), then measures with wrk (c=32, 2 threads) each route of
# the ROUTES table below, and pgbench (same c) on the SQL those routes
# send (bench/pgb/*.sql: the same statements, tenant context and
# principal check included, in one pipeline like app/db.c), so the ratio
# API/pgbench shows what our HTTP + pipeline + Redis + JSON layer costs.
# Everything runs on this machine's cores, wrk and PostgreSQL included,
# so the table also gives the 1-minute load average at the end of each
# run: a figure taken while others loaded the machine says so.
#
# Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_REPEAT
# (1; with more, each figure is the run with the median req/s),
# BENCH_ROWS (5000 seeded accounts), BENCH_ONLY (a grep -E pattern on the
# route names), BENCH_OUT (bench/results.md).

set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-32}
REPEAT=${BENCH_REPEAT:-1}
ONLY=${BENCH_ONLY:-.}
OUT=${BENCH_OUT:-$ROOT/bench/results.md}
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
export BENCH_DIR=$ROOT/bench
export BENCH_ROWS=${BENCH_ROWS:-5000}

#
# The routes.  One line each: name | wrk target | pgbench script | c.
#   wrk target: a path (plain GET, no credential) or a bench/wrk/*.lua
#     script (its requests carry the bench token; BENCH_TOKEN, BENCH_ROWS
#     in its environment).
#   pgbench script: bench/pgb/<file>, run with -D tenant, user, session,
#     n (seeded rows) and scope (the owner's: all); or - for none.
#   c: connections, when not BENCH_CONNECTIONS.
# A new entity needs its seed (bench/seed.sql), its scripts and its lines.
#
ROUTES=(
	"healthz|/healthz|-|"
	"readyz (PostgreSQL SELECT 1 + Redis PING)|/readyz|readyz.sql|"
	"plans (1 SELECT, JSON built by PostgreSQL)|/v1/plans|plans.sql|"
	"me (JWT, limits, tenant tx + principal check)|me.lua|-|"
	"accounts get by id|accounts_get.lua|accounts_get.sql|"
	"accounts list (20, filter industry, sort -revenue)|accounts_list.lua|accounts_list.sql|"
	"accounts create|accounts_create.lua|accounts_create.sql|"
	"accounts patch|accounts_patch.lua|accounts_patch.sql|"
	"login (argon2id in task threads)|login.lua|-|4"
)

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

die() {
	echo "bench: $*" >&2
	exit 1
}

# A tenant and its owner's token for the authenticated routes.
export BENCH_EMAIL=bench-$$@example.com
export BENCH_PW=bench-password-$$-$(date +%s)
SIGNUP=$(curl -s -X POST -H 'content-type: application/json' \
    -d "{\"company_name\":\"Bench $$\",\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PW\"}" \
    "$CRM_TEST_URL/v1/signup")
# The token's claims name the tenant, the user and the session.
read -r BENCH_TOKEN TENANT USER_ID SESSION < <(/usr/bin/python3 -c '
import base64, json, sys
t = json.load(sys.stdin)["access_token"]
p = t.split(".")[1]
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
print(t, c["tid"], c["sub"], c["sid"])' <<<"$SIGNUP") || die "sign-up failed"
export BENCH_TOKEN

psql -X -q -v ON_ERROR_STOP=1 -v tenant="$TENANT" -v user="$USER_ID" \
    -v n="$BENCH_ROWS" -f "$BENCH_DIR/seed.sql" "$CRM_OWNER_DATABASE_URL" \
    >/dev/null || die "seeding failed"

wrk_run() {
	local target=$1 c=$2
	case "$target" in
	*.lua)
		wrk -t2 -c"$c" -d"${SECS}s" --latency \
		    -s "$BENCH_DIR/wrk/$target" "$CRM_TEST_URL" 2>&1 ;;
	*)
		wrk -t2 -c"$c" -d"${SECS}s" --latency \
		    "$CRM_TEST_URL$target" 2>&1 ;;
	esac
}

# wrk prints "Requests/sec:" and, with --latency, the percentiles.
wrk_field() {
	case "$2" in
	rps) awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$1" ;;
	n) awk '/ requests in / { print $1 }' <<<"$1" ;;
	p50) awk '$1 == "50%" { print $2 }' <<<"$1" ;;
	p99) awk '$1 == "99%" { print $2 }' <<<"$1" ;;
	err) awk '/Non-2xx/ { n = $5 } /Socket errors/ { e = 1 }
	    END { print n + 0 (e ? "+sock" : "") }' <<<"$1" ;;
	esac
}

# The service's own session settings (app/db.c, db_options): without
# force_generic_plan every execution would be planned again.
pgbench_tps() {
	PGOPTIONS="-c DateStyle=ISO -c plan_cache_mode=force_generic_plan" \
	    "$PGBENCH" -n -c "$2" -j 2 -T "$SECS" -M prepared \
	    -D tenant="$TENANT" -D user="$USER_ID" -D session="$SESSION" \
	    -D n="$BENCH_ROWS" -D scope=all -f "$BENCH_DIR/pgb/$1" \
	    "$CRM_DATABASE_URL" 2>&1 |
	    awk '/^tps/ { printf "%.0f", $3; found = 1 }
	        END { if (!found) printf "failed" }'
}

load1() {
	cut -d' ' -f1 /proc/loadavg
}

#
# CPU time of this stack's processes, in clock ticks, by role: pg (the
# postmaster, its backends, and through the postmaster's cutime/cstime
# the backends that exited, e.g. pgbench's), kore (main and workers),
# redis.  Other people's processes on the machine are not counted, so
# "CPU per request" holds up better than req/s on a loaded machine.
#
PG_PID=$(head -1 "$CRM_PGDATA/postmaster.pid")
REDIS_PID=$(cat "$CRM_STACK_DIR/redis/redis.pid")
cpu_snap() {
	local f pid ppid
	for f in /proc/[0-9]*/stat; do
		read -r pid _ _ ppid _ 2>/dev/null <"$f" || continue
		if [ "$pid" = "$PG_PID" ] || [ "$ppid" = "$PG_PID" ]; then
			echo "pg $pid $(cut -d' ' -f14-17 "$f" 2>/dev/null)"
		elif [ "$pid" = "$CRM_TEST_KORE_PID" ] ||
		    [ "$ppid" = "$CRM_TEST_KORE_PID" ]; then
			echo "kore $pid $(cut -d' ' -f14-17 "$f" 2>/dev/null)"
		elif [ "$pid" = "$REDIS_PID" ]; then
			echo "redis $pid $(cut -d' ' -f14-17 "$f" 2>/dev/null)"
		fi
	done
}

# "pg/kore/redis" microseconds per request between two snapshots.
cpu_per() {
	awk -v n="$3" -v hz="$(getconf CLK_TCK)" '
	    NR == FNR { a[$2] = $3 + $4 + $5 + $6; next }
	    { d[$1] += $3 + $4 + $5 + $6 - ($2 in a ? a[$2] : 0) }
	    END { if (n <= 0) { print "-"; exit }
	        printf "%.0f/%.0f/%.0f", d["pg"] * 1e6 / hz / n,
	        d["kore"] * 1e6 / hz / n, d["redis"] * 1e6 / hz / n }' \
	    "$1" "$2"
}

# The median of "value payload" lines by value: its payload.
median() {
	sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }' |
	    cut -d' ' -f2-
}

# One route: REPEAT wrk runs (the median one reported), then pgbench.
route_row() {
	local name=$1 target=$2 pgb=$3 c=${4:-$CONNS} i res runs="" row
	local tps ratio rps

	for ((i = 0; i < REPEAT; i++)); do
		cpu_snap >"$DIR/cpu.0"
		res=$(wrk_run "$target" "$c")
		cpu_snap >"$DIR/cpu.1"
		rps=$(wrk_field "$res" rps)
		cpu=$(cpu_per "$DIR/cpu.0" "$DIR/cpu.1" \
		    "$(wrk_field "$res" n)")
		runs+="${rps:-0} ${rps:-?}|$(wrk_field "$res" p50)|$(wrk_field "$res" p99)|$(wrk_field "$res" err)|$cpu|$(load1)"$'\n'
	done
	row=$(printf '%s' "$runs" | median)
	IFS='|' read -r rps p50 p99 err cpu load <<<"$row"
	tps="-"
	ratio="-"
	pgcpu="-"
	if [ "$pgb" != "-" ]; then
		runs=""
		for ((i = 0; i < REPEAT; i++)); do
			cpu_snap >"$DIR/cpu.0"
			tps=$(pgbench_tps "$pgb" "$c")
			cpu_snap >"$DIR/cpu.1"
			pgcpu=$(cpu_per "$DIR/cpu.0" "$DIR/cpu.1" "$(awk \
			    -v r="${tps/failed/0}" -v s="$SECS" \
			    'BEGIN { print r * s }')" | cut -d/ -f1)
			runs+="${tps/failed/0} $tps|$pgcpu"$'\n'
		done
		IFS='|' read -r tps pgcpu <<<"$(printf '%s' "$runs" | median)"
		ratio=$(awk -v a="$rps" -v b="$tps" \
		    'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')
	fi
	echo "| $name | $rps | $p50 | $p99 | $err | $cpu | $tps | $pgcpu | $ratio | $load |"
}

worker_rss() {
	ps -o rss=,cmd= --ppid "$CRM_TEST_KORE_PID" |
	    awk '/wrk/ { printf "%s%d MiB", sep, $1 / 1024; sep = ", " }'
}

{
	echo "# Benchmark $(date -u +%Y-%m-%d)"
	echo
	echo "$(nproc) CPUs, $(awk '/MemTotal/ { printf "%d GiB", $2/1048576 }' /proc/meminfo)," \
	    "wrk -t2 -c$CONNS -d${SECS}s (median of $REPEAT runs);" \
	    "Kore workers = CPUs; PostgreSQL, Redis and wrk on the same" \
	    "machine; bench tenant with $BENCH_ROWS accounts; load = 1-minute" \
	    "load average after the wrk run."
	echo
	echo "CPU us/req: CPU time per request of this stack's PostgreSQL," \
	    "Kore and Redis processes during the run (pg/kore/redis);" \
	    "pgbench's is PostgreSQL's per transaction."
	echo
	echo "| route | req/s | p50 | p99 | non-2xx | CPU us/req | pgbench tps (same SQL) | pgbench CPU us/tx | API / pgbench | load |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for r in "${ROUTES[@]}"; do
		IFS='|' read -r name target pgb c <<<"$r"
		grep -Eq -- "$ONLY" <<<"$name" || continue
		route_row "$name" "$target" "$pgb" "$c"
	done
	echo
	echo "Kore worker RSS after the run: $(worker_rss)."
} | tee "$OUT"
