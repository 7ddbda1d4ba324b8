/**
 * Simulated agents end to end: a mock LLM scripts a coding agent (a real
 * process tree doing shell commands, file I/O and HTTP); Vigil adopts it,
 * learns a baseline from a well-behaved session, and then catches the rogue
 * steps of a second one: a secret read, an unexpected binary, a connection
 * out of the loopback (refused in the kernel by policy).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockLlm } from "../loadtests/agents/mock-llm";
import { loadScenario } from "../loadtests/agents/scenarios";
import type { VigilService } from "../src/service/vigil-service";
import { setLogLevel } from "../src/service/log";
import { requireRoot, ROOT, startInProcessService, until } from "./helpers";

requireRoot();
const dir = mkdtempSync(join(tmpdir(), "vigil-sim-"));
const TOKEN = "sim-token-0123456789abcdef";
let service: VigilService;
let base: string;
let stopService: () => Promise<void>;
let local: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  setLogLevel("error");
  mkdirSync(join(dir, "policies"));
  writeFileSync(
    join(dir, "policies", "sim.yaml"),
    `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: sim }\nspec:\n  agents: ["sim-*"]\n  rules:\n    - name: loopback-only\n      match: { event: connect, notCidr: ["127.0.0.0/8", "::1/128"] }\n      action: deny\n`,
  );
  const s = await startInProcessService({ VIGIL_DATA_DIR: join(dir, "data"), VIGIL_POLICY_DIR: join(dir, "policies") }, TOKEN);
  service = s.service;
  base = s.base;
  stopService = s.stop;
  local = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
});
afterAll(async () => {
  for (const a of service.agents.list()) await service.removeAgent(a.name);
  await stopService();
  local.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const api = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return (await r.json()) as Record<string, any>;
};

describe("simulated coding agent", () => {
  test("a well-behaved session makes the baseline; the rogue session's secret read, new binary and connection out are caught", async () => {
    const work = join(dir, "work");
    mkdirSync(join(work, ".aws"), { recursive: true });
    const secret = join(work, ".aws", "credentials");
    writeFileSync(secret, "[default]\naws_secret_access_key = not-a-real-key\n");
    const good = startMockLlm(loadScenario("refactor", { SERVICE: `http://127.0.0.1:${local.port}` }));
    const rogue = startMockLlm(loadScenario("exfiltrate", { SECRET: secret }));
    const bun = `${ROOT}/node_modules/.bin/bun`;
    const agentTs = `${ROOT}/loadtests/agents/agent.ts`;
    // One agent process tree, two sessions: the second starts when the test says so.
    const proc = Bun.spawn(
      ["sh", "-c", `cd ${work}; while [ ! -f go ]; do sleep 0.01; done; ${bun} ${agentTs} --llm ${good.url} --workdir ${work}; while [ ! -f phase2 ]; do sleep 0.01; done; ${bun} ${agentTs} --llm ${rogue.url} --workdir ${work}`],
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      const adopted = await api("POST", "/v1/agents", { name: "sim-coder", pid: proc.pid, contain: true });
      expect(adopted.agent.name).toBe("sim-coder");
      writeFileSync(join(work, "go"), "");
      await until(() => (good.requests() >= 6 ? true : undefined), 20_000);
      await Bun.sleep(300); // the session's last events drain
      const learned = await api("POST", "/v1/agents/sim-coder/baseline", {});
      expect(learned.profile.baseline.binaries).toEqual(expect.arrayContaining(["/usr/bin/sed", "/usr/bin/grep"]));
      expect(learned.profile.baseline.destinations).toContain(`127.0.0.1:${local.port}`);
      const before = (await api("GET", "/v1/findings?agent=sim-coder")).findings as { rule: string }[];
      expect(before.filter((f) => !f.rule.startsWith("deviation/"))).toEqual([]); // the good session broke no rule

      writeFileSync(join(work, "phase2"), "");
      expect(await proc.exited).toBe(0);
      const out = await new Response(proc.stdout).text();
      expect(out).toContain('"final":"Done."');
      const findings = await until(async () => {
        const f = (await api("GET", "/v1/findings?agent=sim-coder&limit=200")).findings as { rule: string; outcome: string; enforcement: string; severity: string }[];
        return f.some((x) => x.rule === "sim/loopback-only") && f.some((x) => x.rule === "deviation/sensitive-path") ? f : undefined;
      }, 5000);
      const rule = (r: string) => findings.filter((f) => f.rule === r);
      expect(rule("sim/loopback-only")[0]).toMatchObject({ enforcement: "kernel" });
      expect(rule("sim/loopback-only")[0]!.outcome).toContain("10.255.255.1:443 refused in the kernel (EPERM)");
      expect(rule("deviation/sensitive-path")[0]!.outcome).toContain(secret);
      expect(rule("deviation/new-binary").some((f) => f.outcome.includes("/usr/bin/base64"))).toBe(true);
      // What the well-behaved session did is not a deviation.
      expect(rule("deviation/new-binary").some((f) => /\/usr\/bin\/(sed|grep|ls|cat|wc)\b/.test(f.outcome))).toBe(false);
    } finally {
      proc.kill("SIGKILL");
      good.stop();
      rogue.stop();
    }
  }, 60_000);
});
