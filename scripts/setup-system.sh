#!/usr/bin/env bash
# System libraries the allocator recipes use: tcmalloc and jemalloc.
# The one implementation behind `npm test` and `graviton-tune setup --system`.
# Installs them with the distribution's package manager (apt-get, dnf, yum, zypper) when
# run as root or with passwordless sudo, printing each command before it runs;
# otherwise prints the exact command to run and carries on (exit 0: nothing is wrong
# with the machine, it only lacks an optional library).
# Exit status: 0 installed, already there, or nothing we may do; 1 the install failed.
set -euo pipefail

have() { ldconfig -p 2>/dev/null | grep -q "$1"; }
if have 'libtcmalloc.so.4' && have 'libjemalloc.so.2'; then
	echo "setup-system: tcmalloc and jemalloc already installed"
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
fi

update=""
if command -v apt-get >/dev/null; then
	# Newer Debian/Ubuntu renamed the package for the 64-bit time_t transition.
	tc=libgoogle-perftools4
	if apt-cache show libgoogle-perftools4t64 >/dev/null 2>&1; then tc=libgoogle-perftools4t64; fi
	cmd="apt-get install -y --no-install-recommends $tc libjemalloc2"
	update="apt-get update -qq"
elif command -v dnf >/dev/null; then
	cmd="dnf install -y gperftools-libs jemalloc"
elif command -v yum >/dev/null; then
	cmd="yum install -y gperftools-libs jemalloc"
elif command -v zypper >/dev/null; then
	cmd="zypper --non-interactive install libtcmalloc4 libjemalloc2"
else
	echo "setup-system: no apt-get, dnf, yum or zypper here; install tcmalloc (gperftools) and jemalloc with your package manager" >&2
	exit 0
fi

if [ "$sudo" = "none" ]; then
	echo "setup-system: not root and no passwordless sudo; to enable the allocator recipes run: sudo $cmd" >&2
	exit 0
fi
prefix="${sudo:+$sudo }"
log="${TMPDIR:-/tmp}/graviton-tune-setup-system.log"
echo "setup-system: running: $prefix$cmd"
if ! DEBIAN_FRONTEND=noninteractive $sudo $cmd >"$log" 2>&1; then
	if [ -z "$update" ]; then
		cat "$log" >&2
		exit 1
	fi
	# apt lists may be stale (or absent) on a fresh image: update once and retry.
	echo "setup-system: running: $prefix$update (the package lists were stale), then the install again"
	$sudo $update >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive $sudo $cmd
fi
echo "setup-system: installed tcmalloc and jemalloc"
