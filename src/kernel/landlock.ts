/**
 * Landlock, as Vigil uses it: the filesystem rights (include/uapi/linux/landlock.h)
 * and the ABI version this kernel offers. The rulesets themselves are built and
 * applied by the launcher of `vigil run` (native/vigil-exec.c), in the process
 * that then execs the command, so that the command is confined from its first
 * instruction and Vigil itself never is.
 */
import { lastErrno, libc } from "./libc";

const LandlockFs = {
  execute: 1 << 0,
  writeFile: 1 << 1,
  readFile: 1 << 2,
  readDir: 1 << 3,
  removeDir: 1 << 4,
  removeFile: 1 << 5,
  makeChar: 1 << 6,
  makeDir: 1 << 7,
  makeReg: 1 << 8,
  makeSock: 1 << 9,
  makeFifo: 1 << 10,
  makeBlock: 1 << 11,
  makeSym: 1 << 12,
  refer: 1 << 13,
  truncate: 1 << 14,
} as const;

const F = LandlockFs;
/** The rights of each `access` a policy names. */
export const LANDLOCK_ACCESS = {
  read: F.readFile | F.readDir,
  write: F.writeFile | F.removeDir | F.removeFile | F.makeChar | F.makeDir | F.makeReg | F.makeSock | F.makeFifo | F.makeBlock | F.makeSym | F.refer | F.truncate,
  exec: F.execute,
} as const;

const SYS_LANDLOCK_CREATE_RULESET = 444;
const LANDLOCK_CREATE_RULESET_VERSION = 1;

/** The Landlock ABI version of this kernel, or why there is none. */
export function landlockAbi(): { abi: number } | { error: string } {
  const rc = Number(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, null, 0, LANDLOCK_CREATE_RULESET_VERSION));
  if (rc >= 0) return { abi: rc };
  const e = lastErrno();
  return { error: e === 38 ? "this kernel has no Landlock (ENOSYS)" : e === 95 ? "Landlock is built in but not active (add it to the lsm= boot parameter)" : `landlock_create_ruleset failed (errno ${e})` };
}

/** One Landlock layer: the rights it handles, and where it grants them (each path: beneath a directory, or one file). */
export interface LandlockLayer {
  ruleId: number;
  /** The policy's agents (null: every agent): the layer confines a run whose agent matches. */
  agents: readonly string[] | null;
  rights: number;
  allow: string[];
}

/** The launcher's options for `layers` (native/vigil-exec.c: -L RIGHTS, then -A RIGHTS:PATH per grant). */
export function launcherArgs(layers: readonly LandlockLayer[]): string[] {
  return layers.flatMap((l) => ["-L", l.rights.toString(16), ...l.allow.flatMap((p) => ["-A", `${l.rights.toString(16)}:${p}`])]);
}
