/**
 * The live process tree: seeded from /proc at start (so processes that were
 * already running are known), then kept current from events. Memory is
 * bounded: exited processes are kept for a limited time and count, and the
 * live table has a ceiling; every eviction is counted.
 */
import type { ProcessEvent } from "../events/types";
import { listPids, readProcess, startTimeMs, type ProcSnapshot } from "./procfs";
import { cgroupIdOfPath } from "../cgroup/cgroup";
import { trimOldest } from "../util/trim-oldest";

/** Identity fields as /proc gives them; the tree adds what it learns from events. */
export interface ProcessNode extends Pick<ProcSnapshot, "pid" | "ppid" | "comm" | "exe" | "argv" | "uid"> {
  cgroupId: number | null;
  /** Wall-clock ms. */
  startTime: number;
  exitTime: number | null;
  exitCode: number | null;
  signal: number | null;
  agent: string | null;
  execs: number;
  /** Where we first learned of it: the /proc seed, or a kernel event. */
  source: "proc" | "event";
}

export interface ProcessTreeOptions {
  /** Ceiling on live entries (a missed exit must not leak forever). */
  maxLive?: number;
  /** How many exited processes are remembered (the oldest are let go an eighth at a time, so up to 1/8 more between trims). */
  maxExited?: number;
  /** How long an exited process is remembered, in ms. */
  exitedTtlMs?: number;
}

export interface ProcessTreeStats {
  live: number;
  exited: number;
  evictedExited: number;
  evictedLive: number;
  reconciled: number;
}

const MAX_DEPTH = 256;

export class ProcessTree {
  private readonly live = new Map<number, ProcessNode>();
  /** Insertion order is exit order, so the first entry is the oldest. */
  private readonly exited = new Map<number, ProcessNode>();
  private readonly childrenOf = new Map<number, Set<number>>();
  private readonly maxLive: number;
  private readonly maxExited: number;
  private readonly exitedTtlMs: number;
  private evictedExited = 0;
  private evictedLive = 0;
  private reconciled = 0;

  constructor(options: ProcessTreeOptions = {}) {
    this.maxLive = options.maxLive ?? 65536;
    this.maxExited = options.maxExited ?? 4096;
    this.exitedTtlMs = options.exitedTtlMs ?? 60_000;
  }

  /** Learn every process that exists now. Returns how many were added. */
  seedFromProc(): number {
    let n = 0;
    for (const pid of listPids()) {
      if (this.live.has(pid)) continue;
      const snap = readProcess(pid);
      if (!snap) continue;
      this.insertLive(fromSnapshot(snap));
      n++;
    }
    return n;
  }

  get(pid: number): ProcessNode | undefined {
    return this.live.get(pid) ?? this.exited.get(pid);
  }

  isLive(pid: number): boolean {
    return this.live.has(pid);
  }

  /** Parent chain from the parent up to the root (pid 1 or the first unknown). */
  ancestry(pid: number): ProcessNode[] {
    const out: ProcessNode[] = [];
    let node = this.get(pid);
    const seen = new Set<number>([pid]);
    while (node && out.length < MAX_DEPTH) {
      const parent = this.get(node.ppid);
      if (!parent || seen.has(parent.pid)) break;
      seen.add(parent.pid);
      out.push(parent);
      node = parent;
    }
    return out;
  }

  children(pid: number): ProcessNode[] {
    const out: ProcessNode[] = [];
    for (const c of this.childrenOf.get(pid) ?? []) {
      const n = this.get(c);
      if (n) out.push(n);
    }
    return out;
  }

  /** Every known process below pid (breadth first, bounded). */
  descendants(pid: number, limit = 65536): ProcessNode[] {
    const out: ProcessNode[] = [];
    const queue = [pid];
    const seen = new Set<number>([pid]);
    while (queue.length && out.length < limit) {
      for (const c of this.children(queue.shift()!)) {
        if (seen.has(c.pid)) continue;
        seen.add(c.pid);
        out.push(c);
        queue.push(c.pid);
      }
    }
    return out;
  }

  /** All live processes (a copy). */
  liveProcesses(): ProcessNode[] {
    return [...this.live.values()];
  }

  exitedProcesses(): ProcessNode[] {
    return [...this.exited.values()];
  }

  /** Live, then recently exited. */
  allProcesses(): ProcessNode[] {
    return [...this.live.values(), ...this.exited.values()];
  }

  get size(): number {
    return this.live.size + this.exited.size;
  }

  stats(): ProcessTreeStats {
    return {
      live: this.live.size,
      exited: this.exited.size,
      evictedExited: this.evictedExited,
      evictedLive: this.evictedLive,
      reconciled: this.reconciled,
    };
  }

