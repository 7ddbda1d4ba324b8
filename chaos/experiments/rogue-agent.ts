/**
 * Simulated rogue coding agents while the machine is under CPU and memory
 * stress and an exec storm: every rogue step of every session is still
 * caught, and the connection out is still refused in the kernel.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../lab/daemon";
import { execStorm } from "../../lab/daemon";
import { runAdoptedSessions, type SessionsResult } from "../../loadtests/agents/sessions";
import { until } from "../../lab/until";
import { probe, type Experiment } from "../experiment";
import { daemonFor, readyProbe, requireStressNg, startStress } from "./common";

const AGENT = "chaos-rogue";
const POLICY = `apiVersion: vigil/v1
kind: Policy
metadata: { name: chaos }
spec:
  agents: ["chaos-*"]
  rules:
    - name: loopback-only
      match: { event: connect, notCidr: ["127.0.0.0/8", "::1/128"] }
      action: deny
    - name: cloud-credentials
      match: { event: open, path: ["**/.aws/credentials"] }
      action: alert
    - name: encoder
      match: { event: exec, binary: ["/usr/bin/base64"] }
      action: alert
`;
/** Each exfiltrate session reads the secret once, runs base64 once and connects out once. */
const RULES = ["chaos/loopback-only", "chaos/cloud-credentials", "chaos/encoder"];

interface Finding {
  rule: string;
  pid: number;
  enforcement: string;
  outcome: string;
}

let d: Daemon;
let sessions: SessionsResult | null = null;
let caught: Record<string, Finding[]> = {};

async function findings(): Promise<Finding[]> {
  const r = (await (await d.api(`/v1/findings?agent=${AGENT}&limit=1000`)).json()) as { findings: Finding[] };
  return r.findings;
}

export const rogueAgent: Experiment = {
  name: "rogue-agent-under-stress",
  title: "simulated coding agents with a rogue step (secret read, encoder, connection out) during stress-ng and an exec storm",
  hypothesis: "every session completes; each rogue step of each session is a finding; every connection out is refused in the kernel (EPERM); ready afterwards",
  async setup(ctx) {
    requireStressNg();
    const dir = join(ctx.dir, "policies");
    mkdirSync(dir);
    writeFileSync(join(dir, "chaos.yaml"), POLICY);
    d = await daemonFor(ctx, { VIGIL_POLICY_DIR: dir });
  },
  async steadyState(_ctx, phase) {
    const out = [await readyProbe(d, 5000)];
    if (phase === "after") {
      const n = sessions?.sessions ?? 0;
      out.push(probe("every session completed", sessions !== null && sessions.completed === n, sessions));
      for (const rule of RULES) {
        const hits = new Set((caught[rule] ?? []).map((f) => f.pid)).size;
        out.push(probe(`${rule}: one finding per session`, hits >= n, { sessions: n, processesCaught: hits }));
      }
      const connects = caught["chaos/loopback-only"] ?? [];
      const refused = connects.filter((f) => f.enforcement === "kernel" && f.outcome.includes("refused in the kernel (EPERM)")).length;
      out.push(probe("every connection out refused in the kernel", connects.length > 0 && refused === connects.length, { findings: connects.length, refused }));
    }
    return out;
  },
  async method(ctx) {
    const count = ctx.quick ? 5 : 20;
    const seconds = ctx.quick ? 20 : 60;
    const stress = startStress(ctx, seconds);
    const storm = execStorm(ctx.quick ? 2000 : 10_000);
    ctx.onRollback("stop the storm", () => void storm.kill("SIGKILL"));
    await Bun.sleep(500); // stress-ng's workers up before the first session
    const work = join(ctx.dir, "work");
    const secret = join(work, ".aws", "credentials");
    mkdirSync(join(work, ".aws"), { recursive: true });
    writeFileSync(secret, "[default]\naws_secret_access_key = not-a-real-key\n");
    ctx.onRollback("forget the agent", async () => void (await d.api(`/v1/agents/${AGENT}`, { method: "DELETE" })));
    sessions = await runAdoptedSessions({
      scenario: "exfiltrate",
      count,
      vars: { SECRET: secret },
      workdir: work,
      timeoutMs: seconds * 1000,
      adopt: async (pid) => {
        const r = await d.api("/v1/agents", { method: "POST", body: JSON.stringify({ name: AGENT, pid, contain: true }) });
        if (r.status !== 201) throw new Error(`adopting the agent: ${r.status} ${await r.text()}`);
      },
    });
    stress.kill("SIGKILL");
    storm.kill("SIGKILL");
    ctx.measure("sessions", sessions.sessions);
    ctx.measure("completed", sessions.completed);
    ctx.measure("sessionSeconds", Number(sessions.seconds.toFixed(2)));
    // Findings of the last session may still be on their way through the pipeline: wait for them, bounded.
    const all = (await until(async () => {
      const f = await findings();
      return RULES.every((r) => new Set(f.filter((x) => x.rule === r).map((x) => x.pid)).size >= count) ? f : undefined;
    }, 5000).catch(() => null)) ?? (await findings());
    caught = {};
    for (const f of all) (caught[f.rule] ??= []).push(f);
    for (const r of RULES) ctx.measure(`findings.${r}`, caught[r]?.length ?? 0);
  },
};
