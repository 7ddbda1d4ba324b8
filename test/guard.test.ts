/**
 * Policies, enforcement, interventions, profiles and spans against the real
 * kernel: a service in this process (port 0, whole-machine observer) and
 * agents the test starts itself.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { VigilService } from "../src/service/vigil-service";
import { requireRoot, startInProcessService, until } from "./helpers";
import { setLogLevel } from "../src/service/log";

requireRoot();
const dir = mkdtempSync(join(tmpdir(), "vigil-guard-"));
const policyDir = join(dir, "policies");
mkdirSync(policyDir);
const TOKEN = "guard-token-0123456789abcdef";
let service: VigilService;
let base: string;
let stopService: () => Promise<void>;
let listener: import("bun").TCPSocketListener<undefined>;
let accepted = 0;
const children: Subprocess[] = [];

const policy = (extra = "", port = 0) => `apiVersion: vigil/v1
kind: Policy
metadata: { name: guard }
spec:
  agents: ["storm-*", "kill-*"]
  rules:
    - name: no-listener
      match: { event: connect, port: [${port}] }
      action: deny
${extra}`;

beforeAll(async () => {
  setLogLevel("error"); // every enforcement is logged; the storm would flood the test output
  listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => { accepted++; s.end(); }, data() {} } });
  writeFileSync(join(policyDir, "guard.yaml"), policy("", listener.port));
  const s = await startInProcessService({ VIGIL_DATA_DIR: join(dir, "data"), VIGIL_POLICY_DIR: policyDir }, TOKEN, (c) => (c.policies.reloadDebounceMs = 20));
  service = s.service;
  base = s.base;
  stopService = s.stop;
});
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  for (const a of service.agents.list()) await service.removeAgent(a.name);
  await stopService();
  listener.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
const api = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${base}${path}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

/** A shell the test owns, waiting for `go` in its work dir before running `script`. */
function agentShell(name: string, script: string): { proc: Subprocess; work: string; go: () => void } {
  const work = join(dir, name);
  mkdirSync(work, { recursive: true });
  const proc = Bun.spawn(["bash", "-c", `cd ${work}; while [ ! -f go ]; do sleep 0.01; done; ${script}`], { stdout: "pipe", stderr: "pipe" });
  children.push(proc);
  return { proc, work, go: () => writeFileSync(join(work, "go"), "") };
}

