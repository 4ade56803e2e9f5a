# shellcheck shell=bash
# lib.sh: shell functions shared by deploy/local/run.sh and tests/env.sh
# (sourced, not run).  Starting and stopping go by PID file only: we stop
# exactly the processes we started, never by name.

CRM_ROOT=${CRM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# Variables the long-running processes never get: the superuser's and the
# owner's database URLs (only crmctl and the tests use them) and the demo
# login (only crmctl seed-demo).
LIB_SERVICE_UNSET="-u CRM_PG_SUPER_URL -u CRM_OWNER_DATABASE_URL -u CRM_DEMO_EMAIL -u CRM_DEMO_PASSWORD"

lib_die() { echo "${LIB_NAME:-crm}: $*" >&2; exit 1; }
lib_say() { echo "${LIB_NAME:-crm}: $*"; }

# A free loopback TCP port below the ephemeral range; never 8080/5432/6379.
lib_free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + $(od -An -tu2 -N2 /dev/urandom | tr -d ' ') % 12000))
		lib_port_busy "$p" || { echo "$p"; return 0; }
	done
	lib_die "no free loopback port found"
}

lib_port_busy() {
	ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .
}

# lib_pid_alive FILE NAME: prints the PID in FILE if that process is alive
# and its command line mentions NAME (guards against a reused PID).
lib_pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(head -n 1 "$1" 2>/dev/null | tr -dc 0-9)
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	grep -qa -- "$2" "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

# lib_stop_pid FILE NAME [SECONDS]: SIGTERM, wait, then SIGKILL the process
# and the children it had (Kore's workers), then remove FILE.
lib_stop_pid() {
	local file=$1 name=$2 secs=${3:-10} pid kids i
	if ! pid=$(lib_pid_alive "$file" "$name"); then
		rm -f "$file"
		return 0
	fi
	kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		# Reap it if it is our own child (a zombie stays "alive").
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null &&
	    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
		lib_say "$name (pid $pid) did not stop in ${secs}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for i in $kids; do
		# Only processes that are still Kore's children of that parent.
		if grep -qa -- "$name" "/proc/$i/cmdline" 2>/dev/null; then
			kill -KILL "$i" 2>/dev/null || true
		fi
	done
	wait "$pid" 2>/dev/null || true
	rm -f "$file"
}

# lib_start_kore VAR_DIR LOG: renders VAR_DIR/crm.conf from the environment
# and starts Kore in the background, its own session, no chroot, no
# privilege drop (-r: development and tests run as root).  Writes the
# parent's PID to VAR_DIR/crm.pid.
lib_start_kore() {
	local var=$1 log=$2 pid i
	"$CRM_ROOT/deploy/local/genconf.sh" "$var" "$var/crm.conf" || return 1
	[ -f "$CRM_ROOT/build/crm.so" ] ||
	    lib_die "$CRM_ROOT/build/crm.so missing: run 'make all' first"
	mkdir -p "$(dirname "$log")"
	rm -f "$var/kore.pid"
	(
		cd "$CRM_ROOT" || exit 1
		# stdbuf: Kore's own log lines go out line by line, so they are
		# not repeated by every forked worker.
		# shellcheck disable=SC2086
		exec env $LIB_SERVICE_UNSET setsid stdbuf -oL -eL \
		    kore -c "$var/crm.conf" -f -n -r \
		    </dev/null >>"$log" 2>&1
	) &
	pid=$!
	echo "$pid" >"$var/crm.pid"
	# Kore writes its pidfile once it runs; both must agree.
	for i in $(seq 1 50); do
		[ -s "$var/kore.pid" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -s "$var/kore.pid" ] &&
	    [ "$(tr -dc 0-9 <"$var/kore.pid")" != "$pid" ]; then
		# setsid forked (we were a process group leader): trust Kore.
		pid=$(tr -dc 0-9 <"$var/kore.pid")
		echo "$pid" >"$var/crm.pid"
	fi
	kill -0 "$pid" 2>/dev/null || return 1
	return 0
}

# lib_start_worker VAR_DIR LOG: starts build/crm-worker if it was built.
lib_start_worker() {
	local var=$1 log=$2
	[ -x "$CRM_ROOT/build/crm-worker" ] || return 0
	mkdir -p "$(dirname "$log")"
	(
		cd "$CRM_ROOT" || exit 1
		# shellcheck disable=SC2086
		exec env $LIB_SERVICE_UNSET setsid build/crm-worker \
		    </dev/null >>"$log" 2>&1
	) &
	echo "$!" >"$var/crm-worker.pid"
}

# lib_start_sink VAR_DIR PORT MAIL_DIR LOG: the local SMTP sink
# (deploy/local/smtpsink.py) on 127.0.0.1:PORT, keeping mail under
# MAIL_DIR; PID in VAR_DIR/smtp-sink.pid.  0 once it listens.
lib_start_sink() {
	local var=$1 port=$2 dir=$3 log=$4 i
	mkdir -p "$dir" "$(dirname "$log")"
	(
		cd "$CRM_ROOT" || exit 1
		exec setsid /usr/bin/python3 deploy/local/smtpsink.py \
		    --port "$port" --dir "$dir" </dev/null >>"$log" 2>&1
	) &
	echo "$!" >"$var/smtp-sink.pid"
	for i in $(seq 1 100); do
		lib_port_busy "$port" && return 0
		lib_pid_alive "$var/smtp-sink.pid" smtpsink >/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# lib_wait_ready URL SECONDS PIDFILE: 0 once URL/readyz answers 200; 1 on
# timeout or when the process in PIDFILE dies first.
lib_wait_ready() {
	local url=$1 secs=$2 pidfile=$3 code i
	for i in $(seq 1 $((secs * 4))); do
		code=$(curl -s -k -o /dev/null -w '%{http_code}' --max-time 2 \
		    "$url/readyz" 2>/dev/null) || true
		[ "$code" = 200 ] && return 0
		lib_pid_alive "$pidfile" kore >/dev/null || return 1
		sleep 0.25
	done
	return 1
}

# lib_url: the URL clients use, from CRM_HTTP_BIND/PORT and TLS settings.
lib_url() {
	local host=${CRM_HTTP_BIND:-127.0.0.1} scheme=http
	case "$host" in 0.0.0.0|'*'|::) host=127.0.0.1 ;; esac
	[ -n "${CRM_TLS_CERT:-}" ] && scheme=https
	echo "$scheme://$host:${CRM_HTTP_PORT:-8080}"
}

lib_secret() {
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

# lib_demo_env FILE: the demo login's e-mail and password, generated once
# per directory and kept in FILE (mode 600) so every run prints the same.
lib_demo_env() {
	local f=$1
	if [ ! -s "$f" ]; then
		(umask 077; cat >"$f" <<-EOF
		export CRM_DEMO_EMAIL=demo@example.com
		export CRM_DEMO_PASSWORD=demo-$(lib_secret)
		EOF
		)
	fi
	# shellcheck disable=SC1090
	. "$f"
}
