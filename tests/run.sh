#!/bin/bash
#
# run.sh: every test suite, against a throw-away service (what `make test`
# runs after building; .ci/run runs `make test`).
#
# Starts PostgreSQL, Redis, Kore and the job worker in a mktemp directory
# (tests/env.sh), runs the suites in order, going on after a failing one:
#   unit            tests/unit/run.sh on build/app/*_test build/modules/*/*_test
#   unit-valgrind   the same under valgrind
#   schema          build/crmctl check-schema, then pytest tests/schema
#   api             pytest tests/api
#   security        pytest tests/security
#   jobs            pytest tests/jobs (crm-worker: webhooks, retries, purge,
#                   fairness, the queue's figures)
#   faults          pytest tests/faults (stops and restarts PostgreSQL/Redis,
#                   kills crm-worker)
# then stops exactly what it started and removes the directory
# (CRM_KEEP_TEST_DIR=1 keeps it).  Prints one line per suite and a last line
# "N passed, N failed"; exits non-zero if anything failed.
# CRM_TEST_SUITES="unit api" runs only the named suites.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
PYTHON=/usr/bin/python3		# Debian's, with pytest/requests/jwt
SUITE_TIMEOUT=${CRM_SUITE_TIMEOUT:-600}
SUITES=${CRM_TEST_SUITES:-unit unit-valgrind schema api security jobs faults}

DIR=$(mktemp -d /tmp/crm-test.XXXXXX) || exit 2
total_pass=0
total_fail=0
summary=""
ready=0
failed_any=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	echo
	echo "== stopping the test service"
	tests/env.sh stop "$DIR" 2>&1 | sed 's/^/   /'
	if [ "$failed_any" -ne 0 ] || [ "$rc" -ne 0 ]; then
		if [ -s "$DIR/log/crm.log" ]; then
			echo "== last 60 lines of the Kore log ($DIR/log/crm.log)"
			tail -n 60 "$DIR/log/crm.log"
		fi
	fi
	if [ "${CRM_KEEP_TEST_DIR:-0}" = 1 ]; then
		echo "== kept $DIR (CRM_KEEP_TEST_DIR=1)"
	else
		rm -rf "$DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

want() {
	case " $SUITES " in *" $1 "*) return 0 ;; esac
	return 1
}

# record NAME PASSED FAILED NOTE
record() {
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	[ "$3" -ne 0 ] && failed_any=1
	summary="$summary$(printf '%-14s %5s passed, %5s failed  %s' \
	    "$1" "$2" "$3" "$4")
"
}

skip() {
	summary="$summary$(printf '%-14s %-28s %s' "$1" skipped "$2")
"
}

# Unit runner: its last line is "N passed, N failed".
run_unit() {
	local name=$1 out line pass fail rc
	shift
	out=$DIR/log/$name.out
	echo
	echo "== $name"
	timeout "$SUITE_TIMEOUT" "$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		record "$name" 0 1 "(no result line, exit $rc)"
		return
	fi
	pass=${line%% passed*}
	fail=${line#*, }
	fail=${fail%% failed}
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1
	fi
	local note=""
	[ "$rc" -eq 124 ] && note="(timed out after ${SUITE_TIMEOUT}s)"
	record "$name" "$pass" "$fail" "$note"
}

has_tests() {
	[ -d "$1" ] && [ -n "$(find "$1" -name 'test_*.py' -o -name '*_test.py' |
	    head -n 1)" ]
}

# pytest: counts from its last summary line ("3 failed, 10 passed in 2s").
run_pytest() {
	local name=$1 path=$2 out rc line pass fail err
	if ! has_tests "$path"; then
		skip "$name" "(no tests in $path yet)"
		return
	fi
	if [ "$ready" -ne 1 ] && [ "$name" != schema ]; then
		record "$name" 0 1 "(service not ready: suite not run)"
		return
	fi
	out=$DIR/log/$name.out
	echo
	echo "== $name: pytest $path"
	timeout "$SUITE_TIMEOUT" "$PYTHON" -m pytest -q -rfE \
	    -p no:cacheprovider "$path" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^=*.*[0-9]+ (passed|failed|error|errors|skipped)|no tests ran' \
	    "$out" | tail -n 1)
	pass=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
	fail=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
	err=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || true)
	pass=${pass:-0}
	fail=$(( ${fail:-0} + ${err:-0} ))
	case "$rc" in
	0) record "$name" "$pass" "$fail" "" ;;
	5) record "$name" "$pass" $((fail + 1)) "(no tests collected)" ;;
	124) record "$name" "$pass" $((fail + 1)) "(timed out after ${SUITE_TIMEOUT}s)" ;;
	*)
		[ "$fail" -eq 0 ] && fail=1
		record "$name" "$pass" "$fail" "(pytest exit $rc)"
		;;
	esac
}

echo "== starting the test service in $DIR"
tests/env.sh start "$DIR" 2>&1 | sed 's/^/   /'
case "${PIPESTATUS[0]}" in
0) ready=1 ;;
*)
	echo "== the test service did not start; suites that need it fail"
	failed_any=1
	record setup 0 1 "(service not ready; see the Kore log below)"
	;;
esac
if [ -f "$DIR/test.env" ]; then
	# shellcheck disable=SC1091
	set -a; . "$DIR/test.env"; set +a
	export CRM_STACK_DIR="$DIR"
fi

units=$(ls build/app/*_test build/modules/*/*_test 2>/dev/null | sort)
if want unit; then
	if [ -n "$units" ]; then
		# shellcheck disable=SC2086
		run_unit unit tests/unit/run.sh $units
	else
		skip unit "(no unit test binaries)"
	fi
fi
if want unit-valgrind; then
	if [ -n "$units" ]; then
		# shellcheck disable=SC2086
		UT_VALGRIND=1 run_unit unit-valgrind tests/unit/run.sh $units
	else
		skip unit-valgrind "(no unit test binaries)"
	fi
fi

if want schema; then
	if [ "$ready" -eq 1 ] || [ -f "$DIR/stack.env" ]; then
		echo
		echo "== schema: crmctl check-schema"
		if timeout "$SUITE_TIMEOUT" build/crmctl check-schema 2>&1 |
		    tee "$DIR/log/check-schema.out"; [ "${PIPESTATUS[0]}" -eq 0 ]
		then
			record check-schema 1 0 ""
		else
			record check-schema 0 1 "(crmctl check-schema failed)"
		fi
	fi
	run_pytest schema tests/schema
fi
want api && run_pytest api tests/api
want security && run_pytest security tests/security
want jobs && run_pytest jobs tests/jobs
# Last: it stops and restarts PostgreSQL and Redis under the service.
want faults && run_pytest faults tests/faults

echo
echo "== summary"
printf '%s' "$summary"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$failed_any" -eq 0 ]
