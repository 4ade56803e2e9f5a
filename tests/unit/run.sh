#!/bin/sh
#
# run.sh: runs unit test binaries and adds up their results.
#
# Usage: tests/unit/run.sh build/app/js_test ...
# With UT_VALGRIND=1 each binary runs under valgrind; any error or definite
# leak makes it exit 99.  Each binary's last "N passed, N failed" line is
# its result; a binary that exits non-zero or prints no such line (a crash)
# counts one more failure.  The last line printed is the total, and the
# exit status is non-zero if anything failed.

set -u

total_pass=0
total_fail=0
bad=0
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT INT TERM

for t in "$@"; do
	if [ "${UT_VALGRIND:-0}" = 1 ]; then
		valgrind --error-exitcode=99 --leak-check=full \
		    --errors-for-leak-kinds=definite -q "$t" >"$out"
	else
		"$t" >"$out"
	fi
	rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		pass=0
		fail=1
		note=" (no result line, exit $rc)"
	else
		pass=${line%% passed*}
		fail=${line#*, }
		fail=${fail%% failed}
		note=""
		if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
			fail=1
			note=" (exit $rc)"
		fi
	fi
	[ "$rc" -ne 0 ] && bad=1
	[ "$fail" -ne 0 ] && bad=1
	printf '%-32s %s passed, %s failed%s\n' "$(basename "$t")" \
	    "$pass" "$fail" "$note"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
done

echo "$total_pass passed, $total_fail failed"
exit $bad
