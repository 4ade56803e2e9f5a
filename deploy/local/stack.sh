#!/bin/bash
#
# stack.sh: a private PostgreSQL 15 cluster and Redis 7 server under DIR,
# on loopback ports, for `make run` (DIR = var/) and `make test` (DIR = a
# throw-away directory).  Never touches the system's services: everything
# is started from DIR and stopped by the PID files in DIR.
#
# Usage: stack.sh start|stop|status DIR
#        stack.sh pg-stop DIR [fast|immediate]   (fault tests)
#        stack.sh pg-start DIR
#        stack.sh redis-stop DIR                 (kill -9 by PID file)
#        stack.sh redis-start DIR
#        stack.sh env DIR                        (prints DIR/stack.env)
#
# start: on the first start picks free loopback ports (or CRM_PG_PORT,
# CRM_REDIS_PORT), generates passwords, creates the cluster and database
# `crm`, runs sql/roles.sql as superuser and remembers it all in
# DIR/stack.env (mode 600).  Every start then runs `crmctl migrate` as the
# owner role (set CRM_STACK_SKIP_MIGRATE=1 to skip).  Starting twice is
# harmless: what already runs is left alone.
#
# DIR/stack.env exports CRM_DATABASE_URL (crm_app), CRM_WORKER_DATABASE_URL
# (crm_worker), CRM_OWNER_DATABASE_URL (crm_owner), CRM_PG_SUPER_URL
# (postgres, for tests and operators only), CRM_REDIS_URL, CRM_PG_PORT,
# CRM_REDIS_PORT, CRM_STACK_DIR, CRM_PGDATA, CRM_PG_SOCKET_DIR, CRM_PG_LOG,
# CRM_REDIS_LOG.  Secrets live only there, never in logs or argv.  The
# service's two URLs (crm_app, crm_worker) reach PostgreSQL over its Unix
# socket: on one machine that costs ~10% less PostgreSQL CPU per request
# than loopback TCP (pgbench, tenant context + a deal read); the others
# stay on TCP, the way an operator or a remote client connects.

set -eu
umask 077

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
REDIS_SERVER=/usr/bin/redis-server
REDIS_CLI=/usr/bin/redis-cli

die() { echo "stack.sh: $*" >&2; exit 1; }
say() { echo "stack.sh: $*"; }