  /** Update the tree from one event; returns the node it concerns. */
  apply(e: ProcessEvent): ProcessNode {
    switch (e.type) {
      case "fork": {
        const parent = this.ensure(e);
        const old = this.live.get(e.childPid);
        if (old) this.markExited(old, e.ts); // pid reused after a missed exit
        const child: ProcessNode = {
          ...parent,
          pid: e.childPid,
          ppid: parent.pid,
          startTime: e.ts,
          exitTime: null,
          exitCode: null,
          signal: null,
          execs: 0,
          source: "event",
        };
        this.insertLive(child);
        return child;
      }
      case "exec": {
        const node = this.ensure(e);
        node.exe = e.filename;
        node.argv = e.argv;
        node.comm = e.comm;
        node.uid = e.uid;
        node.execs++;
        return node;
      }
      case "exit": {
        const node = this.ensure(e);
        node.exitCode = e.exitCode;
        node.signal = e.signal;
        this.markExited(node, e.ts);
        return node;
      }
      case "cred": {
        const node = this.ensure(e);
        node.uid = e.new.uid;
        return node;
      }
      default:
        return this.ensure(e);
    }
  }

  /** Forget exited processes past their time; call periodically. */
  sweep(now = Date.now()): number {
    let n = 0;
    for (const [pid, node] of this.exited) {
      if ((node.exitTime ?? 0) + this.exitedTtlMs > now) break; // insertion order = exit order
      this.forgetExited(pid);
      n++;
    }
    this.evictedExited += n;
    return n;
  }

  /** Drop live entries whose process is gone from /proc (their exit was missed). */
  reconcile(exists: (pid: number) => boolean): number {
    let n = 0;
    for (const node of [...this.live.values()]) {
      if (!exists(node.pid)) {
        this.markExited(node, Date.now());
        n++;
      }
    }
    this.reconciled += n;
    return n;
  }

  private ensure(e: ProcessEvent): ProcessNode {
    let node = this.live.get(e.pid);
    if (!node) {
      node = {
        pid: e.pid,
        ppid: e.ppid,
        comm: e.comm,
        exe: null,
        argv: [],
        uid: e.uid,
        cgroupId: e.cgroupId,
        startTime: e.ts,
        exitTime: null,
        exitCode: null,
        signal: null,
        agent: this.live.get(e.ppid)?.agent ?? null,
        execs: 0,
        source: "event",
      };
      this.insertLive(node);
    } else {
      if (node.ppid !== e.ppid && e.ppid !== 0) this.reparent(node, e.ppid);
      node.cgroupId = e.cgroupId;
    }
    return node;
  }

  private reparent(node: ProcessNode, ppid: number): void {
    this.childrenOf.get(node.ppid)?.delete(node.pid);
    node.ppid = ppid;
    this.link(node);
  }

  private link(node: ProcessNode): void {
    let set = this.childrenOf.get(node.ppid);
    if (!set) this.childrenOf.set(node.ppid, (set = new Set()));
    set.add(node.pid);
  }

  private insertLive(node: ProcessNode): void {
    if (this.live.size >= this.maxLive) {
      const oldest = this.live.values().next().value;
      if (oldest) {
        this.live.delete(oldest.pid);
        this.unlink(oldest);
        this.evictedLive++;
      }
    }
    this.live.set(node.pid, node);
    this.link(node);
  }

  private markExited(node: ProcessNode, ts: number): void {
    if (this.live.get(node.pid) === node) this.live.delete(node.pid);
    node.exitTime = ts;
    if (this.exited.has(node.pid)) {
      this.forgetExited(node.pid);
      this.evictedExited++;
    }
    this.exited.set(node.pid, node);
    this.evictedExited += trimOldest(this.exited, this.maxExited, (pid) => this.forgetExited(pid));
  }

  private forgetExited(pid: number): void {
    const node = this.exited.get(pid);
    this.exited.delete(pid);
    if (node && !this.live.has(pid)) this.unlink(node);
  }

  private unlink(node: ProcessNode): void {
    const set = this.childrenOf.get(node.ppid);
    if (set) {
      set.delete(node.pid);
      if (set.size === 0) this.childrenOf.delete(node.ppid);
    }
    const kids = this.childrenOf.get(node.pid);
    if (kids && kids.size === 0) this.childrenOf.delete(node.pid);
  }
}

function fromSnapshot(s: ProcSnapshot): ProcessNode {
  return {
    pid: s.pid,
    ppid: s.ppid,
    comm: s.comm,
    exe: s.exe,
    argv: s.argv,
    uid: s.uid,
    cgroupId: s.cgroupPath ? cgroupIdOfPath(s.cgroupPath) : null,
    startTime: startTimeMs(s.startTicks),
    exitTime: null,
    exitCode: null,
    signal: null,
    agent: null,
    execs: 0,
    source: "proc",
  };
}
