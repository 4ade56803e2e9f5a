#!/bin/sh
#
# entrypoint.sh: the crm container's entry point (production mode: it
# starts no PostgreSQL or Redis; it is told where they are).
#
#   serve          Kore serving the API (default).  Renders the Kore config
#                  from conf/crm.conf.in with genconf.sh; Kore's parent stays
#                  root only to bind and supervise, workers run as CRM_RUNAS
#                  (crm) through the config's `runas` line.
#   worker         the job worker (build/crm-worker), as user crm
#   migrate        crmctl migrate, as user crm (CRM_OWNER_DATABASE_URL)
#   crmctl ARGS    any crmctl command, as user crm
#   anything else  exec'd as given (debugging)
#
# Environment: CRM_DATABASE_URL, CRM_REDIS_URL (required for serve),
# CRM_WORKER_DATABASE_URL (worker), CRM_OWNER_DATABASE_URL (migrate),
# CRM_HTTP_BIND (0.0.0.0 in the image), CRM_HTTP_PORT (8080), CRM_WORKERS
# (nproc), CRM_TLS_CERT/CRM_TLS_KEY, CRM_KEYS_DIR, CRM_VAR_DIR and every
# other CRM_* setting of app/conf.c.  Secrets are never printed.

set -eu

ROOT=/opt/crm
VAR=${CRM_VAR_DIR:-/var/lib/crm}
export CRM_RUNAS=${CRM_RUNAS:-crm}

need() {
	for v in "$@"; do
		eval "val=\${$v:-}"
		if [ -z "$val" ]; then
			echo "entrypoint: $v must be set" >&2
			exit 64
		fi
	done
}

as_crm() {
	if [ "$(id -u)" -eq 0 ]; then
		exec setpriv --reuid="$CRM_RUNAS" --regid="$CRM_RUNAS" \
		    --init-groups --inh-caps=-all "$@"
	fi
	exec "$@"
}

cmd=${1:-serve}
[ $# -gt 0 ] && shift

case "$cmd" in
serve)
	need CRM_DATABASE_URL CRM_REDIS_URL
	# Started as root (the image's default), Kore drops its workers to
	# CRM_RUNAS through the config's `runas` line.  Started as another
	# user, Kore cannot drop privileges and needs -r.
	flags="-f -n"
	if [ "$(id -u)" -ne 0 ]; then
		CRM_RUNAS=''
		flags="-f -n -r"
	fi
	export CRM_RUNAS
	mkdir -p "$VAR" "${CRM_KEYS_DIR:-$VAR/keys}"
	# With TLS, genconf.sh also writes the copy of CRM_TLS_KEY that Kore
	# 4.1.0 can use under OpenSSL 3.0 ($VAR/tls-key-kore.pem, owned by
	# CRM_RUNAS; see genconf.sh and app/tlsfix.c).
	"$ROOT/deploy/local/genconf.sh" "$VAR" "$VAR/crm.conf"
	cd "$ROOT"
	# shellcheck disable=SC2086
	exec kore -c "$VAR/crm.conf" $flags
	;;
worker)
	need CRM_WORKER_DATABASE_URL CRM_REDIS_URL
	cd "$ROOT"
	as_crm "$ROOT/build/crm-worker" "$@"
	;;
migrate)
	need CRM_OWNER_DATABASE_URL
	cd "$ROOT"
	as_crm "$ROOT/build/crmctl" migrate "$@"
	;;
crmctl)
	cd "$ROOT"
	as_crm "$ROOT/build/crmctl" "$@"
	;;
*)
	exec "$cmd" "$@"
	;;
esac
