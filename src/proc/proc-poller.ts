/**
 * Fallback observer for machines where eBPF cannot be used: polls /proc and
 * synthesizes exec and exit events for the processes in scope. Coverage is
 * partial (a process shorter than the poll interval is missed, exit codes are
 * unknown except where the caller knows them) and every event says so with
 * `lowFidelity: true`.
 */
import type { ExecEvent, ExitEvent, ProcessEvent } from "../events/types";
import { listPids, readProcess, readStat, type ProcSnapshot } from "./procfs";
import { cgroupIdOfPath } from "../cgroup/cgroup";

export interface ProcPollerOptions {
  /** The pids to watch now (e.g. a cgroup's members, or a subtree). */
  scope: () => Iterable<number>;
  onEvent: (e: ProcessEvent) => void;
  intervalMs?: number;
  /**
   * The process the caller started, and what it exec'd: its exec event carries these (a poll can find it
   * before its exec, still a copy of the caller, or after its exit, a zombie with no cmdline or exe).
   */
  root?: { pid: number; filename: string; argv: readonly string[] };
  /** Exit status of a pid, when the caller knows it (its own child). */
  exitStatus?: (pid: number) => { exitCode: number | null; signal: number | null } | undefined;
}

/** Pids in the subtree rooted at `root` (including it), from one /proc scan. */
export function subtreePids(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const pid of listPids()) {
    const st = readStat(pid);
    if (st) parentOf.set(pid, st.ppid);
  }
  const out: number[] = [];
  for (const pid of parentOf.keys()) {
    let p: number | undefined = pid;
    for (let depth = 0; p !== undefined && depth < 256; depth++) {
      if (p === root) {
        out.push(pid);
        break;
      }
      p = parentOf.get(p);
      if (p === 0) break;
    }
  }
  return out;
}

export class ProcPoller {
  private readonly known = new Map<number, { startTicks: number; event: ExecEvent }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The root has been seen running the command it was started with. */
  private rootConfirmed = false;
  polls = 0;

  constructor(private readonly options: ProcPollerOptions) {}

  start(): void {
    this.poll();
    this.timer = setInterval(() => this.poll(), this.options.intervalMs ?? 20);
  }

  poll(): void {
    this.polls++;
    const now = Date.now();
    const seen = new Set<number>();
    const root = this.options.root;
    for (const pid of this.options.scope()) {
      const snap = readProcess(pid);
      if (!snap) continue;
      seen.add(pid);
      const prev = this.known.get(pid);
      if (root && pid === root.pid) {
        if (!prev) {
          // Whatever this poll found (the caller's copy before exec, the command, or its zombie), the root runs the command.
          const e = this.execEvent(pid, snap, now, root.filename, [...root.argv]);
          this.known.set(pid, { startTicks: snap.startTicks, event: e });
          this.options.onEvent(e);
          continue;
        }
        if (!this.rootConfirmed) {
          // Until the command shows itself, a different image is the moment before its exec, not an exec of its own.
          if (snap.exe === root.filename) {
            this.rootConfirmed = true;
            prev.event.argv = snap.argv.length ? snap.argv : prev.event.argv;
          }
          continue;
        }
      }
      // A zombie (exited, not reaped) has no cmdline and no exe: nothing to say about an exec.
      if (snap.argv.length === 0 && snap.exe === null) continue;
      // A new pid, or the same pid running a new program (exec), or a reused pid.
      if (prev && prev.startTicks === snap.startTicks && prev.event.argv.join("\0") === snap.argv.join("\0")) continue;
      const e = this.execEvent(pid, snap, now, snap.exe ?? snap.argv[0] ?? "", snap.argv);
      this.known.set(pid, { startTicks: snap.startTicks, event: e });
      this.options.onEvent(e);
    }
    for (const [pid, { event }] of this.known) {
      if (seen.has(pid)) continue;
      this.known.delete(pid);
      this.options.onEvent(this.exitEvent(event, now));
    }
  }

  private execEvent(pid: number, snap: ProcSnapshot, now: number, filename: string, argv: string[]): ExecEvent {
    return {
      type: "exec",
      ts: now,
      ktimeNs: 0,
      pid,
      tid: pid,
      ppid: snap.ppid,
      uid: snap.uid,
      gid: snap.gid,
      comm: snap.comm,
      cgroupId: (snap.cgroupPath && cgroupIdOfPath(snap.cgroupPath)) || 0,
      agentId: 0,
      filename,
      argv,
      argvTruncated: false,
      filenameTruncated: false,
      oldPid: pid,
      ino: 0,
      dev: 0,
      lowFidelity: true,
    };
  }

  private exitEvent(exec: ExecEvent, now: number): ExitEvent {
    const status = this.options.exitStatus?.(exec.pid);
    return {
      type: "exit",
      ts: now,
      ktimeNs: 0,
      pid: exec.pid,
      tid: exec.pid,
      ppid: exec.ppid,
      uid: exec.uid,
      gid: exec.gid,
      comm: exec.comm,
      cgroupId: exec.cgroupId,
      agentId: 0,
      exitCode: status?.exitCode ?? null,
      signal: status?.signal ?? null,
      coreDumped: false,
      lowFidelity: true,
    };
  }

  /** Final poll, then stop. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.poll();
  }
}
