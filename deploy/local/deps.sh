#!/bin/sh
#
# deps.sh: installs the Debian 12 packages the project needs, and nothing
# else.  This is the ONE list of packages (build, run and test).  When all
# are present it only asks dpkg (well under a second); when some are missing
# it runs `apt-get update` first (a new machine's lists may be empty or
# stale) and installs just the missing ones.

set -eu

PACKAGES="
	make gcc curl ca-certificates procps iproute2
	kore libpq-dev libhiredis-dev libjwt-dev libjansson-dev libssl-dev
	libargon2-dev libcurl4-openssl-dev
	postgresql postgresql-contrib redis-server
	python3-pytest python3-requests python3-jwt python3-aiosmtpd
	wrk valgrind
"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: dpkg-query not found: this set-up needs Debian 12" >&2
	exit 1
fi

# One dpkg-query for all: installed packages print "name ii".
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PACKAGES \
    2>/dev/null | awk '$2 ~ /^ii/ { print $1 }') || true

missing=""
for p in $PACKAGES; do
	case " $(echo $installed) " in
	*" $p "*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

echo "deps.sh: missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: not root; install them with:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing

# Debian's postgresql package creates and starts a "main" cluster and the
# redis-server package starts a system Redis.  We never use them (every run
# starts its own under a private directory), but we leave them alone too.
echo "deps.sh: installed:$missing"
