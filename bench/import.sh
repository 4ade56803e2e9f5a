#!/bin/bash
#
# bench/import.sh: `make bench-import`, the CSV import benchmark.  One
# tenant imports BENCH_IMPORT_ROWS contacts (1,000,000) from one CSV file
# through the whole path: POST /v1/imports (the body streamed by Kore to
# disk, then to CRM_IMPORTS_DIR), crm-worker's two passes, batches of
# engine INSERTs with their events, timeline entries and webhook fan-out,
# dedupe by e-mail.  Prints the upload time, the import's rows/s (from
# the job's creation to its finish, as PostgreSQL recorded them), and
# the crm-worker processes' peak RSS, sampled every second.
#
# Environment: BENCH_IMPORT_ROWS (1000000), BENCH_DIR (default: a new
# mktemp directory), BENCH_KEEP=1 keeps the stack.  A benchmark, not a
# test: figures go to docs/jobs.md by hand, with the machine's load.

set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${BENCH_IMPORT_ROWS:-1000000}
DIR=${BENCH_DIR:-$(mktemp -d /tmp/crm-bench-import.XXXXXX)}

cleanup() {
	[ "${BENCH_KEEP:-0}" = 1 ] && { echo "bench: kept $DIR"; return; }
	"$ROOT/tests/env.sh" stop "$DIR" >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT

export CRM_RATE_LIMIT_MULTIPLIER=${CRM_RATE_LIMIT_MULTIPLIER:-100000}
"$ROOT/tests/env.sh" start "$DIR" >/dev/null || {
	echo "bench: the service did not start" >&2
	exit 1
}
# shellcheck disable=SC1091
. "$DIR/test.env"

sql() {
	psql -X -q -A -t -d "$CRM_PG_SUPER_URL" -c "$1"
}

# The largest RSS (KiB) among crm-worker's supervisor and children.
worker_rss() {
	local sup kids
	sup=$(cat "$DIR/crm-worker.pid" 2>/dev/null) || { echo 0; return; }
	kids=$(pgrep -P "$sup" | tr '\n' ',')
	ps -o rss= -p "${kids}${sup}" 2>/dev/null | sort -n | tail -1
}

CSV=$DIR/contacts.csv
awk -v n="$ROWS" 'BEGIN {
	print "First Name,Last Name,Email,Phone Number,Job Title,Lead Source"
	for (i = 1; i <= n; i++)
		printf "First%d,\"Last, %d\",c%d@bulk.example,+1 555 %07d,Engineer,Import\r\n", i, i % 977, i, i
}' >"$CSV"
echo "bench: $ROWS rows, $(du -h "$CSV" | cut -f1) of CSV"

pw=bench-import-password-1234
signup=$(curl -sf -H 'content-type: application/json' \
    -d "{\"company_name\": \"Import Bench $$\", \"email\": \"bench$$@example.com\", \"password\": \"$pw\", \"name\": \"Bench\"}" \
    "$CRM_TEST_URL/v1/signup") || { echo "bench: signup failed" >&2; exit 1; }
token=$(printf '%s' "$signup" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')

t0=$(date +%s.%N)
job=$(curl -sf -H "authorization: Bearer $token" -H 'content-type: text/csv' \
    --data-binary "@$CSV" \
    "$CRM_TEST_URL/v1/imports?entity=contacts&dedupe=email") || {
	echo "bench: upload refused" >&2
	exit 1
}
t1=$(date +%s.%N)
id=$(printf '%s' "$job" | sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p')
echo "bench: upload $(echo "$t1 - $t0" | bc) s, job $id"

peak=0
[ -n "$id" ] || { echo "bench: no job in $job" >&2; exit 1; }
while :; do
	st=$(sql "SELECT status || ' ' || (progress->>'done') || '/' || (progress->>'total') FROM crm.jobs WHERE id = '$id'")
	[ -n "$st" ] || { echo "bench: cannot read job $id" >&2; exit 1; }
	rss=$(worker_rss)
	[ "${rss:-0}" -gt "$peak" ] && peak=$rss
	case $st in
	succeeded*|failed*|dead*) break ;;
	esac
	sleep 1
done
echo "bench: $st"
sql "SELECT 'bench: result ' || (result - 'errors')::text FROM crm.jobs WHERE id = '$id'"
secs=$(sql "SELECT extract(epoch FROM finished_at - created_at)::numeric(10,1) FROM crm.jobs WHERE id = '$id'")
echo "bench: import $secs s from the request to the finish"
echo "bench: import rows/s $(echo "$ROWS / $secs" | bc)"
echo "bench: crm-worker peak RSS ${peak} KiB"
