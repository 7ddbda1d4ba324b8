/**
 * The kernel programs Vigil attaches (each auto-attached by its SEC name),
 * and the syscall classes the sys_enter/sys_exit dispatchers act on, by name:
 * numbers come from this architecture's UAPI header at load time.
 */
export const PROGRAMS = ["vigil_exec", "vigil_fork", "vigil_exit", "vigil_sys_enter", "vigil_sys_exit"] as const;

/** enum vigil_syscall_class in bpf/vigil.h */
export const SyscallClass = { open: 1, openat: 2, openat2: 3, creat: 4, connect: 5, setid: 6 } as const;
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
};
