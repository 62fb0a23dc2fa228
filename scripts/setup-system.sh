#!/usr/bin/env bash
# System libraries the allocator recipes use, as `graviton-tune setup --system` names them
# (source/core/machine/allocators.ts declares them; `npm test` runs this through that command).
# Each argument is one library: name:file:apt packages (comma-separated, the first the
# package lists know is used):rpm package:zypper package, e.g.
#   jemalloc:libjemalloc.so.2:libjemalloc2:jemalloc:libjemalloc2
# Installs the missing ones with the distribution's package manager (apt-get, dnf, yum,
# zypper) when run as root or with passwordless sudo, printing each command before it runs;
# otherwise prints the exact command to run and carries on (exit 0: nothing is wrong with
# the machine, it only lacks optional libraries). When the one install command fails, each
# package is tried alone, so one the distribution does not ship (mimalloc on some) leaves the
# others installed and is named.
# Exit status: 0 installed (all, or all but the ones named), already there, or nothing we
# may do; 1 nothing could be installed; 2 called without libraries.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "setup-system: no libraries named; run it through: graviton-tune setup --system" >&2
	exit 2
fi

# Read once: a `ldconfig -p | grep -q` pipeline fails under pipefail when grep stops reading early.
libs=$(ldconfig -p 2>/dev/null || true)
have() { [[ "$libs" == *"$1 "* ]]; }
names=() files=() apts=() rpms=() zyppers=()
for spec in "$@"; do
	IFS=: read -r name file apt rpm zypper <<<"$spec"
	if have "$file"; then continue; fi
	names+=("$name") files+=("$file") apts+=("$apt") rpms+=("$rpm") zyppers+=("$zypper")
done
list() { # "a", "a and b", "a, b and c"
	if [ "$#" -le 1 ]; then echo "$*"; return; fi
	local out="$1"
	shift
	while [ "$#" -gt 1 ]; do out+=", $1"; shift; done
	echo "$out and $1"
}
if [ "${#names[@]}" -eq 0 ]; then
	echo "setup-system: $(list "${@%%:*}") already installed"
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
fi

# The package of each missing library for this package manager.
packages=()
update=""
if command -v apt-get >/dev/null; then
	for candidates in "${apts[@]}"; do
		IFS=, read -r -a options <<<"$candidates"
		# Newer Debian/Ubuntu renamed some packages (the 64-bit time_t transition): the first one known wins.
		chosen="${options[-1]}"
		for option in "${options[@]}"; do
			if apt-cache show "$option" >/dev/null 2>&1; then chosen="$option"; break; fi
		done
		packages+=("$chosen")
	done
	install="apt-get install -y --no-install-recommends"
	update="apt-get update -qq"
elif command -v dnf >/dev/null; then
	packages=("${rpms[@]}") install="dnf install -y"
elif command -v yum >/dev/null; then
	packages=("${rpms[@]}") install="yum install -y"
elif command -v zypper >/dev/null; then
	packages=("${zyppers[@]}") install="zypper --non-interactive install"
else
	echo "setup-system: no apt-get, dnf, yum or zypper here; install $(list "${names[@]}") with your package manager" >&2
	exit 0
fi
cmd="$install ${packages[*]}"

if [ "$sudo" = "none" ]; then
	echo "setup-system: not root and no passwordless sudo; to enable the allocator recipes run: sudo $cmd" >&2
	exit 0
fi
prefix="${sudo:+$sudo }"
log="${TMPDIR:-/tmp}/graviton-tune-setup-system.log"
run() { DEBIAN_FRONTEND=noninteractive $sudo "$@" >>"$log" 2>&1; }
: >"$log"
echo "setup-system: running: $prefix$cmd"
if run $cmd; then
	echo "setup-system: installed $(list "${names[@]}")"
	exit 0
fi
if [ -n "$update" ]; then
	# apt lists may be stale (or absent) on a fresh image: update once and retry.
	echo "setup-system: running: $prefix$update (the package lists were stale), then the install again"
	run $update || true
	if run $cmd; then
		echo "setup-system: installed $(list "${names[@]}")"
		exit 0
	fi
fi
# One package the distribution does not ship fails the whole command: try each alone.
installed=() failed=()
for i in "${!packages[@]}"; do
	echo "setup-system: running: $prefix$install ${packages[$i]}"
	if run $install "${packages[$i]}"; then installed+=("${names[$i]}"); else failed+=("${names[$i]} (${packages[$i]})"); fi
done
if [ "${#installed[@]}" -eq 0 ]; then
	cat "$log" >&2
	echo "setup-system: the package manager installed none of them (its output is above)" >&2
	exit 1
fi
echo "setup-system: installed $(list "${installed[@]}"); could not install $(list "${failed[@]}"), so its allocator step is skipped (the package manager's output: $log)"
