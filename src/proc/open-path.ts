/**
 * Where a relative path of an open points. The kernel reports the path as the
 * caller gave it; the directory it was relative to is read from /proc when
 * the event arrives (a drain later): the process's working directory (or its
 * dfd), else, for a process already gone, the working directory of its
 * nearest live ancestor of the same agent, which a forked child inherits (and
 * rarely changes before it opens). Best effort: null when nothing is left to ask.
 */
import { readlinkSync } from "node:fs";
import type { ProcessTree } from "./process-tree";

const AT_FDCWD = -100;
const MAX_ANCESTORS = 8;

function join(base: string, path: string): string {
  if (path === ".") return base;
  return `${base.replace(/\/$/, "")}/${path.replace(/^\.\//, "")}`;
}

function link(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

export function absoluteOpenPath(pid: number, dfd: number, path: string, tree: ProcessTree): string | null {
  if (path.startsWith("/")) return path;
  if (dfd !== AT_FDCWD) {
    const base = link(`/proc/${pid}/fd/${dfd}`);
    return base ? join(base, path) : null;
  }
  const agent = tree.get(pid)?.agent ?? null;
  let p: number | undefined = pid;
  for (let i = 0; p !== undefined && p > 0 && i <= MAX_ANCESTORS; i++) {
    // An ancestor outside the agent (the launcher's parent, Vigil) has another working directory.
    if (i > 0 && (tree.get(p)?.agent ?? null) !== agent) return null;
    const cwd = link(`/proc/${p}/cwd`);
    if (cwd) return join(cwd, path);
    p = tree.get(p)?.ppid;
  }
  return null;
}
