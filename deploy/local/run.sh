#!/bin/bash
#
# run.sh: `make run` and `make stop`.
#
# Usage: deploy/local/run.sh start|stop|status
#
# start: the private PostgreSQL + Redis under var/ (deploy/local/stack.sh,
# which also migrates), the demo tenant (crmctl seed-demo), Kore serving
# the API (var/crm.conf rendered from conf/crm.conf.in) and the job worker
# (build/crm-worker, when built) and, unless CRM_SMTP_URL names a real
# mail server, the local SMTP sink on CRM_SMTP_SINK_PORT (2525) keeping
# every e-mail under var/mail/<recipient>/; waits for /readyz and prints
# the URL and the demo login.  The environment reaches the service as it is:
# CRM_HTTP_PORT (8080), CRM_HTTP_BIND, CRM_WORKERS, CRM_WEBHOOK_ALLOWLIST,
# CRM_LOG_LEVEL, CRM_TLS_CERT/KEY ... (app/conf.c, genconf.sh).
# stop: SIGTERM to Kore and the worker by PID file (SIGKILL after 10 s),
# then the stack.  Only what start started is stopped.

set -u
# shellcheck disable=SC2034  # used by lib.sh
LIB_NAME=run.sh
CRM_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=deploy/local/lib.sh
. "$CRM_ROOT/deploy/local/lib.sh"

VAR=$CRM_ROOT/var
LOGDIR=$VAR/log
STACK=$CRM_ROOT/deploy/local/stack.sh

export CRM_HTTP_PORT=${CRM_HTTP_PORT:-8080}
export CRM_HTTP_BIND=${CRM_HTTP_BIND:-127.0.0.1}
export CRM_KEYS_DIR=${CRM_KEYS_DIR:-$VAR/keys}
export CRM_EXPORTS_DIR=${CRM_EXPORTS_DIR:-$VAR/exports}
export CRM_IMPORTS_DIR=${CRM_IMPORTS_DIR:-$VAR/imports}
export CRM_WORKER_METRICS_FILE=${CRM_WORKER_METRICS_FILE:-$VAR/crm-worker.prom}
SINK_PORT=${CRM_SMTP_SINK_PORT:-2525}
if [ -z "${CRM_SMTP_URL:-}" ]; then
	SINK=1
	export CRM_SMTP_URL=smtp://127.0.0.1:$SINK_PORT
else
	SINK=0
fi

stop_all() {
	lib_stop_pid "$VAR/crm-worker.pid" crm-worker 10
	lib_stop_pid "$VAR/crm.pid" kore 10
	lib_stop_pid "$VAR/smtp-sink.pid" smtpsink 10
	rm -f "$VAR/crm.url"
	"$STACK" stop "$VAR"
}

print_banner() {
	local url=$1
	echo
	echo "crm is running: $url"
	echo "  health:  $url/healthz   ready: $url/readyz   metrics: $url/metrics"
	if [ -s "$VAR/demo.txt" ]; then
		echo "  demo login (crmctl seed-demo):"
		sed 's/^/    /' "$VAR/demo.txt"
	fi
	echo "  logs:    $LOGDIR/crm.log, $LOGDIR/crm-worker.log, $VAR/pg/log/, $VAR/redis/redis.log"
	echo "  worker:  metrics in $CRM_WORKER_METRICS_FILE"
	if lib_pid_alive "$VAR/smtp-sink.pid" smtpsink >/dev/null; then
		echo "  e-mail:  every message sent is in $VAR/mail/<recipient>/"
	fi
	echo "  stop:    make stop"
}

case "${1:-}" in
start)
	url=$(lib_url)
	if pid=$(lib_pid_alive "$VAR/crm.pid" kore); then
		echo "crm is already running (pid $pid)."
		[ -s "$VAR/crm.url" ] && url=$(cat "$VAR/crm.url")
		print_banner "$url"
		exit 0
	fi
	[ "$(id -u)" -eq 0 ] || lib_die "run as root (the private PostgreSQL runs as user postgres)"
	mkdir -p "$VAR" "$LOGDIR" "$CRM_KEYS_DIR" "$CRM_EXPORTS_DIR" "$CRM_IMPORTS_DIR"
	chmod 711 "$VAR"
	chmod 700 "$LOGDIR" "$CRM_KEYS_DIR" "$CRM_EXPORTS_DIR" "$CRM_IMPORTS_DIR"
	if lib_port_busy "$CRM_HTTP_PORT"; then
		lib_die "port $CRM_HTTP_PORT is in use; choose another with CRM_HTTP_PORT=..."
	fi
	if [ "$SINK" = 1 ] && lib_port_busy "$SINK_PORT"; then
		lib_die "port $SINK_PORT (the SMTP sink) is in use; choose another with CRM_SMTP_SINK_PORT=..."
	fi

	"$STACK" start "$VAR" || lib_die "the PostgreSQL/Redis stack did not start"
	# shellcheck disable=SC1091
	. "$VAR/stack.env"
	lib_demo_env "$VAR/demo.env"

	lib_say "seeding the demo tenant"
	if ! (cd "$CRM_ROOT" && build/crmctl seed-demo) >"$VAR/demo.txt.new" 2>"$LOGDIR/seed-demo.err"; then
		cat "$LOGDIR/seed-demo.err" >&2
		rm -f "$VAR/demo.txt.new"
		"$STACK" stop "$VAR"
		lib_die "crmctl seed-demo failed"
	fi
	chmod 600 "$VAR/demo.txt.new"
	mv "$VAR/demo.txt.new" "$VAR/demo.txt"

	export CRM_PUBLIC_URL=${CRM_PUBLIC_URL:-$url}
	if [ "$SINK" = 1 ]; then
		lib_start_sink "$VAR" "$SINK_PORT" "$VAR/mail" \
		    "$LOGDIR/smtp-sink.log" ||
		    lib_say "the SMTP sink did not start: e-mails will wait and retry"
	fi

	lib_say "starting Kore on $url"
	if ! lib_start_kore "$VAR" "$LOGDIR/crm.log"; then
		tail -n 40 "$LOGDIR/crm.log" >&2
		stop_all
		lib_die "Kore did not start (log above)"
	fi
	lib_start_worker "$VAR" "$LOGDIR/crm-worker.log"

	if ! lib_wait_ready "$url" 60 "$VAR/crm.pid"; then
		echo "--- last 40 lines of $LOGDIR/crm.log ---" >&2
		tail -n 40 "$LOGDIR/crm.log" >&2
		stop_all
		lib_die "$url/readyz did not answer 200 within 60 s; stopped everything"
	fi
	echo "$url" >"$VAR/crm.url"
	print_banner "$url"
	;;
stop)
	stop_all
	lib_say "stopped"
	;;
status)
	if pid=$(lib_pid_alive "$VAR/crm.pid" kore); then
		echo "kore: running, pid $pid, $(cat "$VAR/crm.url" 2>/dev/null)"
	else
		echo "kore: stopped"
	fi
	if pid=$(lib_pid_alive "$VAR/crm-worker.pid" crm-worker); then
		echo "crm-worker: running, pid $pid"
	else
		echo "crm-worker: stopped"
	fi
	"$STACK" status "$VAR"
	;;
*)
	echo "usage: deploy/local/run.sh start|stop|status" >&2
	exit 2
	;;
esac
