/**
 * The daemon's data directory: private to root (0700, whatever mode it had),
 * held by one daemon at a time (an exclusive flock on `lock`, which the kernel
 * releases even after kill -9), and the record of when it last stopped
 * cleanly, so that a restart can say how long nothing was observed.
 */
import { chmodSync, closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive } from "../kernel/libc";

export class DataDirInUse extends Error {
  override readonly name = "DataDirInUse";
}

export interface DataDirLock {
  readonly dir: string;
  /** When the previous daemon stopped cleanly (epoch ms), or null after a crash, a kill -9 or on first use. */
  readonly cleanStopAt: number | null;
  /** Note a clean stop (read by the next start), then let the lock go. */
  release(stoppedAt?: number): void;
}

const LOCK_FILE = "lock";
const CLEAN_STOP_FILE = "clean-stop";

/** Makes the directory private and takes its lock; throws DataDirInUse naming the pid that holds it. */
export function lockDataDir(dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // an existing directory keeps its mode otherwise (0755: every command line, world-readable)
  const lockPath = join(dir, LOCK_FILE);
  const fd = openSync(lockPath, "a+", 0o600);
  if (!tryLockExclusive(fd, lockPath)) {
    let holder = "";
    try {
      holder = readFileSync(lockPath, "utf8").trim();
    } catch {
      /* unreadable: say what we know */
    }
    closeSync(fd);
    throw new DataDirInUse(`data directory ${dir} is in use by another vigil daemon${/^\d+$/.test(holder) ? ` (pid ${holder})` : ""}`);
  }
  chmodSync(lockPath, 0o600);
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  const stopFile = join(dir, CLEAN_STOP_FILE);
  let cleanStopAt: number | null = null;
  try {
    const n = Number(readFileSync(stopFile, "utf8").trim());
    if (Number.isFinite(n) && n > 0) cleanStopAt = n;
  } catch {
    /* none: first start, or the previous daemon did not stop cleanly */
  }
  rmSync(stopFile, { force: true }); // a crash from now on must not look clean
  let released = false;
  return {
    dir,
    cleanStopAt,
    release(stoppedAt) {
      if (released) return;
      released = true;
      if (stoppedAt !== undefined) writeFileSync(stopFile, `${stoppedAt}\n`, { mode: 0o600 });
      ftruncateSync(fd, 0);
      closeSync(fd);
    },
  };
}
