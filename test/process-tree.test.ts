import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { AgentRegistry } from "../src/agents/agent-registry";
import type { ExecEvent, ExitEvent, ForkEvent, ProcessEvent } from "../src/events/types";
import { EventPipeline } from "../src/pipeline/event-pipeline";
import { ProcessTree } from "../src/proc/process-tree";
import { ObservedCgroup, requireRoot } from "./helpers";

const base = { ts: 0, ktimeNs: 0, tid: 0, uid: 0, gid: 0, comm: "x", cgroupId: 7, agentId: 0 };
const fork = (pid: number, child: number, ts = 0): ForkEvent => ({ ...base, type: "fork", pid, tid: pid, ppid: 1, childPid: child, ts });
const exec = (pid: number, ppid: number, filename: string, ts = 0): ExecEvent => ({
  ...base,
  type: "exec",
  pid,
  tid: pid,
  ppid,
  filename,
  argv: [filename],
  argvTruncated: false,
  filenameTruncated: false,
  oldPid: pid,
  ino: 0,
  dev: 0,
  ts,
});
const exit = (pid: number, ppid: number, code: number, ts = 0): ExitEvent => ({ ...base, type: "exit", pid, tid: pid, ppid, exitCode: code, signal: null, coreDumped: false, ts });

describe("ProcessTree (pure logic)", () => {
  test("fork, exec and exit build the tree with ancestry and children", () => {
    const t = new ProcessTree();
    t.apply(exec(100, 1, "/bin/sh"));
    t.apply(fork(100, 101));
    t.apply(exec(101, 100, "/bin/ls"));
    expect(t.get(101)!.exe).toBe("/bin/ls");
    expect(t.ancestry(101).map((n) => n.pid)).toEqual([100]);
    expect(t.children(100).map((n) => n.pid)).toEqual([101]);
    t.apply(exit(101, 100, 3, 10));
    expect(t.isLive(101)).toBe(false);
    expect(t.get(101)!.exitCode).toBe(3);
  });

  test("exited entries are bounded by count and age, evictions counted", () => {
    const t = new ProcessTree({ maxExited: 10, exitedTtlMs: 1000 });
    for (let i = 0; i < 50; i++) {
      t.apply(fork(1, 1000 + i, i));
      t.apply(exit(1000 + i, 1, 0, i));
    }
    // Trimmed to 10 whenever it passes 10 + 10/8 (rounded down): 11, 12 -> 10, ... and 50 exits leave 10.
    expect(t.stats().exited).toBe(10);
    expect(t.stats().evictedExited).toBe(40);
    expect(t.sweep(10_000)).toBe(10);
    expect(t.stats().exited).toBe(0);
  });

  test("live entries are bounded too (a missed exit cannot leak forever)", () => {
    const t = new ProcessTree({ maxLive: 5 });
    for (let i = 0; i < 8; i++) t.apply(exec(2000 + i, 1, "/bin/x"));
    expect(t.stats().live).toBe(5);
    expect(t.stats().evictedLive).toBe(3);
    expect(t.reconcile((pid) => pid !== 2007)).toBe(1);
    expect(t.stats().live).toBe(4);
  });

  test("subtree agents are inherited by descendants", () => {
    const t = new ProcessTree();
    const agents = new AgentRegistry(t);
    const p = new EventPipeline(t, agents);
    const got: ProcessEvent[] = [];
    p.addSink({ name: "c", write: (e) => got.push(e as ProcessEvent) });
    p.handle(exec(300, 1, "/bin/agent"));
    agents.register({ name: "coder", rootPid: 300 });
    p.handle(fork(300, 301));
    p.handle(exec(301, 300, "/bin/tool"));
    p.handle(exec(999, 1, "/bin/other"));
    expect(got.find((e) => e.pid === 301 && e.type === "exec")!.agent).toBe("coder");
    expect(got.find((e) => e.pid === 999)!.agent).toBeUndefined();
  });

  test("agent names are validated", () => {
    const agents = new AgentRegistry(new ProcessTree());
    expect(() => agents.register({ name: "bad name!", cgroupId: 1 })).toThrow(/must match/);
    expect(() => agents.register({ name: "ok" })).toThrow(/needs a cgroup or a root pid/);
  });
});

describe("ProcessTree (real kernel)", () => {
  test("seeded from /proc: pre-existing processes are known with their parent chain", () => {
    const t = new ProcessTree();
    expect(t.seedFromProc()).toBeGreaterThan(1);
    const me = t.get(process.pid)!;
    expect(me.source).toBe("proc");
    expect(me.argv.length).toBeGreaterThan(0);
    expect(t.get(1)).toBeDefined();
    expect(t.ancestry(process.pid).at(-1)!.pid).toBe(1);
  });

  test("stays within its bounds under an exec storm", async () => {
    requireRoot();
    const tree = new ProcessTree({ maxExited: 100 });
    const pipeline = new EventPipeline(tree, new AgentRegistry(tree));
    const oc = new ObservedCgroup({ syscalls: "off", onEvent: (e) => pipeline.handle(e) });
    try {
      const r = await oc.run("i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done");
      expect(r.exitCode).toBe(0);
      await oc.waitFor((e) => e.type === "exit" && e.pid === r.pid, 5000);
      const s = tree.stats();
      expect(pipeline.counts.get("exec")).toBe(1000); // the shell joined the cgroup after its own exec
      // Within the bound (100, and up to an eighth more between trims), and nothing left unaccounted.
      expect(s.exited).toBeGreaterThanOrEqual(100);
      expect(s.exited).toBeLessThanOrEqual(112);
      expect(s.exited + s.evictedExited).toBeGreaterThanOrEqual(1001);
      expect(oc.observer.stats().droppedTotal).toBe(0);
      // every live entry is a real process
      expect(tree.liveProcesses().filter((n) => n.source === "event" && !existsSync(`/proc/${n.pid}`))).toEqual([]);
    } finally {
      await oc.close();
    }
  }, 30_000);
});
