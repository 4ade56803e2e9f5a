#!/bin/sh
#
# genconf.sh: renders conf/crm.conf.in into a Kore configuration.
#
# Usage: genconf.sh VAR_DIR OUT
#
# VAR_DIR holds Kore's pidfile (VAR_DIR/kore.pid) and spooled request
# bodies (VAR_DIR/tmp, created here).  From the environment:
#   CRM_HTTP_BIND        address to listen on          (127.0.0.1)
#   CRM_HTTP_PORT        port                          (8080)
#   CRM_WORKERS          Kore worker processes         (nproc)
#   CRM_KORE_SO          the application module        (<repo>/build/crm.so)
#   CRM_TLS_CERT, CRM_TLS_KEY   PEM files: both set = Kore serves TLS
#                        (Kore is given a relabelled copy of the key,
#                        VAR_DIR/tls-key-kore.pem: see below)
#   CRM_TLS_DHPARAM      DH parameters for TLS         (<repo>/conf/ffdhe2048.pem)
#   CRM_SECCOMP_TRACING  yes|no                        (no)
#   CRM_RUNAS            user Kore drops to (production); empty = none,
#                        start Kore with -r
#   CRM_CONF_TEMPLATE    the template                  (<repo>/conf/crm.conf.in)
# The other CRM_* variables are read by the service itself (app/conf.c).

set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)

die() { echo "genconf.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: genconf.sh VAR_DIR OUT"
VAR=$1
OUT=$2
case "$VAR" in /*) ;; *) VAR=$(pwd)/$VAR ;; esac
VAR=${VAR%/}

BIND=${CRM_HTTP_BIND:-127.0.0.1}
PORT=${CRM_HTTP_PORT:-8080}
WORKERS=${CRM_WORKERS:-$(nproc 2>/dev/null || echo 2)}
SO=${CRM_KORE_SO:-$ROOT/build/crm.so}
TLS_CERT=${CRM_TLS_CERT:-}
TLS_KEY=${CRM_TLS_KEY:-}
DHPARAM=${CRM_TLS_DHPARAM:-$ROOT/conf/ffdhe2048.pem}
SECCOMP=${CRM_SECCOMP_TRACING:-no}
RUNAS=${CRM_RUNAS:-}
TEMPLATE=${CRM_CONF_TEMPLATE:-$ROOT/conf/crm.conf.in}

is_uint() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; return 0; }

is_uint "$PORT" && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] ||
    die "CRM_HTTP_PORT must be 1..65535, not '$PORT'"
is_uint "$WORKERS" && [ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 64 ] ||
    die "CRM_WORKERS must be 1..64, not '$WORKERS'"
case "$SECCOMP" in yes|no) ;; *) die "CRM_SECCOMP_TRACING must be yes or no" ;; esac
case "$SO" in /*) ;; *) SO=$(pwd)/$SO ;; esac
[ -f "$TEMPLATE" ] || die "$TEMPLATE missing"

# Values land in a line-oriented config through sed: refuse anything that
# could break either (spaces, '|', '&', '\', quotes, newlines).
for v in "$BIND" "$VAR" "$SO" "$TLS_CERT" "$TLS_KEY" "$DHPARAM" "$RUNAS"; do
	case "$v" in
	*[!A-Za-z0-9_./:@+=,-]*) die "unsafe character in '$v'" ;;
	esac
done

if [ -n "$TLS_CERT" ] || [ -n "$TLS_KEY" ]; then
	[ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ] ||
	    die "set both CRM_TLS_CERT and CRM_TLS_KEY, or neither"
	[ -r "$TLS_CERT" ] || die "CRM_TLS_CERT $TLS_CERT not readable"
	[ -r "$TLS_KEY" ] || die "CRM_TLS_KEY $TLS_KEY not readable"
	[ -r "$DHPARAM" ] || die "CRM_TLS_DHPARAM $DHPARAM not readable"
	TLS=yes
	HSTS=31536000
	tls_sed='s/^#@TLS@ //'
else
	TLS=no
	HSTS=0
	tls_sed='/^#@TLS@ /d'
fi
if [ -n "$RUNAS" ]; then
	id "$RUNAS" >/dev/null 2>&1 || die "CRM_RUNAS user '$RUNAS' does not exist"
	runas_sed='s/^#@RUNAS@ //'
else
	runas_sed='/^#@RUNAS@ /d'
fi

mkdir -p "$VAR/tmp"
chmod 700 "$VAR/tmp"
[ -z "$RUNAS" ] || chown "$RUNAS" "$VAR/tmp"

# Kore 4.1.0's key manager cannot use a key as OpenSSL 3.0 loads it by
# default (a provider key: EVP_PKEY_get0() gives NULL, and RSA crashes the
# key manager while EC never answers).  Hand Kore a copy in traditional
# format with a lowercase algorithm in the PEM label ("BEGIN rsa PRIVATE
# KEY"): only OpenSSL's legacy decoder reads that, so the key manager gets
# a legacy key.  The worker-side half of the workaround is app/tlsfix.c.
# The copy is private (600) and owned by CRM_RUNAS: Kore's key manager
# reads it after dropping to that user.  CRM_TLS_KEY itself is not touched.
if [ "$TLS" = yes ]; then
	kkey=$VAR/tls-key-kore.pem
	ktmp=$kkey.tmp.$$
	rm -f "$ktmp"
	if ! (umask 077 && openssl pkey -in "$TLS_KEY" -traditional 2>/dev/null |
	    sed -E -e 's/(BEGIN|END) RSA PRIVATE KEY/\1 rsa PRIVATE KEY/' \
	    -e 's/(BEGIN|END) EC PRIVATE KEY/\1 ec PRIVATE KEY/' >"$ktmp") ||
	    ! grep -q 'BEGIN' "$ktmp"; then
		rm -f "$ktmp"
		die "CRM_TLS_KEY $TLS_KEY: not a private key openssl can read"
	fi
	chmod 600 "$ktmp"
	[ -z "$RUNAS" ] || chown "$RUNAS" "$ktmp"
	mv "$ktmp" "$kkey"
	TLS_KEY=$kkey
fi

tmp=$OUT.tmp.$$
nc='/^[[:space:]]*#/!'  # substitute outside comments only
sed -e "$tls_sed" -e "$runas_sed" \
    -e "$nc s|@BIND@|$BIND|g" \
    -e "$nc s|@PORT@|$PORT|g" \
    -e "$nc s|@TLS@|$TLS|g" \
    -e "$nc s|@HSTS@|$HSTS|g" \
    -e "$nc s|@SO@|$SO|g" \
    -e "$nc s|@VAR@|$VAR|g" \
    -e "$nc s|@WORKERS@|$WORKERS|g" \
    -e "$nc s|@SECCOMP_TRACING@|$SECCOMP|g" \
    -e "$nc s|@TLS_CERT@|$TLS_CERT|g" \
    -e "$nc s|@TLS_KEY@|$TLS_KEY|g" \
    -e "$nc s|@DHPARAM@|$DHPARAM|g" \
    -e "$nc s|@RUNAS_USER@|$RUNAS|g" \
    "$TEMPLATE" >"$tmp"
if grep -v '^[[:space:]]*#' "$tmp" | grep '@[A-Z_]*@' >&2; then
	rm -f "$tmp"
	die "unrendered placeholder left (above)"
fi
chmod 644 "$tmp"
mv "$tmp" "$OUT"
