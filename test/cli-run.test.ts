/** `bin/vigil run` end to end: a real child in a real cgroup, real events, real exit codes. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroup2Mount } from "../src/cgroup/cgroup";
import { syscallNumber } from "../src/events/syscall-names";
import { buildStorm, STORM } from "../bench/lib";
import { ROOT, requireRoot, unique } from "./helpers";

requireRoot();
const dir = mkdtempSync(join(tmpdir(), "vigil-cli-"));
chmodSync(dir, 0o777);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vigil(args: string[], opts: { asNobody?: boolean } = {}) {
  const argv = [`${ROOT}/bin/vigil`, ...args];
  const cmd = opts.asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...argv] : argv;
  const r = Bun.spawnSync(cmd, { env: { ...process.env, HOME: dir, BUN_INSTALL_CACHE_DIR: dir }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function lines(path: string): Record<string, unknown>[] {
  return readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

describe("vigil run", () => {
  test("observes the command and its descendants and exits with its exit code", async () => {
    const token = unique("cli");
    const target = join(dir, `${token}.txt`);
    writeFileSync(target, "x");
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const events = join(dir, "events.jsonl");
    const summary = join(dir, "summary.json");
    try {
      const r = vigil(["run", "--name", "cli-test", "--events", events, "--summary-json", summary, "--", "bash", "-c", `cat ${target}; /bin/echo ${token}; exec 3<>/dev/tcp/127.0.0.1/${listener.port}; exit 3`]);
      expect(r.code).toBe(3);
      expect(r.stdout).toContain(token);
      expect(r.stderr).toContain("vigil: cli-test");
      const ev = lines(events);
      for (const e of ev) {
        expect(typeof e.type).toBe("string");
        expect(typeof e.pid).toBe("number");
        expect(typeof e.ppid).toBe("number");
        expect(typeof e.comm).toBe("string");
        expect(typeof e.ts).toBe("number");
        expect(e.agent).toBe("cli-test");
        // The kernel itself attributed it (identity by cgroup, inherited by children), not only userspace.
        if (e.type !== "syscall") expect(e.agentId).toBeGreaterThan(0);
      }
      const execs = ev.filter((e) => e.type === "exec");
      const root = execs.find((e) => (e.argv as string[])[0] === "bash")!;
      const echo = execs.find((e) => (e.argv as string[]).includes(token))!;
      expect(echo.argv).toEqual(["/bin/echo", token]);
      expect(echo.ppid).toBe(root.pid);
      expect(ev.some((e) => e.type === "open" && e.path === target && (e.ret as number) >= 0)).toBe(true);
      expect(ev.some((e) => e.type === "connect" && e.address === "127.0.0.1" && e.port === listener.port && e.ret === 0)).toBe(true);
      const exit = ev.find((e) => e.type === "exit" && e.pid === root.pid)!;
      expect(exit.exitCode).toBe(3);
      expect(ev.every((e) => e.pid !== process.pid)).toBe(true);

      const s = JSON.parse(readFileSync(summary, "utf8"));
      expect(s.exitCode).toBe(3);
      expect(s.events.exec).toBe(execs.length);
      expect(s.events.open).toBe(ev.filter((e) => e.type === "open").length);
      expect(s.droppedTotal).toBe(0);
      expect(s.dropped).toMatchObject({ kernelRingFull: 0, decodeErrors: 0 });
      expect(s.connections[0]).toMatchObject({ address: "127.0.0.1", port: listener.port });
      expect(s.syscalls.total).toBeGreaterThan(0);
    } finally {
      listener.stop(true);
    }
  });

  test("a command killed by a signal exits 128+signal", () => {
    const summary = join(dir, "sig.json");
    const r = vigil(["run", "--quiet", "--summary-json", summary, "--", "sh", "-c", "kill -KILL $$"]);
    expect(r.code).toBe(137);
    const s = JSON.parse(readFileSync(summary, "utf8"));
    expect(s.signal).toBe(9);
    expect(s.exitCode).toBe(137);
  });

  test("firehose mode writes one syscall event per syscall entry with its name", () => {
    const events = join(dir, "fh.jsonl");
    const summary = join(dir, "fh.json");
    const r = vigil(["run", "--quiet", "--syscalls", "firehose", "--events", events, "--summary-json", summary, "--", "/bin/true"]);
    expect(r.code).toBe(0);
    const sys = lines(events).filter((e) => e.type === "syscall");
    expect(sys.length).toBeGreaterThan(10);
    expect(sys.some((e) => e.name === "exit_group")).toBe(true);
    expect(sys.every((e) => typeof e.nr === "number" && typeof e.tid === "number")).toBe(true);
    const s = JSON.parse(readFileSync(summary, "utf8"));
    expect(s.events.syscall).toBe(sys.length);
    expect(s.dropped.firehoseFull).toBe(0);
  });

  test("firehose clocks: exact stamps every record; tick reuses a stamp read earlier on that CPU; a thread moving between CPUs keeps its order; every syscall counted", () => {
    buildStorm();
    const n = 20_000;
    const getppid = syscallNumber("getppid")!;
    const setaffinity = syscallNumber("sched_setaffinity")!;
    const run = (clock: string) => {
      const events = join(dir, `clock-${clock}.jsonl`);
      // The storm moves itself to the next CPU every 250 syscalls: its records are spread over every CPU's ring.
      const r = vigil(["run", "--quiet", "--syscalls", "firehose", "--firehose-clock", clock, "--events", events, "--", STORM, String(n), "1", "--migrate=250"]);
      expect(r.code).toBe(0);
      const sys = lines(events).filter((e) => e.type === "syscall") as { ktimeNs: number; tsExact: boolean; tid: number; nr: number }[];
      expect(sys.filter((e) => e.nr === getppid).length).toBe(n);
      expect(sys.filter((e) => e.nr === setaffinity).length).toBe(n / 250);
      // One thread's records come in its own order, whichever CPU's ring they were in: its stamps never go back.
      const last = new Map<number, number>();
      let back = 0;
      for (const e of sys) {
        if (e.ktimeNs < (last.get(e.tid) ?? 0)) back++;
        last.set(e.tid, e.ktimeNs);
      }
      expect(back).toBe(0);
      // And in the order it made them, which stamps alone cannot show (a stale stamp sorts early): a move, then 250 getppid, over and over.
      const storm = sys.find((e) => e.nr === getppid)!.tid;
      const order = sys.filter((e) => e.tid === storm && (e.nr === getppid || e.nr === setaffinity)).map((e) => (e.nr === getppid ? "g" : "m"));
      const blocks = order.join("").split("m");
      expect({ beforeFirstMove: blocks[0]!.length, moves: blocks.length - 1, blocksNot250: blocks.slice(1).filter((b) => b.length !== 250).length }).toEqual({ beforeFirstMove: 0, moves: n / 250, blocksNot250: 0 });
      return sys;
    };
    const exact = run("exact");
    expect(exact.every((e) => e.tsExact)).toBe(true);
    const tick = run("tick");
    const read = new Set<number>();
    let reused = 0;
    for (const e of tick) {
      if (e.tsExact) read.add(e.ktimeNs);
      else {
        expect(read.has(e.ktimeNs)).toBe(true); // the stamp of an earlier record of the same CPU ring
        reused++;
      }
    }
    expect(reused).toBeGreaterThan(0);
    expect(read.size).toBeGreaterThanOrEqual(Math.ceil(tick.length / 32)); // read at least every 32 records
  });

  test("leaves no cgroup behind", () => {
    const mount = cgroup2Mount()!;
    const left = existsSync(join(mount, "vigil")) ? readdirSync(join(mount, "vigil")).filter((d) => d.startsWith("run-")) : [];
    expect(left).toEqual([]);
  });

  test("bad arguments: one line, non-zero", () => {
    for (const args of [["run", "--syscalls", "bogus", "--", "true"], ["run", "--nope", "--", "true"], ["run"], ["frobnicate"]]) {
      const r = vigil(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")[0]).toMatch(/^vigil/);
    }
    const r = vigil(["run", "--syscalls", "bogus", "--", "true"]);
    expect(r.stderr.trim()).toBe('vigil run: --syscalls must be one of off, aggregate, firehose (got "bogus")');
    const c = vigil(["run", "--capture", "open,files", "--", "true"]);
    expect(c.code).toBe(2);
    expect(c.stderr.trim()).toBe('vigil run: --capture: unknown event kind "files" (known: open, connect, cred, exec_failed, tls, or none alone)');
  });

  test("the command's record starts at its own exec: no PATH probing, nothing of the launcher's", () => {
    const events = join(dir, "own-exec.jsonl");
    const r = vigil(["run", "--quiet", "--name", "own", "--syscalls", "firehose", "--firehose-clock", "exact", "--events", events, "--", "true"]);
    expect(r.code).toBe(0);
    const ev = lines(events) as { type: string; name?: string; ktimeNs: number; agent?: string; filename?: string; argv?: string[] }[];
    const exec = ev.find((e) => e.type === "exec")!;
    // Before the exec (every record stamped exactly): the execve syscall that made it, and nothing else.
    expect(ev.filter((e) => e.ktimeNs < exec.ktimeNs).map((e) => `${e.type}:${e.name ?? ""}`)).toEqual(["syscall:execve"]);
    expect(ev.filter((e) => e.type === "exec").map((e) => [e.filename, e.argv])).toEqual([["/usr/bin/true", ["true"]]]);
    expect(ev.filter((e) => e.type === "exec_failed")).toEqual([]);
    expect(ev.filter((e) => e.type === "syscall" && e.name === "execve")).toHaveLength(1);
    expect(ev.every((e) => e.agent === "own")).toBe(true);
  });

  test("failed execs are reported, in the events and the summary", () => {
    const missing = unique("no-such-program");
    const events = join(dir, "failed-exec.jsonl");
    const summaryFile = join(dir, "failed-exec.json");
    const r = vigil(["run", "--events", events, "--summary-json", summaryFile, "--", "sh", "-c", `/nonexistent/${missing} --flag; env ${missing}; exit 0`]);
    expect(r.code).toBe(0);
    const failed = lines(events).filter((e) => e.type === "exec_failed");
    expect(failed[0]).toMatchObject({ filename: `/nonexistent/${missing}`, argv: [`/nonexistent/${missing}`, "--flag"], ret: -2, agent: "sh" });
    // env searches PATH: one failed execve per directory, each named.
    const viaPath = failed.filter((e) => e.comm === "env");
    expect(viaPath.length).toBeGreaterThanOrEqual(2);
    for (const e of viaPath) expect(e.filename).toEndWith(`/${missing}`);
    const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as { failedExecs: { binary: string; error: string; count: number }[]; events: Record<string, number> };
    expect(summary.failedExecs.find((f) => f.binary.startsWith("/nonexistent/"))).toEqual({ binary: `/nonexistent/${missing}`, error: "ENOENT", count: 1 });
    expect(summary.events.exec_failed).toBe(failed.length);
    expect(r.stderr).toMatch(new RegExp(`failed exec .*/nonexistent/${missing} \\(ENOENT\\)`));
  });

  test("output paths are checked before the command starts; the command's exit code stays its own", () => {
    const marker = join(dir, unique("ran"));
    for (const option of ["--summary-json", "--events"]) {
      const r = vigil(["run", option, "/nonexistent/dir/out.json", "--", "sh", "-c", `touch ${marker}; exit 7`]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`vigil run: ${option} /nonexistent/dir/out.json: cannot write there (ENOENT)`);
      expect(existsSync(marker)).toBe(false);
    }
  });

  test("what cannot run is said plainly, before anything starts", () => {
    const d = vigil(["run", "--", "/tmp"]);
    expect(d.code).toBe(126);
    expect(d.stderr.trim()).toBe("vigil run: /tmp: not an executable file (a directory)");
    const nx = join(dir, unique("not-executable"));
    writeFileSync(nx, "#!/bin/sh\n");
    expect(vigil(["run", "--", nx]).stderr.trim()).toBe(`vigil run: ${nx}: not an executable file (no execute permission)`);
    expect(vigil(["run", "--", "no-such-command-anywhere"]).stderr.trim()).toBe("vigil run: command not found: no-such-command-anywhere");
    const size = vigil(["run", "--ring-size", "abc", "--", "true"]);
    expect(size.code).toBe(2);
    expect(size.stderr.trim()).toBe('vigil run: --ring-size: "abc" is not a size (e.g. 4096, 64K, 16M)');
  });

  test("--backend proc: the command's exec has its filename and argv, every time", () => {
    const events = join(dir, "proc-backend.jsonl");
    for (let i = 0; i < 5; i++) {
      expect(vigil(["run", "--quiet", "--backend", "proc", "--events", events, "--", "/bin/true"]).code).toBe(0);
      const exec = lines(events).find((e) => e.type === "exec")!;
      expect([exec.filename, exec.argv]).toEqual(["/usr/bin/true", ["/bin/true"]]);
    }
  });

  test("secrets on a command line never reach the events file; --no-redact keeps them", () => {
    const secret = `s3cr3t-${unique("tok")}`;
    const argv = ["/bin/echo", "-H", `Authorization: Bearer ${secret}`, "--password", secret, `API_TOKEN=${secret}`, `https://me:${secret}@example.invalid/`];
    const events = join(dir, "redact.jsonl");
    expect(vigil(["run", "--quiet", "--events", events, "--", ...argv]).code).toBe(0);
    const text = readFileSync(events, "utf8");
    expect(text).not.toContain(secret);
    const exec = lines(events).find((e) => e.type === "exec")!;
    expect(exec.argv).toEqual(["/bin/echo", "-H", "Authorization: Bearer [REDACTED]", "--password", "[REDACTED]", "API_TOKEN=[REDACTED]", "https://me:[REDACTED]@example.invalid/"]);
    expect(exec.redacted).toBe(4);
    const raw = join(dir, "no-redact.jsonl");
    expect(vigil(["run", "--quiet", "--no-redact", "--events", raw, "--", ...argv]).code).toBe(0);
    expect(lines(raw).find((e) => e.type === "exec")!.argv).toEqual(argv);
    const custom = join(dir, "redact-custom.jsonl");
    expect(vigil(["run", "--quiet", "--redact-pattern", "tenant-[0-9]+", "--events", custom, "--", "/bin/echo", "tenant-42"]).code).toBe(0);
    expect(lines(custom).find((e) => e.type === "exec")!.argv).toEqual(["/bin/echo", "[REDACTED]"]);
    expect(vigil(["run", "--redact-pattern", "(", "--", "true"]).stderr).toContain("--redact-pattern: not a regular expression");
  });

  test("--capture: the kinds left out are not reported, the rest and process events are", () => {
    const events = join(dir, "capture.jsonl");
    const missing = `/tmp/${unique("capture")}`;
    const summaryFile = join(dir, "capture-summary.json");
    const r = vigil(["run", "--capture", "connect", "--events", events, "--summary-json", summaryFile, "--", "sh", "-c", `cat ${missing} 2>/dev/null; exit 3`]);
    expect(r.code).toBe(3);
    expect(JSON.parse(readFileSync(summaryFile, "utf8")).captured).toEqual(["connect"]);
    // Not "0 opens": the summary says what it could not see.
    expect(r.stderr).toContain("files       not captured");
    const ev = lines(events);
    expect(ev.some((e) => e.type === "exec" && e.filename === "/usr/bin/cat")).toBe(true);
    expect(ev.some((e) => e.type === "exit" && e.exitCode === 3)).toBe(true);
    expect(ev.filter((e) => e.type === "open")).toEqual([]);
    const all = join(dir, "capture-all.jsonl");
    vigil(["run", "--quiet", "--events", all, "--", "sh", "-c", `cat ${missing} 2>/dev/null; exit 3`]);
    expect(lines(all).some((e) => e.type === "open" && e.path === missing)).toBe(true);
  });

  test("a missing command: one line, exit 127", () => {
    const r = vigil(["run", "--", "definitely-not-a-command-xyz"]);
    expect(r.code).toBe(127);
    expect(r.stderr.trim()).toBe("vigil run: command not found: definitely-not-a-command-xyz");
  });

  test("without privileges: one line naming the missing requirement, non-zero", () => {
    const r = vigil(["run", "--", "true"], { asNobody: true });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("privileges");
    expect(r.stderr).toContain("--backend proc");
  });

  test("without privileges, --backend proc falls back to the /proc poller (lower fidelity)", () => {
    const events = join(dir, "proc.jsonl");
    const r = vigil(["run", "--backend", "proc", "--quiet", "--events", events, "--", "sh", "-c", "sleep 0.3; exit 5"], { asNobody: true });
    expect(r.code).toBe(5);
    const ev = lines(events);
    const sleep = ev.find((e) => e.type === "exec" && (e.argv as string[])[0] === "sleep");
    expect(sleep).toBeDefined();
    expect(sleep!.lowFidelity).toBe(true);
    expect(ev.some((e) => e.type === "exit" && e.exitCode === 5)).toBe(true);
  });
});

