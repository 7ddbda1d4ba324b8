/**
 * The kernel programs Vigil attaches, and the syscall classes the
 * sys_enter/sys_exit dispatchers act on, by name: numbers come from this
 * architecture's UAPI header at load time.
 */
import type { BpfObject } from "../kernel/bpf-object";
import { traceEventAvailable } from "../kernel/tracefs";
import { syscallNumber } from "../events/syscall-names";
import { CAPTURE_KINDS, type CaptureKind } from "./capture";

/** Hooks attached by their SEC name. */
export const PROGRAMS = ["vigil_exec", "vigil_fork", "vigil_exit", "vigil_sys_enter"] as const;

/**
 * The syscall exit hook, in one of two forms (bpf/syscalls.bpf.c): one
 * program on the trace event of each classified syscall (other syscalls pay
 * no BPF run at exit), or, where those events are missing, one program on
 * the generic sys_exit that every syscall runs.
 */
export const EXIT_HOOK = { perSyscall: "vigil_sys_exit_event", generic: "vigil_sys_exit" } as const;
export type ExitHookForm = keyof typeof EXIT_HOOK;

/** Programs an observer in aggregate mode (the default) loads: PROGRAMS and one form of the exit hook. */
export const OBSERVER_PROGRAMS = PROGRAMS.length + 1;

/** enum vigil_syscall_class in bpf/vigil.h */
export const SyscallClass = { open: 1, openat: 2, openat2: 3, creat: 4, connect: 5, setid: 6, execve: 7, execveat: 8 } as const;
export const MAX_SYSCALLS = 1024;

export const CLASSIFIED_SYSCALLS: Record<string, number> = {
  open: SyscallClass.open,
  openat: SyscallClass.openat,
  openat2: SyscallClass.openat2,
  creat: SyscallClass.creat,
  connect: SyscallClass.connect,
  setuid: SyscallClass.setid,
  setgid: SyscallClass.setid,
  setreuid: SyscallClass.setid,
  setregid: SyscallClass.setid,
  setresuid: SyscallClass.setid,
  setresgid: SyscallClass.setid,
  setfsuid: SyscallClass.setid,
  setfsgid: SyscallClass.setid,
  execve: SyscallClass.execve,
  execveat: SyscallClass.execveat,
};

/** The event kind a syscall class reports. */
function kindOf(cls: number): CaptureKind {
  if (cls === SyscallClass.connect) return "connect";
  if (cls === SyscallClass.setid) return "cred";
  if (cls === SyscallClass.execve || cls === SyscallClass.execveat) return "exec_failed";
  return "open";
}

/** The classified syscalls this architecture has, with their numbers: those of the kinds captured. */
export function classifiedSyscalls(capture: readonly CaptureKind[] = CAPTURE_KINDS): { name: string; nr: number; cls: number }[] {
  const out: { name: string; nr: number; cls: number }[] = [];
  for (const [name, cls] of Object.entries(CLASSIFIED_SYSCALLS)) {
    if (!capture.includes(kindOf(cls))) continue;
    const nr = syscallNumber(name);
    if (nr === undefined || nr >= MAX_SYSCALLS) continue; // e.g. open/creat do not exist on arm64
    out.push({ name, nr, cls });
  }
  return out;
}

/** The .rodata array `syscall_classes` (bpf/common.bpf.h): each syscall number's class, 0 for the rest. */
export function syscallClassTable(syscalls: readonly { nr: number; cls: number }[]): Uint8Array {
  const table = new Uint8Array(MAX_SYSCALLS);
  for (const { nr, cls } of syscalls) table[nr] = cls;
  return table;
}

/**
 * The classified syscalls reported at their exit, with their result: the
 * opens and connect. The setuid family is not among them: its change is
 * settled at the thread's next syscall entry (bpf/cred.bpf.c), which spares
 * eight trace events whose detaches each wait out a grace period.
 */
export function exitHookSyscalls(capture: readonly CaptureKind[] = CAPTURE_KINDS): { name: string; nr: number; cls: number }[] {
  return classifiedSyscalls(capture).filter(({ cls }) => cls !== SyscallClass.setid);
}

/** Which exit hook form this machine allows, and why not the preferred one. Call before load. */
export function chooseExitHook(capture: readonly CaptureKind[] = CAPTURE_KINDS): { form: ExitHookForm; reason?: string } {
  for (const { name } of exitHookSyscalls(capture)) {
    const available = traceEventAvailable("syscalls", `sys_exit_${name}`);
    if (!available.ok) return { form: "generic", reason: available.reason };
  }
  return { form: "perSyscall" };
}

/** Load only the chosen form (the other costs nothing). Before load. */
export function selectExitHook(obj: BpfObject, form: ExitHookForm): void {
  obj.program(EXIT_HOOK.perSyscall).setAutoload(form === "perSyscall");
  obj.program(EXIT_HOOK.generic).setAutoload(form === "generic");
}

/** Attach the exit hook in its chosen form, for the kinds captured; returns the number of links made. */
export function attachExitHook(obj: BpfObject, form: ExitHookForm, capture: readonly CaptureKind[] = CAPTURE_KINDS): number {
  if (form === "generic") {
    obj.program(EXIT_HOOK.generic).attach();
    return 1;
  }
  const prog = obj.program(EXIT_HOOK.perSyscall);
  const syscalls = exitHookSyscalls(capture);
  for (const { name } of syscalls) prog.attachTracepoint("syscalls", `sys_exit_${name}`);
  return syscalls.length;
}
