/**
 * Syscall numbers to names for this architecture, read from the kernel UAPI
 * header that libbpf-dev pulls in (linux-libc-dev). Unknown numbers print as
 * `syscall_<nr>`; -1 (a number a firehose record cannot hold) as `unknown`.
 */
import { existsSync, readFileSync } from "node:fs";

const HEADERS = [
  "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
  "/usr/include/asm/unistd_64.h",
  "/usr/include/aarch64-linux-gnu/asm/unistd.h",
  "/usr/include/asm-generic/unistd.h",
];

let table: string[] | null = null;

function load(): string[] {
  const names: string[] = [];
  for (const h of HEADERS) {
    if (!existsSync(h)) continue;
    for (const m of readFileSync(h, "utf8").matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) names[Number(m[2])] = m[1]!;
    if (names.length) break;
  }
  return names;
}

export function syscallName(nr: number): string {
  if (nr < 0) return "unknown";
  table ??= load();
  return table[nr] ?? `syscall_${nr}`;
}

export function syscallNumber(name: string): number | undefined {
  table ??= load();
  const i = table.indexOf(name);
  return i < 0 ? undefined : i;
}
