#!/usr/bin/env bash
# What the tests of deploy/ (test/deploy.test.ts) run the examples with, each one the
# tool its platform uses: cloud-init (its schema check), systemd (systemd-analyze verify
# and its env-file parser) and ansible-core (from PyPI, in a venv of its own, never the
# tool's). Safe to re-run: every step
# skips what is already there. Installs with apt-get when root (or with passwordless
# sudo); otherwise prints the command, and the tests that need it skip, saying so (in CI
# they fail instead: scripts/test.sh sets GT_REQUIRE_DEPLOY_TOOLS=1 there).
#   bash scripts/setup-deploy-tests.sh           install what is missing
#   bash scripts/setup-deploy-tests.sh --where   print the folder of the ansible venv
set -euo pipefail

tools=${GT_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/graviton-tune-deploy-tests}
if [ "${1:-}" = --where ]; then
	echo "$tools"
	exit 0
fi
# The ansible-core release the role is tested with (its controller takes Python 3.11 to 3.13).
ansible_core=ansible-core==2.18.19

say() { echo "setup-deploy-tests: $*"; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
fi

apt_install() { # apt_install PACKAGE...
	local cmd="apt-get install -y --no-install-recommends $*"
	if ! command -v apt-get >/dev/null; then
		say "no apt-get here; install $* with your package manager"
		return 0
	fi
	if [ "$sudo" = none ]; then
		say "not root; for these tests run: sudo $cmd"
		return 0
	fi
	say "$cmd"
	if ! DEBIAN_FRONTEND=noninteractive $sudo $cmd >/tmp/graviton-tune-setup-deploy-tests.log 2>&1; then
		# apt lists may be stale on a fresh image: update once and retry.
		$sudo apt-get update -qq >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive $sudo $cmd
	fi
}

# cloud-init, for `cloud-init schema`. Installed here only for its schema check: a machine
# that did not boot with cloud-init must not start to at its next boot, so it is disabled.
if command -v cloud-init >/dev/null; then
	say "cloud-init already installed"
else
	apt_install cloud-init
	if command -v cloud-init >/dev/null && [ "$sudo" != none ]; then
		$sudo mkdir -p /etc/cloud
		$sudo touch /etc/cloud/cloud-init.disabled
		say "cloud-init installed for its schema check, and disabled at boot (/etc/cloud/cloud-init.disabled)"
	fi
fi

if command -v systemd-analyze >/dev/null; then
	say "systemd-analyze already installed"
else
	apt_install systemd
fi

# ansible-core from PyPI, in its own venv.
if [ -x "$tools/ansible/bin/ansible-playbook" ] && [ "$("$tools/ansible/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-core"))')" = "${ansible_core##*==}" ]; then
	say "$ansible_core already in $tools/ansible"
else
	say "$ansible_core into $tools/ansible"
	mkdir -p "$tools"
	python3 -m venv "$tools/ansible"
	"$tools/ansible/bin/python" -m pip install -q --disable-pip-version-check "$ansible_core"
fi

# No container runtime is installed here: the image's base and PyTorch's CPU wheels come
# from registries that not every test host reaches. The container's build is tested where
# podman and the base image already are (test/deploy.test.ts says why it skipped otherwise).
