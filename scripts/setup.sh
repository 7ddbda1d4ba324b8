#!/bin/sh
# Installs what Vigil needs and is missing, then builds the BPF objects.
#   npm dependencies (Bun is a pinned devDependency) when node_modules is absent;
#   Debian packages clang, llvm, libbpf-dev, bpftool when running as root and absent, and the real TLS
#   clients the agent-intent tests drive (python3, nodejs, curl) with openssl for their certificates, and
#   chromium, the browser the dashboard tests drive (puppeteer-core; no browser download).
# Idempotent and quiet when everything is already there.
#   --build-only  skip installs, just build
set -eu
cd "$(dirname "$0")/.."

log() { echo "vigil setup: $*" >&2; }

if [ "${1:-}" != "--build-only" ]; then
  if [ ! -x node_modules/.bin/bun ] || [ package.json -nt node_modules/.package-lock.json ]; then
    log "installing npm dependencies"
    npm ci --no-audit --no-fund --loglevel=error >&2 || npm install --no-audit --no-fund --loglevel=error >&2
  fi
  missing=""
  command -v clang >/dev/null 2>&1 || missing="$missing clang"
  command -v llvm-strip >/dev/null 2>&1 || missing="$missing llvm"
  [ -f /usr/include/bpf/bpf_helpers.h ] || missing="$missing libbpf-dev"
  command -v bpftool >/dev/null 2>&1 || missing="$missing bpftool"
  [ -x /usr/bin/python3 ] || missing="$missing python3"
  [ -x /usr/bin/node ] || missing="$missing nodejs"
  [ -x /usr/bin/curl ] || missing="$missing curl"
  command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      log "installing Debian packages:$missing"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      # shellcheck disable=SC2086
      apt-get install -y -qq $missing >&2
    else
      log "missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)"
      exit 1
    fi
  fi
fi

# The dashboard bundle (Preact, by Bun's bundler), then the BPF objects.
node_modules/.bin/bun scripts/build-ui.ts
exec sh scripts/build-bpf.sh
