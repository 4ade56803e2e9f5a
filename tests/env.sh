#!/bin/bash
#
# env.sh: a complete throw-away service for the test suites.
#
# Usage: tests/env.sh start DIR    (DIR exists, e.g. from mktemp -d)
#        tests/env.sh stop DIR
#        tests/env.sh worker-start|worker-stop DIR   (fault tests: the
#        job worker alone, with the environment start gave it)
#        tests/env.sh sink-start|sink-stop DIR   (the SMTP sink alone, on
#        its port: tests of a mail server that is down)
#
# start: PostgreSQL + Redis on free loopback ports under DIR
# (deploy/local/stack.sh, which migrates), the demo tenant, Kore on a free
# port with the test-only routes (CRM_TEST_ROUTES=1) and the job worker;
# waits for /readyz.  Writes DIR/test.env (mode 600), which exports
# everything a suite needs: the stack's variables (CRM_DATABASE_URL ...,
# CRM_STACK_DIR), CRM_TEST_URL, CRM_TEST_KORE_PID, CRM_TEST_LOG,
# CRM_TEST_WORKER_LOG, CRM_DEMO_EMAIL, CRM_DEMO_PASSWORD, and the SMTP
# sink's CRM_TEST_MAIL_DIR (DIR/mail/<recipient>/*.eml) and port.
# Exit status: 0 ready; 1 the service did not become ready (DIR/test.env is
# still written, so what did start can be inspected and stopped); 2 the
# stack itself did not start.
# stop: stops exactly what start started, by PID file.  Never removes DIR.

set -u
# shellcheck disable=SC2034  # used by lib.sh
LIB_NAME=tests/env.sh
CRM_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/local/lib.sh
. "$CRM_ROOT/deploy/local/lib.sh"
STACK=$CRM_ROOT/deploy/local/stack.sh

[ $# -eq 2 ] || { echo "usage: tests/env.sh start|stop|worker-start|worker-stop|sink-start|sink-stop DIR" >&2; exit 2; }
DIR=$(cd "$2" 2>/dev/null && pwd) || lib_die "$2: no such directory"

case "$1" in
start)
	chmod 711 "$DIR"
	mkdir -p "$DIR/log" "$DIR/keys"
	chmod 700 "$DIR/log" "$DIR/keys"
	# The stack's own variables must come from DIR, never from the caller.
	unset CRM_PG_PORT CRM_REDIS_PORT
	"$STACK" start "$DIR" >"$DIR/log/stack.log" 2>&1
	rc=$?
	cat "$DIR/log/stack.log"
	[ $rc -eq 0 ] || exit 2
	# shellcheck disable=SC1091
	. "$DIR/stack.env"
	lib_demo_env "$DIR/demo.env"

	export CRM_HTTP_BIND=127.0.0.1
	CRM_HTTP_PORT=$(lib_free_port)
	export CRM_HTTP_PORT
	export CRM_KEYS_DIR=$DIR/keys
	export CRM_EXPORTS_DIR=$DIR/exports
	export CRM_IMPORTS_DIR=$DIR/imports
	export CRM_TEST_ROUTES=1
	export CRM_WEBHOOK_ALLOWLIST=${CRM_WEBHOOK_ALLOWLIST:-127.0.0.0/8}
	# Limits stay in the request path at a tenth of their production
	# strictness, so suites that sign up many tenants from 127.0.0.1 run.
	export CRM_RATE_LIMIT_MULTIPLIER=${CRM_RATE_LIMIT_MULTIPLIER:-10}
	export CRM_LOG_LEVEL=${CRM_LOG_LEVEL:-info}
	unset CRM_TLS_CERT CRM_TLS_KEY
	url=$(lib_url)
	# E-mail goes to the local sink; links in it point at this service.
	CRM_TEST_SMTP_PORT=$(lib_free_port)
	export CRM_TEST_SMTP_PORT
	export CRM_TEST_MAIL_DIR=$DIR/mail
	export CRM_SMTP_URL=smtp://127.0.0.1:$CRM_TEST_SMTP_PORT
	export CRM_SMTP_FROM=crm@crm-test.example
	export CRM_PUBLIC_URL=$url
	unset CRM_SMTP_USER CRM_SMTP_PASSWORD CRM_SMTP_STARTTLS
	# The job worker at test speed: short leases and backoff, small
	# attempt budgets and disabling thresholds the suites can reach.
	jobvars=""
	for kv in CRM_WORKER_METRICS_FILE=$DIR/crm-worker.prom \
	    CRM_JOB_LEASE_S=8 CRM_JOB_TICK_MS=100 CRM_JOB_STALE_S=20 \
	    CRM_JOB_BACKOFF_BASE_MS=200 CRM_JOB_BACKOFF_CAP_MS=1000 \
	    CRM_WEBHOOK_TIMEOUT_MS=3000 CRM_WEBHOOK_CONNECT_TIMEOUT_MS=1000 \
	    CRM_WEBHOOK_MAX_ATTEMPTS=4 CRM_WEBHOOK_DISABLE_FAILURES=10 \
	    CRM_WEBHOOK_DISABLE_AFTER_S=0 CRM_SMTP_TIMEOUT_MS=3000 \
	    CRM_EMAIL_MAX_ATTEMPTS=20; do
		k=${kv%%=*}
		eval "v=\${$k:-\${kv#*=}}"
		export "$k=$v"
		jobvars="${jobvars}export $k='$v'