describe("vigil run --policy", () => {
  test("deny connect (EPERM, the command goes on), kill on exec (the program never runs), findings in --summary-json", async () => {
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const tool = join(dir, "forbidden-touch");
    writeFileSync(tool, readFileSync("/usr/bin/touch"), { mode: 0o755 });
    const marker = join(dir, "run-touched");
    const policy = join(dir, "run-policy.yaml");
    writeFileSync(
      policy,
      `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: run }\nspec:\n  rules:\n    - name: no-listener\n      match: { event: connect, port: [${listener.port}] }\n      action: deny\n    - name: no-touch\n      match: { event: exec, binary: ["${tool}"] }\n      action: kill\n`,
    );
    const summary = join(dir, "policy-summary.json");
    try {
      const r = vigil(["run", "--policy", policy, "--summary-json", summary, "--", "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${listener.port}; echo "connect=$?"; ${tool} ${marker}; echo "touch=$?"; exit 4`]);
      expect(r.code).toBe(4);
      expect(r.stdout).toContain("connect=1");
      expect(r.stdout).toContain("touch=137");
      expect(r.stderr).toContain("Operation not permitted");
      expect(existsSync(marker)).toBe(false);
      const s = JSON.parse(readFileSync(summary, "utf8"));
      expect(s.findings.map((f: { rule: string; action: string; enforcement: string }) => [f.rule, f.action, f.enforcement])).toEqual([
        ["run/no-listener", "deny", "kernel"],
        ["run/no-touch", "kill", "kernel"],
      ]);
    } finally {
      listener.stop(true);
    }
  });

  test("a policy this machine cannot enforce, or a malformed one, is refused before the command runs", () => {
    const policy = join(dir, "bad-policy.yaml");
    const marker = join(dir, "never-ran");
    writeFileSync(policy, `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: bad }\nspec:\n  rules:\n    - name: ssh\n      match: { event: open, path: ["/root/.ssh/*"] }\n      action: deny\n    - name: typo\n      match: { event: exec, binray: ["/bin/sh"] }\n      action: alert\n`);
    const r = vigil(["run", "--policy", policy, "--", "touch", marker]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${policy}:10:`);
    expect(r.stderr).toContain("spec.rules[1].match.binray: unknown field");
    expect(existsSync(marker)).toBe(false);
    writeFileSync(policy, `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: bad }\nspec:\n  rules:\n    - name: ssh\n      match: { event: open, path: ["/root/.ssh/*"] }\n      action: deny\n`);
    const r2 = vigil(["run", "--policy", policy, "--", "touch", marker]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/:8:\d+: spec\.rules\[0\]\.action: deny on open is a Landlock allowlist: it takes notPath/);
    expect(existsSync(marker)).toBe(false);
  });
});
