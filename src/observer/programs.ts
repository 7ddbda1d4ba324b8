/**
 * Which kernel programs Vigil attaches, and to what. Programs whose SEC names
 * a tracepoint are auto-attached there; `alsoOn` lists further syscall
 * tracepoints the same program serves (e.g. one exit handler for four opens).
 */
export interface ProgramPlan {
  name: string;
  alsoOn?: readonly string[];
}

const SETID = ["setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid"] as const;

export const EVENT_PROGRAMS: readonly ProgramPlan[] = [
  { name: "vigil_exec" },
  { name: "vigil_fork" },
  { name: "vigil_exit" },
  { name: "vigil_openat_enter" },
  { name: "vigil_open_enter" },
  { name: "vigil_creat_enter" },
  { name: "vigil_openat2_enter" },
  { name: "vigil_open_exit", alsoOn: ["sys_exit_open", "sys_exit_creat", "sys_exit_openat2"] },
  { name: "vigil_connect_enter" },
  { name: "vigil_connect_exit" },
  { name: "vigil_setid_enter", alsoOn: SETID.slice(1).map((s) => `sys_enter_${s}`) },
  { name: "vigil_setid_exit", alsoOn: SETID.slice(1).map((s) => `sys_exit_${s}`) },
];

export const SYSCALL_PROGRAMS = {
  aggregate: "vigil_sys_aggregate",
  firehose: "vigil_sys_firehose",
} as const;