usage() {
	sed -n '7,13p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
MODE=${3:-fast}

case "$DIR" in
/*) ;;
*) DIR=$(pwd)/$DIR ;;
esac
DIR=${DIR%/}

# DIR/pg is the cluster, or a symlink to it when user postgres cannot
# enter DIR (a parent closed to others) or DIR's path is too long for a
# unix socket: then the cluster lives in /var/tmp/crm-pg.<hash of DIR>.
pg_paths() {
	if [ -L "$DIR/pg" ]; then
		PGROOT=$(readlink -f "$DIR/pg")
	else
		PGROOT=$DIR/pg
	fi
	PGDATA_DIR=$PGROOT/data
	PGSOCK=$PGROOT/run
	PGLOG=$PGROOT/log/postgresql.log
}
pg_paths
RDIR=$DIR/redis
RCONF=$RDIR/redis.conf
RPID=$RDIR/redis.pid
RLOG=$RDIR/redis.log
ENVF=$DIR/stack.env

# The same environment must not leak into our own psql calls.
unset PGHOST PGPORT PGUSER PGDATABASE PGSERVICE PGSERVICEFILE PGPASSFILE \
    PGOPTIONS PGSSLMODE 2>/dev/null || true

secret() {
	# 32 hex characters: no quoting or URL-encoding issues anywhere.
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

port_busy() {
	ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q . && return 0
	return 1
}

free_port() {
	# Below Linux's ephemeral range (32768+) so outgoing connections never
	# take it; never 5432, 6379 or 8080 (the range excludes them).
	local p avoid=${1:-0}
	for _ in $(seq 1 200); do
		p=$((20000 + $(od -An -tu2 -N2 /dev/urandom | tr -d ' ') % 12000))
		[ "$p" -eq "$avoid" ] && continue
		port_busy "$p" && continue
		echo "$p"
		return 0
	done
	die "no free loopback port found"
}

load_env() {
	[ -f "$ENVF" ] || die "$ENVF missing: run 'stack.sh start $DIR' first"
	# shellcheck disable=SC1090
	. "$ENVF"
}

as_postgres() {
	runuser -u postgres -- "$@"
}

# Is the process in PID file $1 alive and named like $2?
pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(head -n 1 "$1" 2>/dev/null | tr -dc 0-9)
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

pg_pid() { pid_alive "$PGDATA_DIR/postmaster.pid" postgres; }
redis_pid() { pid_alive "$RPID" redis-server; }

# ---------------------------------------------------------------- setup

write_env() {
	local tmp=$ENVF.tmp
	cat >"$tmp" <<-EOF
	# Written by deploy/local/stack.sh: the private stack in this directory.
	# Contains passwords: mode 600, never commit or print.
	export CRM_STACK_DIR='$DIR'
	export CRM_PG_PORT=$CRM_PG_PORT
	export CRM_REDIS_PORT=$CRM_REDIS_PORT
	export CRM_PGDATA='$PGDATA_DIR'
	export CRM_PG_SOCKET_DIR='$PGSOCK'
	export CRM_PG_LOG='$PGLOG'
	export CRM_REDIS_LOG='$RLOG'
	STACK_PG_SUPER_PW=$STACK_PG_SUPER_PW
	STACK_PG_OWNER_PW=$STACK_PG_OWNER_PW
	STACK_PG_APP_PW=$STACK_PG_APP_PW
	STACK_PG_WORKER_PW=$STACK_PG_WORKER_PW
	STACK_REDIS_PW=$STACK_REDIS_PW
	export CRM_PG_SUPER_URL=postgresql://postgres:$STACK_PG_SUPER_PW@127.0.0.1:$CRM_PG_PORT/crm
	export CRM_OWNER_DATABASE_URL=postgresql://crm_owner:$STACK_PG_OWNER_PW@127.0.0.1:$CRM_PG_PORT/crm
	export CRM_DATABASE_URL='postgresql://crm_app:$STACK_PG_APP_PW@/crm?host=$PGSOCK&port=$CRM_PG_PORT'
	export CRM_WORKER_DATABASE_URL='postgresql://crm_worker:$STACK_PG_WORKER_PW@/crm?host=$PGSOCK&port=$CRM_PG_PORT'
	export CRM_REDIS_URL=redis://:$STACK_REDIS_PW@127.0.0.1:$CRM_REDIS_PORT/0
	EOF
	chmod 600 "$tmp"
	mv "$tmp" "$ENVF"
}

init_env() {
	if [ -f "$ENVF" ]; then
		load_env
		return
	fi
	CRM_PG_PORT=${CRM_PG_PORT:-$(free_port)}
	CRM_REDIS_PORT=${CRM_REDIS_PORT:-$(free_port "$CRM_PG_PORT")}
	[ "$CRM_PG_PORT" != "$CRM_REDIS_PORT" ] ||
	    die "CRM_PG_PORT and CRM_REDIS_PORT are both $CRM_PG_PORT"
	STACK_PG_SUPER_PW=$(secret)
	STACK_PG_OWNER_PW=$(secret)
	STACK_PG_APP_PW=$(secret)
	STACK_PG_WORKER_PW=$(secret)
	STACK_REDIS_PW=$(secret)
	write_env
	load_env
}

check_traverse() {
	# initdb and postgres run as user postgres: it must reach PGROOT.
	as_postgres test -x "$PGROOT" ||
	    die "user postgres cannot enter $PGROOT"
}

# Where a new cluster goes (before init_env, which records the paths).
pg_place() {
	local ext
	[ -e "$DIR/pg" ] && return 0
	chmod o+x "$DIR"
	if as_postgres test -x "$DIR" && [ ${#DIR} -le 80 ]; then
		return 0
	fi
	ext=/var/tmp/crm-pg.$(printf '%s' "$DIR" | sha256sum | cut -c1-16)
	say "user postgres cannot reach $DIR (or the path is too long):" \
	    "the cluster goes to $ext"
	rm -rf "$ext"
	mkdir -p "$ext"
	ln -s "$ext" "$DIR/pg"
	pg_paths
}

pg_init() {
	[ -f "$PGDATA_DIR/PG_VERSION" ] && return 0
	say "creating PostgreSQL 15 cluster in $PGDATA_DIR"
	rm -rf "${PGROOT:?}"/*
	mkdir -p "$PGROOT/log" "$PGSOCK"
	chown -R postgres:postgres "$PGROOT"
	chmod 700 "$PGROOT"
	check_traverse
	printf '%s\n' "$STACK_PG_SUPER_PW" >"$PGROOT/pwfile"
	chown postgres "$PGROOT/pwfile"
	if ! as_postgres "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres \
	    --pwfile="$PGROOT/pwfile" --auth=scram-sha-256 \
	    --encoding=UTF8 --locale=C.UTF-8 >"$PGROOT/log/initdb.log" 2>&1
	then
		rm -f "$PGROOT/pwfile"
		tail -n 20 "$PGROOT/log/initdb.log" >&2
		die "initdb failed"
	fi
	rm -f "$PGROOT/pwfile"
	as_postgres tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<-EOF

	# --- crm private stack (deploy/local/stack.sh) ---
	listen_addresses = '127.0.0.1'
	port = $CRM_PG_PORT
	unix_socket_directories = '$PGSOCK'
	unix_socket_permissions = 0700
	max_connections = 200
	shared_buffers = 256MB
	fsync = on
	synchronous_commit = on
	full_page_writes = on
	password_encryption = scram-sha-256
	timezone = 'UTC'
	log_timezone = 'UTC'
	shared_preload_libraries = 'pg_stat_statements'
	pg_stat_statements.track_utility = off
	# Statement text can carry secrets (ALTER ROLE ... PASSWORD): never log it.
	log_min_error_statement = panic
	log_statement = 'none'
	log_line_prefix = '%m [%p] %q%u@%d '
	EOF
	as_postgres tee "$PGDATA_DIR/pg_hba.conf" >/dev/null <<-EOF
	# crm private stack: passwords everywhere, loopback only.
	local	all	all			scram-sha-256
	host	all	all	127.0.0.1/32	scram-sha-256
	EOF
}

pg_start() {
	local pid
	if pid=$(pg_pid); then
		say "PostgreSQL already running (pid $pid, port $CRM_PG_PORT)"
		return 0
	fi
	port_busy "$CRM_PG_PORT" &&
	    die "port $CRM_PG_PORT (PostgreSQL) is taken by another process"
	check_traverse
	if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGLOG" -w -t 90 \
	    -s start 9>&-; then
		tail -n 30 "$PGLOG" >&2 || true
		die "PostgreSQL did not start"
	fi
	say "PostgreSQL 15 on 127.0.0.1:$CRM_PG_PORT (pid $(pg_pid))"
}

pg_stop() {
	local m=${1:-fast}
	case "$m" in fast|immediate|smart) ;; *) die "bad stop mode '$m'" ;; esac
	pg_pid >/dev/null || return 0
	if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m "$m" -w -t 30 \
	    -s stop 9>&-; then
		as_postgres "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w \
		    -t 30 -s stop 9>&- || true
	fi
	say "PostgreSQL stopped ($m)"
}

psql_super() {
	PGPASSWORD=$STACK_PG_SUPER_PW PGCONNECT_TIMEOUT=10 \
	    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$CRM_PG_PORT" -U postgres "$@"
}

pg_bootstrap() {
	local marker=$PGROOT/roles.sha256 sum
	local roles=$ROOT/sql/roles.sql

	if [ "$(psql_super -d postgres -tAc \
	    "select 1 from pg_database where datname = 'crm'")" != 1 ]; then
		say "creating database crm"
		psql_super -d postgres -v ON_ERROR_STOP=1 \
		    -c "create database crm"
	fi

	[ -f "$roles" ] || die "$roles missing"
	sum=$(sha256sum "$roles" | cut -d' ' -f1)
	if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$sum" ]; then
		say "applying sql/roles.sql"
		# Passwords go in as psql variables, never on a command
		# line that ps shows: psql reads them from stdin here.
		if ! psql_super -d crm -v ON_ERROR_STOP=1 \
		    -f - >"$PGROOT/log/roles.log" 2>&1 <<-EOF
		\\set owner_password '$STACK_PG_OWNER_PW'
		\\set app_password '$STACK_PG_APP_PW'
		\\set worker_password '$STACK_PG_WORKER_PW'
		\\i $roles
		EOF
		then
			# psql's own messages name the line, not the password.
			sed "s/$STACK_PG_OWNER_PW\|$STACK_PG_APP_PW\|$STACK_PG_WORKER_PW/***/g" \
			    "$PGROOT/log/roles.log" >&2
			die "sql/roles.sql failed"
		fi
		echo "$sum" >"$marker"
	fi
}

