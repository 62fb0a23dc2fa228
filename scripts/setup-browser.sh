#!/usr/bin/env bash
# The browser the HTML tests open report.html and the compare page in: the
# distribution's chromium (never a browser download). Installs it with apt-get when run
# as root (or with passwordless sudo); otherwise prints the exact command and carries on
# (the browser tests then fail with that command in their message).
set -euo pipefail

chromium=${GT_CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ]; then
	echo "setup-browser: $chromium already installed"
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
fi

if ! command -v apt-get >/dev/null; then
	echo "setup-browser: no apt-get here; install chromium so that $chromium exists (or set GT_CHROMIUM to its path)" >&2
	exit 0
fi
cmd="apt-get install -y --no-install-recommends chromium"
if [ "$sudo" = "none" ]; then
	echo "setup-browser: not root; for the HTML tests run: sudo $cmd" >&2
	exit 0
fi
echo "setup-browser: $cmd"
if ! DEBIAN_FRONTEND=noninteractive $sudo $cmd >/tmp/graviton-tune-setup-browser.log 2>&1; then
	# apt lists may be stale on a fresh image: update once and retry.
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive $sudo $cmd
fi
