/**
 * Containment: a running process subtree moved into a cgroup of Vigil's own,
 * so that the cgroup-wide interventions (freeze, kill-tree) and the cgroup
 * connect guard apply to an agent that was started elsewhere. Released, not
 * killed: forgetting the agent, or Vigil stopping, moves its processes back
 * to the cgroup they came from.
 */
import { readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cgroup2Mount, OwnedCgroup } from "../cgroup/cgroup";

interface Container {
  cgroup: OwnedCgroup;
  /** Where the processes came from (relative to the cgroup2 mount). */
  origin: string | null;
}

/** A contained agent as written down in the data directory. */
export interface ContainedRecord {
  agent: string;
  /** Its cgroup, relative to the cgroup2 mount (/vigil/agent-NAME). */
  cgroup: string;
  origin: string | null;
  /** Its identity in the kernel maps, kept across the restart so that pinned rules naming it stay true. */
  kernelId?: number;
}

export class Containment {
  private readonly containers = new Map<string, Container>();

  /**
   * Moves `pids` (the root first: children forked from then on are born inside) into a new cgroup named for
   * the agent. A child that exited meanwhile is skipped; the root failing undoes everything and throws.
   */
  contain(agent: string, root: number, pids: readonly number[]): OwnedCgroup {
    const cgroup = OwnedCgroup.create(`agent-${agent}`);
    const origin = procCgroup(root);
    try {
      for (const p of [root, ...pids.filter((p) => p !== root)]) {
        try {
          writeFileSync(cgroup.procsFile, String(p));
        } catch (e) {
          if (p === root) throw e;
        }
      }
    } catch (e) {
      moveBack(cgroup, origin);
      void cgroup.remove().catch(() => {});
      throw e;
    }
    this.containers.set(agent, { cgroup, origin });
    return cgroup;
  }

  /** What is contained now, to be written down: a daemon that dies leaves these cgroups (and their guards) behind. */
  records(kernelIdOf: (agent: string) => number | undefined): ContainedRecord[] {
    return [...this.containers].map(([agent, c]) => ({ agent, cgroup: c.cgroup.relPath, origin: c.origin, kernelId: kernelIdOf(agent) }));
  }

  /** Takes back a container an earlier daemon left (null: its cgroup is gone or empty, and removed if empty). */
  adopt(record: ContainedRecord): OwnedCgroup | null {
    const cgroup = OwnedCgroup.existing(record.cgroup);
    if (!cgroup) return null;
    if (!cgroup.isPopulated()) {
      rmdirQuiet(cgroup.dir);
      return null;
    }
    this.containers.set(record.agent, { cgroup, origin: record.origin });
    return cgroup;
  }

  /** Thaws the agent's processes, moves them back where they came from and removes its cgroup. */
  async release(agent: string): Promise<void> {
    const c = this.containers.get(agent);
    if (!c) return;
    this.containers.delete(agent);
    c.cgroup.freeze(false);
    moveBack(c.cgroup, c.origin);
    await c.cgroup.remove();
  }

  /** Vigil is stopping: every contained agent goes back, none is killed. Returns the problems met. */
  releaseAll(): string[] {
    const problems: string[] = [];
    for (const [name, c] of this.containers) {
      try {
        c.cgroup.freeze(false);
        moveBack(c.cgroup, c.origin);
        rmdirQuiet(c.cgroup.dir);
      } catch (e) {
        problems.push(`agent ${name}: ${(e as Error).message}`);
      }
    }
    this.containers.clear();
    return problems;
  }
}

/** The cgroup v2 path of a process (relative to the mount), from /proc/<pid>/cgroup. */
function procCgroup(pid: number): string | null {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::"));
    return line ? line.slice(3) : null;
  } catch {
    return null;
  }
}

function moveBack(cgroup: OwnedCgroup, origin: string | null): void {
  const mount = cgroup2Mount();
  if (!origin || !mount) return;
  for (const p of cgroup.pids()) {
    try {
      writeFileSync(join(mount, origin, "cgroup.procs"), String(p));
    } catch {
      /* exited, or the origin is gone: the process stays; the cgroup cannot be removed until it exits */
    }
  }
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* still populated */
  }
}