migrate() {
	if [ "${CRM_STACK_SKIP_MIGRATE:-0}" = 1 ]; then
		say "skipping migrations (CRM_STACK_SKIP_MIGRATE=1)"
		return 0
	fi
	[ -x "$ROOT/build/crmctl" ] ||
	    die "$ROOT/build/crmctl missing: run 'make all' first"
	say "migrating"
	(load_env; cd "$ROOT" && build/crmctl migrate) ||
	    die "crmctl migrate failed (see above)"
}

# ---------------------------------------------------------------- redis

redis_config() {
	mkdir -p "$RDIR"
	cat >"$RCONF.tmp" <<-EOF
	# Written by deploy/local/stack.sh: private Redis for the crm stack.
	bind 127.0.0.1
	protected-mode yes
	port $CRM_REDIS_PORT
	dir $RDIR
	daemonize yes
	pidfile $RPID
	logfile $RLOG
	requirepass $STACK_REDIS_PW
	appendonly yes
	appendfsync everysec
	save ""
	maxmemory-policy noeviction
	EOF
	chmod 600 "$RCONF.tmp"
	mv "$RCONF.tmp" "$RCONF"
}

redis_ping() {
	REDISCLI_AUTH=$STACK_REDIS_PW timeout 5 "$REDIS_CLI" --no-auth-warning \
	    -h 127.0.0.1 -p "$CRM_REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

redis_start() {
	local pid
	if pid=$(redis_pid); then
		say "Redis already running (pid $pid, port $CRM_REDIS_PORT)"
		return 0
	fi
	rm -f "$RPID"
	port_busy "$CRM_REDIS_PORT" &&
	    die "port $CRM_REDIS_PORT (Redis) is taken by another process"
	redis_config
	# 9>&-: the daemon must not inherit (and hold) our lock.
	"$REDIS_SERVER" "$RCONF" >/dev/null 9>&- ||
	    { tail -n 20 "$RLOG" >&2 || true; die "redis-server failed"; }
	for _ in $(seq 1 100); do
		if redis_pid >/dev/null && redis_ping; then
			say "Redis 7 on 127.0.0.1:$CRM_REDIS_PORT (pid $(redis_pid))"
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$RLOG" >&2 || true
	die "Redis did not start"
}

redis_stop() {
	local sig=${1:-TERM} pid
	pid=$(redis_pid) || { rm -f "$RPID"; return 0; }
	kill "-$sig" "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.2
	fi
	rm -f "$RPID"
	say "Redis stopped ($sig)"
}

# ---------------------------------------------------------------- main

with_lock() {
	mkdir -p "$DIR"
	exec 9>"$DIR/.stack.lock"
	flock -w 120 9 || die "another stack.sh holds $DIR/.stack.lock"
}

case "$CMD" in
start)
	[ "$(id -u)" -eq 0 ] || die "must run as root (initdb runs as postgres)"
	with_lock
	pg_place
	init_env
	pg_init
	pg_start
	redis_start
	pg_bootstrap
	migrate
	;;
stop)
	[ -d "$DIR" ] || exit 0
	with_lock
	[ -f "$ENVF" ] && load_env
	redis_stop TERM
	pg_stop fast
	;;
status)
	[ -f "$ENVF" ] || { echo "no stack in $DIR"; exit 3; }
	load_env
	rc=0
	if pid=$(pg_pid); then
		echo "postgresql: running, pid $pid, 127.0.0.1:$CRM_PG_PORT"
	else
		echo "postgresql: stopped"; rc=3
	fi
	if pid=$(redis_pid); then
		echo "redis: running, pid $pid, 127.0.0.1:$CRM_REDIS_PORT"
	else
		echo "redis: stopped"; rc=3
	fi
	exit $rc
	;;
pg-stop)
	load_env
	pg_stop "$MODE"
	;;
pg-start)
	load_env
	pg_start
	;;
redis-stop)
	load_env
	redis_stop KILL
	;;
redis-start)
	load_env
	redis_start
	;;
env)
	load_env
	cat "$ENVF"
	;;
*)
	usage
	;;
esac
