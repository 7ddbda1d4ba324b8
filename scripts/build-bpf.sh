#!/bin/sh
# Compiles bpf/*.bpf.c (one source per concern) against a vmlinux.h made from
# the running kernel's BTF into build/vigil.bpf.o. Rebuilds only when a source
# is newer than the object.
#
# The sources are compiled as one translation unit (build/vigil.unity.c
# includes each), not linked from one object each: they all call the kfunc
# bpf_rdonly_cast (bpf/common.bpf.h), and the BPF linker of Debian's libbpf
# 1.1 refuses the same extern function in several objects ("failed to
# resolve size of underlying type", fixed in libbpf 1.5). So static names
# must be unique across the sources; a clash is a compile error.
set -eu
cd "$(dirname "$0")/.."
out=build/vigil.bpf.o
mkdir -p build
# The launcher of `vigil run` (native/vigil-exec.c): a host binary, rebuilt when its source changes.
if [ ! -x build/vigil-exec ] || [ native/vigil-exec.c -nt build/vigil-exec ]; then
  clang -O2 -Wall -Werror -o build/vigil-exec.tmp native/vigil-exec.c
  mv build/vigil-exec.tmp build/vigil-exec
fi
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
for src in bpf/*.bpf.c; do echo "#include \"$src\""; done > build/vigil.unity.c
clang -g -O2 -target bpf "-D__TARGET_ARCH_$arch" -Wall -Werror -Ibuild -Ibpf -I. -c build/vigil.unity.c -o build/vigil.unity.o
# Linking the one object gives it the same final form (BTF deduplicated, sections laid out) as before.
bpftool gen object "$out.tmp" build/vigil.unity.o
mv "$out.tmp" "$out"
rm -f build/vigil.unity.o
# Feature probes: separate objects, loaded on their own to ask the kernel what it allows.
for src in bpf/probes/*.bpf.c; do
  clang -g -O2 -target bpf "-D__TARGET_ARCH_$arch" -Wall -Werror -Ibuild -Ibpf -c "$src" -o "build/probe-$(basename "$src")"
  bpftool gen object "build/probe-$(basename "$src" .bpf.c).bpf.o" "build/probe-$(basename "$src")" && rm -f "build/probe-$(basename "$src")"
done
echo "vigil build: $out" >&2
