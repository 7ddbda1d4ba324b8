#!/bin/sh
# Compiles bpf/*.bpf.c (one unit per concern) against a vmlinux.h made from the
# running kernel's BTF, and links them into build/vigil.bpf.o with bpftool.
# Rebuilds only when a source is newer than the object.
set -eu
cd "$(dirname "$0")/.."
out=build/vigil.bpf.o
mkdir -p build
if [ -f "$out" ] && [ -z "$(find bpf -newer "$out" -type f | head -n 1)" ] && [ build/vmlinux.h -nt /sys/kernel/btf/vmlinux ]; then
  exit 0
fi
if [ ! -r /sys/kernel/btf/vmlinux ]; then
  echo "vigil build: /sys/kernel/btf/vmlinux is missing: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF), CO-RE programs cannot be built or loaded" >&2
  exit 1
fi
bpftool btf dump file /sys/kernel/btf/vmlinux format c > build/vmlinux.h.tmp
mv build/vmlinux.h.tmp build/vmlinux.h
arch=$(uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
objs=""
for src in bpf/*.bpf.c; do
  o="build/$(basename "$src" .bpf.c).unit.o"
  clang -g -O2 -target bpf "-D__TARGET_ARCH_$arch" -Wall -Werror -Ibuild -Ibpf -c "$src" -o "$o"
  objs="$objs $o"
done
# shellcheck disable=SC2086
bpftool gen object "$out.tmp" $objs
mv "$out.tmp" "$out"
rm -f $objs
# Feature probes: separate objects, loaded on their own to ask the kernel what it allows.
for src in bpf/probes/*.bpf.c; do
  clang -g -O2 -target bpf "-D__TARGET_ARCH_$arch" -Wall -Werror -Ibuild -Ibpf -c "$src" -o "build/probe-$(basename "$src")"
  bpftool gen object "build/probe-$(basename "$src" .bpf.c).bpf.o" "build/probe-$(basename "$src")" && rm -f "build/probe-$(basename "$src")"
done
echo "vigil build: $out" >&2
