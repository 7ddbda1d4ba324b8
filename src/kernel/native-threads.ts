/**
 * Run one native call per argument, each on a thread of its own, and wait for
 * all of them. Used where the kernel makes each call wait out a grace period
 * on its own (detaching a perf-event tracepoint waits in
 * tracepoint_synchronize_unregister): waiters of one grace period share it,
 * so N detaches in parallel take about as long as one.
 *
 * The function is started directly as the thread's start routine. That is
 * sound for `int fn(T *arg)`: on the supported ABIs (x86-64 SysV, AArch64)
 * the pointer argument and the return value travel in the same registers as
 * a `void *(*)(void *)`; the low 32 bits of the thread's result are the int.
 */
import { ptr, type Pointer } from "bun:ffi";
import { str, toPtr } from "./ffi-values";
import { BpfError } from "./errors";
import { libc } from "./libc";

const RTLD_NOW = 2;
const RTLD_NOLOAD = 4;

/** The address of `symbol` in the already-loaded shared library `library`. */
export function nativeFunction(library: string, symbol: string): Pointer {
  const handle = libc.dlopen(Buffer.from(`${library}\0`), RTLD_NOW | RTLD_NOLOAD);
  if (!handle) throw new BpfError(`find ${symbol}: ${library} is not loaded`, 0, str(libc.dlerror()));
  const fn = toPtr(libc.dlsym(handle, Buffer.from(`${symbol}\0`)));
  if (!fn) throw new BpfError(`find ${symbol} in ${library}`, 0, str(libc.dlerror()));
  return fn;
}

/**
 * Call `fn(arg)` for every arg, all at once, one thread each; returns each
 * call's int result in order. Where a thread cannot be made, that call runs
 * on this thread instead (through `fallback`), so every call happens once.
 */
export function callInParallel(fn: Pointer, args: readonly Pointer[], fallback: (arg: Pointer) => number): number[] {
  const ids = new BigUint64Array(args.length);
  const started: boolean[] = [];
  const results: number[] = new Array<number>(args.length).fill(0);
  args.forEach((arg, i) => {
    const rc = libc.pthread_create(ptr(ids, i * 8), null, fn, arg);
    started[i] = rc === 0;
    if (rc !== 0) results[i] = fallback(arg);
  });
  const retval = new BigInt64Array(1);
  args.forEach((_, i) => {
    if (!started[i]) return;
    const rc = libc.pthread_join(ids[i]!, ptr(retval));
    if (rc !== 0) throw new BpfError(`join the thread of call ${i}`, rc);
    results[i] = Number(BigInt.asIntN(32, retval[0]!));
  });
  return results;
}
