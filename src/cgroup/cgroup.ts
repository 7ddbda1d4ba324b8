/**
 * cgroup v2 helpers: find the cgroup2 mount, create and remove Vigil's own
 * cgroups (only ever under a subtree Vigil created), map paths to ids.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

let mountPoint: string | null | undefined;

/** Where cgroup2 is mounted (/sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones). */
export function cgroup2Mount(): string | null {
  if (mountPoint !== undefined) return mountPoint;
  mountPoint = null;
  try {
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const sep = line.indexOf(" - ");
      if (sep < 0) continue;
      if (line.slice(sep + 3).startsWith("cgroup2 ")) {
        mountPoint = line.split(" ")[4]!;
        break;
      }
    }
  } catch {
    /* no /proc */
  }
  return mountPoint;
}

/** The cgroup v2 id the kernel reports (bpf_get_current_cgroup_id) is the directory's inode number. */
export function cgroupIdOf(dir: string): number {
  return Number(statSync(dir, { bigint: true }).ino);
}

/** Path relative to the mount -> id, or null if it does not exist. */
export function cgroupIdOfPath(relPath: string): number | null {
  const mount = cgroup2Mount();
  if (!mount) return null;
  try {
    return cgroupIdOf(join(mount, relPath));
  } catch {
    return null;
  }
}

/**
 * A cgroup named by a path relative to the cgroup2 mount, checked: the path
 * must resolve (symlinks and `..` followed) to a directory inside the mount
 * that is a cgroup (has cgroup.procs). Throws CgroupError saying which.
 */
export function resolveCgroup(relPath: string): { id: number; dir: string; relPath: string } {
  const mount = cgroup2Mount();
  if (!mount) throw new CgroupError("no cgroup2 mount on this machine");
  const shown = JSON.stringify(relPath.length > 200 ? `${relPath.slice(0, 200)}…` : relPath);
  if (relPath.includes("\0")) throw new CgroupError(`cgroup path ${shown} contains a NUL byte`);
  let dir: string;
  try {
    dir = realpathSync(join(mount, relPath));
  } catch {
    throw new CgroupError(`cgroup ${shown} does not exist under the cgroup2 mount ${mount}`);
  }
  if (dir !== mount && !dir.startsWith(`${mount}/`)) throw new CgroupError(`cgroup path ${shown} resolves to ${dir}, outside the cgroup2 mount ${mount}`);
  if (!existsSync(join(dir, "cgroup.procs"))) throw new CgroupError(`${dir} is not a cgroup (no cgroup.procs)`);
  return { id: cgroupIdOf(dir), dir, relPath: dir.slice(mount.length) || "/" };
}

/** The launcher `vigil run` starts commands through (built by scripts/build-bpf.sh). */
export const VIGIL_EXEC = resolve(import.meta.dir, "../../build/vigil-exec");

/** Exit status of OwnedCgroup.shellArgv's shell (and of the launcher) when it could not join the cgroup. */
export const JOIN_FAILED_EXIT = 125;

export class CgroupError extends Error {
  override readonly name = "CgroupError";
}

/** A cgroup Vigil created and will remove. */
export class OwnedCgroup {
  readonly id: number;
  private removed = false;

  private constructor(
    readonly dir: string,
    readonly relPath: string,
  ) {
    this.id = cgroupIdOf(dir);
  }

  /** A cgroup an earlier Vigil created under <mount>/vigil/ (null: it is gone). */
  static existing(relPath: string): OwnedCgroup | null {
    const mount = cgroup2Mount();
    if (!mount || !relPath.startsWith("/vigil/") || relPath.includes("..")) return null;
    const dir = join(mount, relPath);
    return existsSync(join(dir, "cgroup.procs")) ? new OwnedCgroup(dir, relPath) : null;
  }

  /** Creates <mount>/vigil/<name> (and the vigil/ parent if needed). */
  static create(name: string): OwnedCgroup {
    const mount = cgroup2Mount();
    if (!mount) throw new CgroupError("no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo)");
    const parent = join(mount, "vigil");
    const dir = join(parent, name);
    try {
      mkdirSync(parent, { recursive: true });
      mkdirSync(dir);
    } catch (e) {
      throw new CgroupError(`cannot create cgroup ${dir}: ${(e as Error).message}`);
    }
    return new OwnedCgroup(dir, `/vigil/${name}`);
  }

  get procsFile(): string {
    return join(this.dir, "cgroup.procs");
  }

  /**
   * Runs the program at `path` (already resolved: no PATH search) with `argv` inside this cgroup, through
   * the launcher (native/vigil-exec.c): after the write that joins, its next syscall is the execve, so
   * the program's record starts at its own exec. `launcherOptions` go first (Landlock layers).
   */
  execArgv(path: string, argv: readonly string[], launcherOptions: readonly string[] = []): string[] {
    return [VIGIL_EXEC, ...launcherOptions, this.procsFile, path, ...argv];
  }

  /**
   * A watchdog for this cgroup (native/vigil-exec.c --guard): if its standard input ends without "done"
   * (the process that holds the other end died), it kills everything here and removes the cgroup.
   */
  spawnGuard(): { release(): Promise<void> } {
    const guard = Bun.spawn([VIGIL_EXEC, "--guard", this.dir], { stdin: "pipe", stdout: "ignore", stderr: "inherit" });
    return {
      async release() {
        guard.stdin.write("done\n");
        await guard.stdin.end();
        await guard.exited;
      },
    };
  }

  /**
   * argv of a shell that moves itself into this cgroup and then runs `script`,
   * so that everything the script starts is inside from its first instruction.
   * `args` are the script's "$@". Exits JOIN_FAILED_EXIT when it cannot join.
   */
  shellArgv(script: string, ...args: string[]): string[] {
    return ["/bin/sh", "-c", `echo $$ > "$0" || exit ${JOIN_FAILED_EXIT}; ${script}`, this.procsFile, ...args];
  }

  pids(): number[] {
    try {
      return readFileSync(this.procsFile, "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  isPopulated(): boolean {
    try {
      return /^populated 1$/m.test(readFileSync(join(this.dir, "cgroup.events"), "utf8"));
    } catch {
      return false;
    }
  }

  freeze(frozen: boolean): void {
    writeFileSync(join(this.dir, "cgroup.freeze"), frozen ? "1" : "0");
  }

  /** SIGKILL every process in the cgroup (cgroup.kill, Linux 5.14+). Returns how many there were. */
  killAll(): number {
    const n = this.pids().length;
    if (n === 0) return 0;
    if (existsSync(join(this.dir, "cgroup.kill"))) writeFileSync(join(this.dir, "cgroup.kill"), "1");
    else for (const pid of this.pids()) process.kill(pid, "SIGKILL");
    return n;
  }

  /** Remove the cgroup once it is empty (waits up to timeoutMs), and the vigil/ parent if now empty. */
  async remove(timeoutMs = 2000): Promise<void> {
    if (this.removed) return;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        rmdirSync(this.dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") break;
        if (code !== "EBUSY" || Date.now() > deadline) throw new CgroupError(`cannot remove cgroup ${this.dir}: ${(e as Error).message}`);
        await Bun.sleep(10);
      }
    }
    this.removed = true;
    try {
      rmdirSync(join(this.dir, ".."));
    } catch {
      /* other Vigil cgroups still live there */
    }
  }
}