"
	done

	(umask 077; cat >"$DIR/test.env" <<-EOF
	# Written by tests/env.sh: the test service in this directory.
	. '$DIR/stack.env'
	. '$DIR/demo.env'
	export CRM_TEST_URL='$url'
	export CRM_TEST_LOG='$DIR/log/crm.log'
	export CRM_TEST_WORKER_LOG='$DIR/log/crm-worker.log'
	export CRM_HTTP_PORT=$CRM_HTTP_PORT
	export CRM_KEYS_DIR='$DIR/keys'
	export CRM_EXPORTS_DIR='$DIR/exports'
	export CRM_IMPORTS_DIR='$DIR/imports'
	export CRM_TEST_ROUTES=1
	export CRM_WEBHOOK_ALLOWLIST='$CRM_WEBHOOK_ALLOWLIST'
	export CRM_RATE_LIMIT_MULTIPLIER='$CRM_RATE_LIMIT_MULTIPLIER'
	export CRM_TEST_KORE_PID=\$(cat '$DIR/crm.pid' 2>/dev/null)
	export CRM_TEST_SMTP_PORT=$CRM_TEST_SMTP_PORT
	export CRM_TEST_MAIL_DIR='$CRM_TEST_MAIL_DIR'
	export CRM_SMTP_URL='$CRM_SMTP_URL'
	export CRM_SMTP_FROM='$CRM_SMTP_FROM'
	export CRM_PUBLIC_URL='$CRM_PUBLIC_URL'
	$jobvars
	EOF
	)

	if ! (cd "$CRM_ROOT" && build/crmctl seed-demo) >"$DIR/demo.txt" \
	    2>"$DIR/log/seed-demo.log"; then
		lib_say "crmctl seed-demo failed:"
		cat "$DIR/log/seed-demo.log" >&2
		# Go on: the suites show what works without the demo tenant.
	fi

	if ! lib_start_sink "$DIR" "$CRM_TEST_SMTP_PORT" "$CRM_TEST_MAIL_DIR" \
	    "$DIR/log/smtp-sink.log"; then
		lib_say "the SMTP sink did not start:"
		cat "$DIR/log/smtp-sink.log" >&2
		exit 1
	fi
	if ! lib_start_kore "$DIR" "$DIR/log/crm.log"; then
		lib_say "Kore did not start"
		exit 1
	fi
	lib_start_worker "$DIR" "$DIR/log/crm-worker.log"
	if ! lib_wait_ready "$url" 60 "$DIR/crm.pid"; then
		lib_say "$url/readyz did not answer 200 within 60 s"
		exit 1
	fi
	lib_say "service ready at $url (kore pid $(cat "$DIR/crm.pid"))"
	;;
worker-start)
	# The fault suite's restart: the worker of DIR, as start made it.
	if ! lib_pid_alive "$DIR/crm-worker.pid" crm-worker >/dev/null; then
		# shellcheck disable=SC1091
		. "$DIR/test.env"
		lib_start_worker "$DIR" "$DIR/log/crm-worker.log"
	fi
	;;
worker-stop)
	lib_stop_pid "$DIR/crm-worker.pid" crm-worker 10
	;;
sink-start)
	if ! lib_pid_alive "$DIR/smtp-sink.pid" smtpsink >/dev/null; then
		# shellcheck disable=SC1091
		. "$DIR/test.env"
		lib_start_sink "$DIR" "$CRM_TEST_SMTP_PORT" \
		    "$CRM_TEST_MAIL_DIR" "$DIR/log/smtp-sink.log" ||
		    lib_die "the SMTP sink did not start"
	fi
	;;
sink-stop)
	lib_stop_pid "$DIR/smtp-sink.pid" smtpsink 10
	;;
stop)
	lib_stop_pid "$DIR/crm-worker.pid" crm-worker 10
	lib_stop_pid "$DIR/crm.pid" kore 10
	lib_stop_pid "$DIR/smtp-sink.pid" smtpsink 10
	"$STACK" stop "$DIR"
	;;
*)
	echo "usage: tests/env.sh start|stop DIR" >&2
	exit 2
	;;
esac
