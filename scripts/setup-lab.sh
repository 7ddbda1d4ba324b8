#!/bin/sh
# Installs what the test lab needs and is missing (as root, from Debian):
# stress-ng (chaos), strace (fault injection), prometheus (for promtool).
set -eu
missing=""
command -v stress-ng >/dev/null 2>&1 || missing="$missing stress-ng"
command -v strace >/dev/null 2>&1 || missing="$missing strace"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "vigil lab setup: missing Debian packages:$missing (run as root)" >&2
  exit 1
fi
echo "vigil lab setup: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' 2>/dev/null | head -n 1)" ] || apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2 || { apt-get update -qq >&2; apt-get install -y -qq --no-install-recommends $missing >&2; }
