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