describe("policies from a watched directory", () => {
  test("deny connect: refused in the kernel with EPERM, the process lives on", async () => {
    const a = agentShell("kill-connect", `exec 3<>/dev/tcp/127.0.0.1/${listener.port}; echo "rc=$?"; echo alive`);
    expect((await api("POST", "/v1/agents", { name: "kill-connect", pid: a.proc.pid, contain: true })).status).toBe(201);
    const before = accepted;
    a.go();
    expect(await a.proc.exited).toBe(0);
    const out = await new Response(a.proc.stdout as ReadableStream).text();
    const err = await new Response(a.proc.stderr as ReadableStream).text();
    expect(out).toContain("rc=1");
    expect(out).toContain("alive");
    expect(err).toContain("Operation not permitted");
    expect(accepted).toBe(before);
    const f = await until(async () => {
      const r = await api("GET", "/v1/findings?agent=kill-connect");
      return r.body.findings.length ? r.body.findings : undefined;
    });
    expect(f[0]).toMatchObject({ rule: "guard/no-listener", action: "deny", enforcement: "kernel", agent: "kill-connect" });
    expect(f[0].outcome).toContain("EPERM");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/vigil_findings_total\{rule="guard\/no-listener",action="deny",severity="high",enforcement="kernel"\} [1-9]/);
    expect(metrics).toMatch(/vigil_policy_rules\{where="kernel_connect"\} 1/);
  });

  test("GET /v1/profiles/:id/policy suggests an allowlist in shadow mode from what the agent did", async () => {
    const a = agentShell("suggest-1", "cat /etc/hostname > \"$PWD/out.txt\"; echo done");
    expect((await api("POST", "/v1/agents", { name: "suggest-1", pid: a.proc.pid, contain: true })).status).toBe(201);
    expect((await api("GET", "/v1/profiles/nobody/policy")).status).toBe(404);
    a.go();
    expect(await a.proc.exited).toBe(0);
    const r = await until(async () => {
      const s = await api("GET", "/v1/profiles/suggest-1/policy");
      return s.status === 200 && String(s.body.policy).includes("/usr/bin/cat") && String(s.body.policy).includes("writes") ? s : undefined;
    }, 5000);
    const policy = Bun.YAML.parse(r.body.policy) as { spec: { mode: string; agents: string[]; rules: { name: string; match: Record<string, unknown> }[] } };
    expect(policy.spec).toMatchObject({ mode: "shadow", agents: ["suggest-1"] });
    const writes = policy.spec.rules.find((x) => x.name === "writes")!;
    expect(writes.match.notPath).toContain(`${a.work}/**`);
    expect((await api("POST", "/v1/policies/validate", { yaml: r.body.policy, file: "suggested.yaml" })).body.valid).toBe(true);
  });

  test("hot reload under a connect storm never lets a denied call through; an invalid file is rejected and the old rules keep enforcing", async () => {
    const N = 1500;
    const a = agentShell(
      "storm-1",
      `ok=0; refused=0; for i in $(seq 1 ${N}); do if (exec 3<>/dev/tcp/127.0.0.1/${listener.port}) 2>/dev/null; then ok=$((ok+1)); else refused=$((refused+1)); fi; done; echo "ok=$ok refused=$refused"`,
    );
    expect((await api("POST", "/v1/agents", { name: "storm-1", pid: a.proc.pid, contain: true })).status).toBe(201);
    const before = accepted;
    const switches0 = service.guard.switches;
    a.go();
    let reloads = 0;
    let invalid = 0;
    const deadline = Date.now() + 20_000;
    while (a.proc.exitCode === null && Date.now() < deadline) {
      reloads++;
      // Every few reloads an invalid file: it must be rejected while the last good set stays in force.
      const text = reloads % 5 === 0 ? policy(`    - name: broken\n      match: { event: open, path: ["/x"] }\n      action: explode\n`, listener.port) : policy(`    - name: alert-${reloads}\n      match: { event: connect, port: [${10000 + reloads}] }\n      action: alert\n`, listener.port);
      if (reloads % 5 === 0) invalid++;
      writeFileSync(join(policyDir, "guard.yaml"), text);
      service.policies!.load();
      await Bun.sleep(15);
    }
    expect(await a.proc.exited).toBe(0);
    const out = await new Response(a.proc.stdout as ReadableStream).text();
    expect(out.trim()).toBe(`ok=0 refused=${N}`);
    expect(accepted).toBe(before);
    expect(reloads).toBeGreaterThan(10);
    expect(service.guard.switches - switches0).toBeGreaterThanOrEqual(reloads - invalid - 1);
    expect(service.policies!.status().rejected).toBeGreaterThanOrEqual(1);
    // One finding per refused connect, each decided in the kernel (none reported twice or as unenforced).
    // The last decisions may still be in the ring when the agent exits: wait for them (bounded).
    const stormFindings = () => service.store.queryRecords<{ enforcement: string; outcome: string }>("finding", { agent: "storm-1", limit: 5000 }).records;
    await until(() => (stormFindings().length >= N ? true : undefined), 3000).catch(() => undefined);
    const findings = stormFindings();
    expect(findings.length).toBe(N);
    expect(findings.every((f) => f.enforcement === "kernel")).toBe(true);
    // Put the plain policy back for the tests that follow.
    writeFileSync(join(policyDir, "guard.yaml"), policy("", listener.port));
    expect(service.policies!.load().ok).toBe(true);
  }, 30_000);

  test("kill on exec: SIGKILL before the new program runs a single instruction; the finding is on the SSE stream", async () => {
    const stream = await fetch(`${base}/v1/events/stream?type=finding&agent=kill-exec`, { headers: auth });
    const reader = stream.body!.getReader();
    const tool = join(dir, "forbidden-touch");
    writeFileSync(tool, readFileSync("/usr/bin/touch"), { mode: 0o755 });
    writeFileSync(
      join(policyDir, "guard.yaml"),
      policy(`    - name: no-touch\n      match: { event: exec, binary: ["${tool}"] }\n      action: kill\n`, listener.port),
    );
    expect(service.policies!.load()).toMatchObject({ ok: true, changed: true });
    const marker = join(dir, "touched");
    const a = agentShell("kill-exec", `${tool} ${marker}; echo "rc=$?"`);
    expect((await api("POST", "/v1/agents", { name: "kill-exec", pid: a.proc.pid })).status).toBe(201);
    a.go();
    await a.proc.exited;
    expect(await new Response(a.proc.stdout as ReadableStream).text()).toContain("rc=137");
    expect(existsSync(marker)).toBe(false);
    const f = await until(async () => (await api("GET", "/v1/findings?agent=kill-exec&rule=guard/no-touch")).body.findings[0]);
    expect(f).toMatchObject({ action: "kill", enforcement: "kernel" });
    let text = "";
    const deadline = Date.now() + 2000;
    while (!text.includes("event: finding") && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toContain("event: finding");
    expect(text).toContain('"rule":"guard/no-touch"');
  });

  test("POST /v1/policies/validate locates every problem; deny on open is refused with the kernel's reason", async () => {
    const yaml = `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: p }\nspec:\n  rules:\n    - name: ssh\n      match: { event: open, path: ["/root/.ssh/*"] }\n      action: deny\n    - name: net\n      match: { event: connect, cidr: ["10.0.0.0/40"] }\n      action: alert\n`;
    const r = await api("POST", "/v1/policies/validate", { yaml, file: "p.yaml" });
    expect(r.status).toBe(200);
    expect(r.body.valid).toBe(false);
    const [deny, cidr] = r.body.problems;
    expect(deny).toMatchObject({ file: "p.yaml", line: 8, path: "spec.rules[0].action" });
    expect(deny.message).toMatch(/BPF LSM/);
    expect(cidr).toMatchObject({ line: 10, path: "spec.rules[1].match.cidr[0]" });
    const ok = await api("POST", "/v1/policies/validate", { yaml: policy("", 9) });
    expect(ok.body).toMatchObject({ valid: true, problems: [] });
  });

  test("dry-run replays an event log and reports what the policy would have done", async () => {
    const events = [
      { type: "exec", pid: 10, comm: "sh", ts: 1, agent: "storm-x", filename: "/usr/bin/curl", argv: ["curl", "http://example"] },
      { type: "connect", pid: 10, comm: "curl", ts: 2, agent: "storm-x", address: "93.184.216.34", port: 443, ret: 0 },
      { type: "connect", pid: 10, comm: "curl", ts: 3, agent: "storm-x", address: "127.0.0.1", port: 5432, ret: 0 },
      "not json",
    ]
      .map((e) => (typeof e === "string" ? e : JSON.stringify(e)))
      .join("\n");
    const yaml = `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: dry }\nspec:\n  rules:\n    - name: loopback-only\n      match: { event: connect, notCidr: ["127.0.0.0/8", "::1/128"] }\n      action: deny\n    - name: db\n      match: { event: connect, port: [5432] }\n      action: alert\n    - name: curl\n      match: { event: exec, binary: ["/usr/bin/curl"] }\n      action: alert\n`;
    const r = await api("POST", "/v1/policies/dry-run", { yaml, events });
    expect(r.status).toBe(200);
    expect(r.body.byRule).toEqual({
      "dry/loopback-only": { action: "deny", enforcement: "kernel", count: 1 },
      "dry/db": { action: "alert", enforcement: "none", count: 1 },
      "dry/curl": { action: "alert", enforcement: "none", count: 1 },
    });
    expect(r.body.skipped).toEqual([{ line: 4, reason: "not JSON" }]);
    const bad = await api("POST", "/v1/policies/dry-run", { yaml: "kind: Nope", events });
    expect(bad.status).toBe(422);
  });
});

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

