/**
 * Confinement for real: domain allowlists learned from DNS answers in the
 * kernel (a network namespace made here, with a DNS server in it and its own
 * resolv.conf), Landlock workspace allowlists, shadow mode.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeNetns, type TestNetns } from "../lab/netns";
import { LOADED_PROGRAMS, programsSettleAt, startDaemon, vigilPrograms } from "../lab/daemon";
import { PinDir } from "../src/kernel/bpffs";
import { GUARD_PROGRAMS } from "../src/enforce/kernel-enforcer";
import { pinDirFor } from "../src/service/vigil-service";
import { ROOT, requireRoot } from "./helpers";

requireRoot();
const dir = mkdtempSync(join(tmpdir(), "vigil-confine-"));
chmodSync(dir, 0o755);
const PORT = 8080;
const AGENT = `${ROOT}/loadtests/agents/dns_agent.py`;

let netns: TestNetns;
let dns: Bun.Subprocess<"ignore", "pipe", "pipe">;

beforeAll(async () => {
  netns = makeNetns(`vigil-t${process.pid}`);
  const records = ["allowed.test=127.0.0.2", "blocked.test=127.0.0.3", "edge.other.net=127.0.0.6"].flatMap((r) => ["--a", r]);
  dns = Bun.spawn([...netns.exec, process.execPath, `${ROOT}/lab/dns-server.ts`, "--port", "53", "--tcp-port", String(PORT), ...records, "--cname", "a.b.cdn.test=edge.other.net", "--ttl", "5"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = dns.stdout.getReader();
  const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
  reader.releaseLock();
  if (!first || first.done || !new TextDecoder().decode(first.value).includes("ready")) throw new Error(`the test's DNS server did not start: ${await new Response(dns.stderr).text()}`);
});

afterAll(() => {
  dns?.kill();
  netns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

function vigil(args: string[]) {
  const r = Bun.spawnSync([`${ROOT}/bin/vigil`, ...args], { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function lines(path: string): Record<string, unknown>[] {
  return readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

function policyFile(name: string, text: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

const ALLOWLIST = (mode = "") => `apiVersion: vigil/v1
kind: Policy
metadata: { name: egress }
spec:
${mode}  rules:
    - name: allowlist
      match: { event: connect, notDomain: ["allowed.test", "*.cdn.test"], notCidr: ["127.0.0.1/32"] }
      action: deny
`;

describe("domain allowlists (cgroup BPF, names learned from DNS answers)", () => {
  test("a name the agent resolved connects; a forbidden name, a literal address and a forged answer get EPERM", () => {
    const events = join(dir, "dns-events.jsonl");
    const summary = join(dir, "dns-summary.json");
    const r = vigil([
      "run", "--policy", policyFile("egress", ALLOWLIST()), "--events", events, "--summary-json", summary, "--",
      ...netns.exec, "python3", AGENT, String(PORT), "allowed.test", "blocked.test", "a.b.cdn.test", "127.0.0.4", "forge:allowed.test=127.0.0.7",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      "allowed.test 127.0.0.2 connected",
      "blocked.test 127.0.0.3 errno 1",
      // A CNAME chain is credited to the name asked, which *.cdn.test allows.
      "a.b.cdn.test 127.0.0.6 connected",
      "127.0.0.4 127.0.0.4 errno 1",
      // An answer to no query the agent sent teaches nothing.
      "forge:allowed.test=127.0.0.7 127.0.0.7 errno 1",
    ]);
    const connects = lines(events).filter((e) => e.type === "connect" && e.port === PORT);
    expect(connects.map((e) => [e.address, e.domain ?? null])).toEqual([
      ["127.0.0.2", "allowed.test"],
      ["127.0.0.3", "blocked.test"],
      ["127.0.0.6", "a.b.cdn.test"],
      ["127.0.0.4", null],
      ["127.0.0.7", null],
    ]);
    const s = JSON.parse(readFileSync(summary, "utf8"));
    expect(s.findings.map((f: { rule: string; event: { address: string }; domain?: string; mechanism?: string }) => [f.rule, f.event.address, f.domain ?? null, f.mechanism])).toEqual([
      ["egress/allowlist", "127.0.0.3", "blocked.test", "bpf"],
      ["egress/allowlist", "127.0.0.4", null, "bpf"],
      ["egress/allowlist", "127.0.0.7", null, "bpf"],
    ]);
    expect(s.dns.unsolicited).toBeGreaterThanOrEqual(1);
    expect(s.dns.learned).toBe(3);

    // An allowlist written from what the agent did: the names it reached (not the refused one), its resolver.
    const suggested = join(dir, "suggested.yaml");
    const sg = vigil(["policy", "suggest", "--agent", "ip", "--events", events, "--out", suggested]);
    expect(sg.code).toBe(0);
    const policy = Bun.YAML.parse(readFileSync(suggested, "utf8")) as { spec: { mode: string; rules: { name: string; match: Record<string, unknown>; action: string }[] } };
    expect(policy.spec.mode).toBe("shadow");
    const egress = policy.spec.rules.find((r) => r.name === "egress")!;
    expect(egress.match).toMatchObject({ event: "connect", notDomain: ["a.b.cdn.test", "allowed.test"], notCidr: ["127.0.0.1/32"] });
    expect(vigil(["policy", "validate", suggested]).code).toBe(0);
  });

  test("malformed domains are refused at load with the reason", () => {
    const bad = policyFile(
      "bad-domains",
      `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: bad }\nspec:\n  rules:\n    - name: d\n      match: { event: connect, notDomain: ["api.*.com", "ok.test"] }\n      action: deny\n`,
    );
    const r = vigil(["run", "--policy", bad, "--", "true"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("spec.rules[0].match.notDomain[0]: domain api.*.com: a wildcard is allowed only as the first label");
  });
});

describe("workspace allowlists (Landlock, applied by the launcher before the command's first instruction)", () => {
  const WORKSPACE_POLICY = (mode = "") => `apiVersion: vigil/v1
kind: Policy
metadata: { name: workspace }
spec:
${mode}  rules:
    - name: writes-in-workspace
      match: { event: open, access: write, notPath: ["\${WORKSPACE}/**", "/dev/null"] }
      action: deny
`;
  // Absolute paths: a relative one is resolved through /proc, which a process that has exited no longer has.
  const script = (outside: string) => `echo a > "$PWD/inside.txt" && echo inside=ok; (echo b > ${outside}/x) 2>/dev/null || echo outside=refused; mkdir ${outside}/d 2>/dev/null || echo mkdir=refused; echo c > /dev/null && echo devnull=ok; cat /etc/hostname > /dev/null && echo read=ok`;

  test("writes outside the workspace fail with EACCES, for the whole tree; each refused open is an event and a finding", () => {
    const ws = mkdtempSync(join(dir, "ws-"));
    const outside = mkdtempSync(join(dir, "outside-"));
    const events = join(dir, "ll-events.jsonl");
    const summary = join(dir, "ll-summary.json");
    const r = vigil(["run", "--policy", policyFile("workspace", WORKSPACE_POLICY()), "--workspace", ws, "--events", events, "--summary-json", summary, "--", "sh", "-c", `cd ${ws} && ${script(outside)}`]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["inside=ok", "outside=refused", "mkdir=refused", "devnull=ok", "read=ok"]);
    expect(readFileSync(join(ws, "inside.txt"), "utf8")).toBe("a\n");
    const refused = lines(events).filter((e) => e.type === "open" && e.ret === -13);
    expect(refused.map((e) => e.path)).toEqual([`${outside}/x`]);
    const s = JSON.parse(readFileSync(summary, "utf8"));
    expect(s.findings.map((f: { rule: string; enforcement: string; mechanism: string; event: { path: string } }) => [f.rule, f.enforcement, f.mechanism, f.event.path])).toEqual([
      ["workspace/writes-in-workspace", "kernel", "landlock", `${outside}/x`],
    ]);
  });

  test("shadow mode: the same rule only reports (would-deny), nothing is refused", () => {
    const ws = mkdtempSync(join(dir, "ws-"));
    const outside = mkdtempSync(join(dir, "outside-"));
    const summary = join(dir, "shadow-summary.json");
    const r = vigil(["run", "--policy", policyFile("shadow", WORKSPACE_POLICY("  mode: shadow\n")), "--workspace", ws, "--summary-json", summary, "--", "sh", "-c", `cd ${ws} && ${script(outside)}`]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["inside=ok", "devnull=ok", "read=ok"]);
    const s = JSON.parse(readFileSync(summary, "utf8"));
    expect(s.findings.map((f: { outcome: string; enforcement: string; event: { path: string } }) => [f.outcome, f.enforcement, f.event.path])).toEqual([["would-deny", "none", `${outside}/x`]]);
  });

  test("a deny Landlock cannot express is refused at load, with the reason", () => {
    const deny = (match: string) => policyFile("bad-ll", `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: bad }\nspec:\n  rules:\n    - name: r\n      match: ${match}\n      action: deny\n`);
    const beneath = vigil(["run", "--policy", deny(`{ event: open, path: ["/root/.ssh/**"] }`), "--", "true"]);
    expect(beneath.code).toBe(2);
    expect(beneath.stderr).toContain("Landlock grants access beneath paths and cannot deny beneath one");
    const glob = vigil(["run", "--policy", deny(`{ event: open, notPath: ["/tmp/*.txt"] }`), "--", "true"]);
    expect(glob.code).toBe(2);
    expect(glob.stderr).toContain("spec.rules[0].match.notPath[0]: /tmp/*.txt: Landlock grants access beneath a directory or to one file");
  });
});

describe("vigil run fails closed", () => {
  test("when Vigil is killed (SIGKILL), the command's tree is killed with its cgroup, and nothing is left behind", async () => {
    const marker = `vigil-failclosed-${process.pid}`;
    const run = Bun.spawn([`${ROOT}/bin/vigil`, "run", "--quiet", "--", "sh", "-c", `echo started; exec -a ${marker} sleep 300`], { stdout: "pipe", stderr: "pipe" });
    const reader = run.stdout.getReader();
    const first = await Promise.race([reader.read(), Bun.sleep(20_000).then(() => null)]);
    expect(first && !first.done && new TextDecoder().decode(first.value)).toContain("started");
    const running = () => Bun.spawnSync(["pgrep", "-f", marker]).stdout.toString().trim();
    expect(running()).not.toBe("");
    const cgroups = () => Bun.spawnSync(["sh", "-c", `ls /sys/fs/cgroup/unified/vigil 2>/dev/null | grep -c '^run-${run.pid}-' || true`]).stdout.toString().trim();
    expect(cgroups()).toBe("1");
    run.kill("SIGKILL");
    await run.exited;
    // The guard acts on its own clock; bounded wait for it.
    for (let i = 0; i < 100 && (running() !== "" || cgroups() !== "0"); i++) await Bun.sleep(50);
    expect(running()).toBe("");
    expect(cgroups()).toBe("0");
  });
});

describe("the service fails closed (enforcement pinned in bpffs)", () => {
  test("kill -9 while a contained agent tries a denied connect in a loop: none gets through; a restart takes the agent and the pins back, one set of programs; a clean stop releases them", async () => {
    const before = await programsSettleAt(0, 3000);
    const accepted = { n: 0 };
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void accepted.n++, data() {} } });
    const policyDir = mkdtempSync(join(dir, "fc-policies-"));
    writeFileSync(join(policyDir, "deny.yaml"), `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: fc }\nspec:\n  rules:\n    - name: no-listener\n      match: { event: connect, port: [${listener.port}] }\n      action: deny\n`);
    const dataDir = mkdtempSync(join(dir, "fc-data-"));
    const env = { VIGIL_FAIL_CLOSED: "true", VIGIL_POLICY_DIR: policyDir };
    // The agent: a connect every 10 ms for at most 60 s, counting what it got.
    const agent = Bun.spawn(["python3", "-c", `import socket,time\nend=time.time()+60\nwhile time.time()<end:\n  s=socket.socket()\n  try: s.connect(("127.0.0.1",${listener.port}))\n  except OSError: pass\n  s.close(); time.sleep(0.01)`], { stdout: "ignore", stderr: "ignore" });
    let d = await startDaemon(dataDir, env);
    try {
      expect((await d.api("/v1/agents", { method: "POST", body: JSON.stringify({ name: "fc-agent", pid: agent.pid, contain: true }) })).status).toBe(201);
      await Bun.sleep(300);
      // Connects before the agent was contained went through; from here on, none may.
      const contained = accepted.n;
      await Bun.sleep(300);
      expect(accepted.n).toBe(contained);
      const pins = new PinDir(pinDirFor(dataDir));
      expect(pins.list().filter((n) => n.startsWith("link-"))).toHaveLength(1 + GUARD_PROGRAMS.length);
      d.proc.kill("SIGKILL");
      await d.proc.exited;
      const outageStart = accepted.n;
      await Bun.sleep(1500); // the outage: ~150 connects tried
      expect(accepted.n - outageStart).toBe(0);
      // Still in force with no daemon: the exec hook and the agent's guards, held by their pins.
      expect(vigilPrograms()).toBeGreaterThanOrEqual(before + 1 + GUARD_PROGRAMS.length);
      d = await startDaemon(dataDir, env);
      const agents = (await (await d.api("/v1/agents")).json()) as { agents: { name: string }[] };
      expect(agents.agents.map((a) => a.name)).toContain("fc-agent");
      expect(await programsSettleAt(before + LOADED_PROGRAMS, 5000)).toBe(before + LOADED_PROGRAMS);
      expect(pins.list().filter((n) => n.startsWith("link-"))).toHaveLength(1 + GUARD_PROGRAMS.length);
      await Bun.sleep(300);
      expect(accepted.n).toBe(contained);
      expect(await d.stop()).toBe(0);
      expect(pins.list()).toEqual([]);
      expect(await programsSettleAt(before, 5000)).toBe(before);
    } finally {
      agent.kill("SIGKILL");
      if (d.proc.exitCode === null && d.proc.signalCode === null) await d.stop();
      listener.stop(true);
    }
  }, 60_000);
});
