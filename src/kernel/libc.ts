/**
 * The few libc calls the kernel layer needs, bound once through bun:ffi.
 * Raw pointers and errno stay inside src/kernel; nothing above sees them.
 */
import { dlopen, ptr, read } from "bun:ffi";
import { str, toPtr } from "./ffi-values";
import { BpfError } from "./errors";

const lib = dlopen("libc.so.6", {
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
  mmap: {
    args: ["ptr", "u64", "i32", "i32", "i32", "i64"],
    returns: "ptr",
  },
  munmap: { args: ["ptr", "u64"], returns: "i32" },
  clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  sysconf: { args: ["i32"], returns: "i64" },
  open: { args: ["ptr", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  flock: { args: ["i32", "i32"], returns: "i32" },
  mount: { args: ["cstring", "cstring", "cstring", "u64", "ptr"], returns: "i32" },
  dlopen: { args: ["cstring", "i32"], returns: "ptr" },
  dlsym: { args: ["ptr", "cstring"], returns: "ptr" },
  dlerror: { args: [], returns: "cstring" },
  pthread_create: { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  pthread_join: { args: ["u64", "ptr"], returns: "i32" }, // pthread_t by value
  pthread_sigmask: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // Variadic in C; the integer arguments of a call go in the same registers either way (x86-64, arm64).
  syscall: { args: ["i64", "ptr", "u64", "u32"], returns: "i64" },
});

export const libc = lib.symbols;

const errnoLocation = toPtr(lib.symbols.__errno_location());

/** errno of this thread; read it right after the failing call. */
export function lastErrno(): number {
  return errnoLocation ? read.i32(errnoLocation, 0) : 0;
}

export function strerror(errno: number): string {
  return str(lib.symbols.strerror(errno));
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

/** An exclusive advisory lock on an open file, without waiting: false when another open file holds it. */
export function tryLockExclusive(fd: number, what: string): boolean {
  if (lib.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = lastErrno();
  if (errno === EWOULDBLOCK) return false;
  throw new BpfError(`${what}: flock`, errno);
}

const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
const SIGSET_BYTES = 128; // glibc's sigset_t: 1024 bits
const everySignal = new Uint8Array(SIGSET_BYTES).fill(0xff); // libc keeps its own internal ones, the kernel SIGKILL/SIGSTOP

/**
 * Runs `fn` with this thread's signals held back, then delivers whatever
 * arrived meanwhile (nothing is lost: a held signal stays pending). For
 * kernel work that gives up when a signal is pending and cannot resume
 * where it stopped: the verifier returns EAGAIN, and libbpf's five retries
 * do not outlast a signal every few milliseconds.
 */
export function withSignalsHeld<T>(what: string, fn: () => T): T {
  const saved = new Uint8Array(SIGSET_BYTES);
  const rc = lib.symbols.pthread_sigmask(SIG_BLOCK, ptr(everySignal), ptr(saved));
  if (rc !== 0) throw new BpfError(`${what}: hold signals`, rc);
  try {
    return fn();
  } finally {
    lib.symbols.pthread_sigmask(SIG_SETMASK, ptr(saved), null);
  }
}

const SC_PAGESIZE = 30;
export const PAGE_SIZE = Number(lib.symbols.sysconf(SC_PAGESIZE));

const CLOCK_REALTIME = 0;
const CLOCK_BOOTTIME = 7;
const timespec = new BigInt64Array(2);

function clockNs(clock: number): bigint {
  lib.symbols.clock_gettime(clock, ptr(timespec));
  return timespec[0]! * 1_000_000_000n + timespec[1]!;
}

/** CLOCK_BOOTTIME in ns: the kernel's record and expiry stamps. */
export function bootTimeNs(): bigint {
  return clockNs(CLOCK_BOOTTIME);
}

/** Wall-clock ns minus boot-clock ns: add to a kernel timestamp to get wall time. */
export function bootToWallOffsetNs(): bigint {
  const before = clockNs(CLOCK_BOOTTIME);
  const wall = clockNs(CLOCK_REALTIME);
  const after = clockNs(CLOCK_BOOTTIME);
  return wall - (before + after) / 2n;
}

const O_RDONLY_DIRECTORY_CLOEXEC = 0o200000 | 0o2000000;

/** An fd on a directory (for cgroup attachment); throws BpfError with the kernel's reason. */
export function openDirectory(dir: string): number {
  const fd = lib.symbols.open(ptr(Buffer.from(`${dir}\0`)), O_RDONLY_DIRECTORY_CLOEXEC);
  if (fd < 0) {
    const errno = lastErrno();
    throw new BpfError(`open ${dir}`, errno);
  }
  return fd;
}

export function closeFd(fd: number): void {
  lib.symbols.close(fd);
}

