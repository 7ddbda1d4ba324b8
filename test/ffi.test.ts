/** The libbpf FFI layer: errors name the operation and the kernel's reason. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfLink, BpfObject } from "../src/kernel/bpf-object";
import { BpfError } from "../src/kernel/errors";
import { classifiedSyscalls, EXIT_HOOK, selectExitHook } from "../src/sensor/programs";
import { ROOT, requireRoot } from "./helpers";

requireRoot();
const dir = mkdtempSync(join(tmpdir(), "vigil-ffi-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("BpfObject", () => {
  test("opening a missing file names the path and the reason", () => {
    expect(() => BpfObject.open(join(dir, "nope.o"))).toThrow(/open BPF object .*nope\.o: No such file or directory/);
  });

  test("a program the verifier rejects: the error carries the verifier log", () => {
    const src = join(dir, "bad.bpf.c");
    writeFileSync(
      src,
      `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tp_btf/sys_enter")
int bad(void *ctx) { return ((long *)ctx)[1000]; }
char LICENSE[] SEC("license") = "GPL";
`,
    );
    const obj = join(dir, "bad.o");
    const cc = Bun.spawnSync(["clang", "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", `-I${ROOT}/build`, "-c", src, "-o", obj]);
    expect(cc.exitCode).toBe(0);
    const o = BpfObject.open(obj);
    try {
      o.load();
      throw new Error("load should have failed");
    } catch (e) {
      expect(e).toBeInstanceOf(BpfError);
      const err = e as BpfError;
      expect(err.op).toContain("load BPF object");
      expect(err.verifierLog).toBeDefined();
      expect(err.message).toContain("verifier log");
      expect(err.verifierLog!).toMatch(/invalid|out of bounds|unbounded|min value/i);
    } finally {
      o.close();
    }
  });

  test("map and program misuse is reported, not crashed", () => {
    const o = BpfObject.open(`${ROOT}/build/vigil.bpf.o`);
    try {
      expect(() => o.map("no_such_map")).toThrow(/find map no_such_map/);
      expect(() => o.program("vigil_exec").attach()).toThrow(/not loaded yet/);
      expect(() => o.setConstant("no_such_knob", 1)).toThrow(/no const volatile variable named no_such_knob/);
    } finally {
      o.close();
    }
    expect(() => o.map("events").fd()).toThrow(/closed/);
  });

  test("signals arriving while the verifier runs do not fail the load", async () => {
    // The verifier gives up with EAGAIN when a signal is pending, and libbpf's
    // five retries do not outlast a signal every few ms (a profiler, a runtime's
    // thread suspension, a parent's SIGWINCH storm). A handler makes SIGUSR2 pend
    // instead of being discarded; the sender stops by itself after 20 s at most.
    const handled = { n: 0 };
    const onSignal = () => void handled.n++;
    process.on("SIGUSR2", onSignal);
    const sender = Bun.spawn(["sh", "-c", `end=$(($(date +%s) + 20)); while [ $(date +%s) -lt $end ]; do kill -USR2 ${process.pid} 2>/dev/null || exit 0; done`]);
    try {
      while (handled.n === 0) await Bun.sleep(5); // the storm has begun
      for (let i = 0; i < 3; i++) {
        const o = BpfObject.open(`${ROOT}/build/vigil.bpf.o`);
        try {
          o.load();
        } finally {
          o.close();
        }
      }
      await Bun.sleep(20); // signals held back during the loads are delivered, not lost
      expect(handled.n).toBeGreaterThan(1);
    } finally {
      sender.kill();
      await sender.exited;
      process.off("SIGUSR2", onSignal);
    }
  });

  test("load, attach and close leave no link behind", () => {
    const o = BpfObject.open(`${ROOT}/build/vigil.bpf.o`);
    o.load();
    const link = o.program("vigil_exec").attach();
    expect(link.attached).toBe(true);
    const listed = () => Bun.spawnSync(["bpftool", "-j", "link", "list"]).stdout.toString();
    const before = JSON.parse(listed()) as { prog_id: number }[];
    expect(before.length).toBeGreaterThan(0);
    expect(o.close()).toEqual([]);
    expect(link.attached).toBe(false);
    const after = JSON.parse(listed()) as { prog_id: number }[];
    expect(after.length).toBe(before.length - 1);
  });

  test("one program on many trace events; all detached at once, in parallel, leave no link", () => {
    const o = BpfObject.open(`${ROOT}/build/vigil.bpf.o`);
    selectExitHook(o, "perSyscall");
    o.load();
    const listed = () => (JSON.parse(Bun.spawnSync(["bpftool", "-j", "link", "list"]).stdout.toString()) as unknown[]).length;
    const before = listed();
    try {
      const links = classifiedSyscalls().map(({ name }) => o.program(EXIT_HOOK.perSyscall).attachTracepoint("syscalls", `sys_exit_${name}`));
      expect(links.length).toBeGreaterThan(8);
      expect(listed()).toBe(before + links.length);
      expect(BpfLink.detachAll(links)).toEqual([]);
      expect(links.every((l) => !l.attached)).toBe(true);
      expect(listed()).toBe(before);
      expect(() => o.program(EXIT_HOOK.perSyscall).attachTracepoint("syscalls", "sys_exit_no_such_call")).toThrow(/sys_exit_no_such_call/);
    } finally {
      o.close();
    }
  });
});
