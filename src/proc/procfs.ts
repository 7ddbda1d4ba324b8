/** Reads what /proc says about a process. Every reader returns null when the process is gone. */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcSnapshot {
  pid: number;
  ppid: number;
  comm: string;
  exe: string | null;
  argv: string[];
  uid: number;
  gid: number;
  /** cgroup v2 path relative to the cgroup2 mount ("/" for the root). */
  cgroupPath: string | null;
  /** Start time in clock ticks after boot (field 22 of stat): identifies a pid incarnation. */
  startTicks: number;
}

const CLK_TCK = 100; // USER_HZ on every Linux architecture that matters here

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

export function listPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(name));
  }
  return out;
}

/** ppid, comm and start time from /proc/PID/stat (comm may contain spaces and parens). */
export function readStat(pid: number): { ppid: number; comm: string; startTicks: number } | null {
  const s = read(`/proc/${pid}/stat`);
  if (!s) return null;
  const open = s.indexOf("(");
  const close = s.lastIndexOf(")");
  const rest = s.slice(close + 2).split(" ");
  return { comm: s.slice(open + 1, close), ppid: Number(rest[1]), startTicks: Number(rest[19]) };
}

export function readArgv(pid: number): string[] {
  const s = read(`/proc/${pid}/cmdline`);
  if (!s) return [];
  const parts = s.split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

export function readCgroupPath(pid: number): string | null {
  const s = read(`/proc/${pid}/cgroup`);
  if (!s) return null;
  for (const line of s.split("\n")) if (line.startsWith("0::")) return line.slice(3);
  return null;
}

export function readProcess(pid: number): ProcSnapshot | null {
  const stat = readStat(pid);
  if (!stat) return null;
  const status = read(`/proc/${pid}/status`) ?? "";
  const uid = /^Uid:\s+(\d+)/m.exec(status);
  const gid = /^Gid:\s+(\d+)/m.exec(status);
  let exe: string | null = null;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch {
    /* kernel thread or gone */
  }
  return {
    pid,
    ppid: stat.ppid,
    comm: stat.comm,
    exe,
    argv: readArgv(pid),
    uid: uid ? Number(uid[1]) : -1,
    gid: gid ? Number(gid[1]) : -1,
    cgroupPath: readCgroupPath(pid),
    startTicks: stat.startTicks,
  };
}

/** Process start time as wall-clock ms, from its start ticks and the boot time. */
export function startTimeMs(startTicks: number): number {
  return bootTimeMs() + (startTicks * 1000) / CLK_TCK;
}

let cachedBoot: number | null = null;
export function bootTimeMs(): number {
  if (cachedBoot === null) {
    const m = /^btime (\d+)$/m.exec(read("/proc/stat") ?? "");
    cachedBoot = m ? Number(m[1]) * 1000 : 0;
  }
  return cachedBoot;
}
