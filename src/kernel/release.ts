import { readFileSync } from "node:fs";

/** The running kernel's release string (uname -r). */
export function kernelRelease(): string {
  return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
}