describe("interventions and profiles", () => {
  test("freeze stops a busy agent, thaw resumes it; both audited", async () => {
    const busy = Bun.spawn(["bash", "-c", "while :; do :; done"]);
    children.push(busy);
    expect((await api("POST", "/v1/agents", { name: "busy", pid: busy.pid, contain: true })).status).toBe(201);
    await Bun.sleep(100);
    expect((await api("POST", "/v1/agents/busy/freeze", { reason: "test" })).status).toBe(200);
    const t0 = cpuTicks(busy.pid);
    await Bun.sleep(400);
    expect(cpuTicks(busy.pid)).toBe(t0);
    expect((await api("POST", "/v1/agents/busy/thaw", {})).status).toBe(200);
    await Bun.sleep(400);
    expect(cpuTicks(busy.pid)).toBeGreaterThan(t0);
    const audit = (await api("GET", "/v1/audit?agent=busy")).body.audit;
    expect(audit.map((x: { action: string }) => x.action)).toEqual(["thaw", "freeze"]);
    expect(audit[1]).toMatchObject({ actor: "api", reason: "test", ok: true });
    expect((await api("POST", "/v1/agents/busy/kill", {})).status).toBe(200);
    expect(await busy.exited).not.toBe(0);
  });

  test("freeze of an agent without a Vigil cgroup is refused, not attempted elsewhere", async () => {
    const p = Bun.spawn(["sleep", "5"]);
    children.push(p);
    await api("POST", "/v1/agents", { name: "loose", pid: p.pid });
    const r = await api("POST", "/v1/agents/loose/freeze", {});
    expect(r.status).toBe(409);
    expect(r.body.message).toContain("no cgroup of Vigil's own");
  });

  test("a baseline, then a new binary and a sensitive path: deviation findings with a severity", async () => {
    const secret = join(dir, ".aws", "credentials");
    mkdirSync(join(dir, ".aws"), { recursive: true });
    writeFileSync(secret, "x");
    const a = agentShell("learner", `/usr/bin/id >/dev/null; cat /etc/hostname >/dev/null; while [ ! -f phase2 ]; do sleep 0.01; done; /usr/bin/uname >/dev/null; cat ${secret} >/dev/null`);
    expect((await api("POST", "/v1/agents", { name: "learner", pid: a.proc.pid })).status).toBe(201);
    a.go();
    await until(() => service.profiles.get("learner")?.binaries["/usr/bin/id"], 2000);
    await Bun.sleep(100);
    const b = await api("POST", "/v1/agents/learner/baseline", {});
    expect(b.body.profile.state).toBe("baselined");
    expect(b.body.profile.baseline.binaries).toContain("/usr/bin/id");
    writeFileSync(join(a.work, "phase2"), "");
    await a.proc.exited;
    const findings = await until(async () => {
      const f = (await api("GET", "/v1/findings?agent=learner")).body.findings as { rule: string; severity: string; outcome: string }[];
      return f.some((x) => x.rule === "deviation/sensitive-path") && f.some((x) => x.rule === "deviation/new-binary") ? f : undefined;
    }, 2000);
    expect(findings.find((x) => x.rule === "deviation/new-binary")!.outcome).toContain("/usr/bin/uname");
    expect(findings.find((x) => x.rule === "deviation/sensitive-path")!.severity).toBe("high");
    expect(findings.some((x) => x.rule === "deviation/new-binary" && x.outcome.includes("/usr/bin/id"))).toBe(false);
    const prof = (await api("GET", "/v1/profiles/learner")).body.profile;
    expect(Object.keys(prof.syscalls).length).toBeGreaterThan(0);
    expect(prof.tree.processes).toBeGreaterThan(1);
  });

  test("spans: events inside a tool-call span carry it, events outside do not", async () => {
    const a = agentShell("spanned", `/usr/bin/id >/dev/null; while [ ! -f step2 ]; do sleep 0.01; done; /usr/bin/uname >/dev/null; touch step2-done; while [ ! -f step3 ]; do sleep 0.01; done; /usr/bin/hostname >/dev/null`);
    expect((await api("POST", "/v1/agents", { name: "spanned", pid: a.proc.pid })).status).toBe(201);
    a.go();
    await until(() => service.profiles.get("spanned")?.binaries["/usr/bin/id"], 2000);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    expect((await api("POST", "/v1/agents/spanned/spans", { name: "run_shell", traceparent })).status).toBe(201);
    writeFileSync(join(a.work, "step2"), "");
    await until(() => (existsSync(join(a.work, "step2-done")) ? true : undefined), 2000);
    await Bun.sleep(50);
    expect((await api("DELETE", "/v1/agents/spanned/spans/00f067aa0ba902b7")).status).toBe(200);
    writeFileSync(join(a.work, "step3"), "");
    await a.proc.exited;
    const execs = await until(async () => {
      const ev = (await api("GET", "/v1/events?agent=spanned&type=exec&order=asc")).body.events as { filename: string; span?: { traceId: string; spanId: string; name: string } }[];
      return ev.some((e) => e.filename === "/usr/bin/hostname") ? ev : undefined;
    }, 2000);
    const span = (f: string) => execs.find((e) => e.filename === f)?.span;
    expect(span("/usr/bin/uname")).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", name: "run_shell" });
    expect(span("/usr/bin/id")).toBeUndefined();
    expect(span("/usr/bin/hostname")).toBeUndefined();
    expect((await api("POST", "/v1/agents/spanned/spans", { name: "x", traceparent: "00-zz-11-01" })).status).toBe(400);
  });
});
