#!/bin/sh
# install-deps.sh - check for tickpipe's Debian build dependencies; install
# them with apt-get when running as root, otherwise print the exact command.
set -e
PKGS="build-essential pkg-config libcjson-dev libmicrohttpd-dev libcurl4-openssl-dev libpcap-dev prometheus gnuplot-nox libcmocka-dev liburing-dev libjemalloc-dev libck-dev dpdk-dev libxgboost-dev python3-xgboost python3-numpy clang libclang-rt-14-dev valgrind openssl cppcheck clang-tidy"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "install-deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2
else
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run:  sudo apt-get install -y$missing" >&2
	exit 1
fi
