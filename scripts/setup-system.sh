#!/usr/bin/env bash
# System libraries the allocator recipes use: tcmalloc and jemalloc.
# Installs them with the distribution's package manager when run as root (or with
# passwordless sudo); otherwise prints the exact command and carries on.
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

if command -v apt-get >/dev/null; then
	# Newer Debian/Ubuntu renamed the package for the 64-bit time_t transition.
	tc=libgoogle-perftools4
	if apt-cache show libgoogle-perftools4t64 >/dev/null 2>&1; then tc=libgoogle-perftools4t64; fi
	cmd="apt-get install -y --no-install-recommends $tc libjemalloc2"
	update="apt-get update -qq"
elif command -v dnf >/dev/null; then
	cmd="dnf install -y gperftools-libs jemalloc"
	update=true
else
	echo "setup-system: no apt-get or dnf here; install tcmalloc (gperftools) and jemalloc yourself" >&2
	exit 0
fi

if [ "$sudo" = "none" ]; then
	echo "setup-system: not root; to enable the allocator recipes run: sudo $cmd" >&2
	exit 0
fi
echo "setup-system: $cmd"
$sudo $update >/dev/null 2>&1 || true
if ! DEBIAN_FRONTEND=noninteractive $sudo $cmd >/tmp/graviton-tune-setup-system.log 2>&1; then
	# apt lists may be stale on a fresh image: update once and retry.
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive $sudo $cmd
fi
