/**
 * Binaries named by rules, as the kernel knows them: (device, inode) pairs
 * found on disk now, with the device number in the kernel's encoding.
 */
import { statSync } from "node:fs";
import type { PolicyProblem } from "./loader";
import { GLOB_CHARS } from "./match";

/** Kernel encoding of a device number (MKDEV) from stat's st_dev (new_encode_dev). */
export function kernelDev(stDev: number): number {
  const major = (stDev >> 8) & 0xfff;
  const minor = (stDev & 0xff) | ((stDev >> 12) & 0xfff00);
  return ((major << 20) | minor) >>> 0;
}

/** Binaries named by a rule → their identities now. Single-level globs are expanded; `**` is not. */
export function resolveBinaries(patterns: readonly string[], locate: (i: number, m: string) => PolicyProblem, problems: PolicyProblem[], warnings: PolicyProblem[]) {
  const targets = new Map<string, { dev: number; ino: bigint; path: string }>();
  patterns.forEach((p, i) => {
    if (!p.startsWith("/")) return problems.push(locate(i, `binary ${JSON.stringify(p)} must be an absolute path for the kernel to match it`));
    let paths = [p];
    if (GLOB_CHARS.test(p)) {
      if (p.includes("**")) return problems.push(locate(i, `binary ${JSON.stringify(p)}: "**" cannot be expanded into the kernel's exact binary set; name the directory level`));
      paths = [...new Bun.Glob(p.slice(1)).scanSync({ cwd: "/", onlyFiles: true, followSymlinks: true })].map((r) => `/${r}`).slice(0, 4096);
    }
    let found = 0;
    for (const path of paths) {
      try {
        const st = statSync(path, { bigint: true });
        if (!st.isFile()) continue;
        const key = `${st.dev}:${st.ino}`;
        if (!targets.has(key)) targets.set(key, { dev: kernelDev(Number(st.dev)), ino: st.ino, path });
        found++;
      } catch {
        /* missing: warned below */
      }
    }
    if (found === 0) warnings.push(locate(i, `binary ${JSON.stringify(p)} matches no file on this machine now: the kernel cannot act on it until a reload after it exists (userspace still matches the path)`));
  });
  return [...targets.values()];
}
