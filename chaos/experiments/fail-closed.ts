/**
 * kill -9 of the service while a contained agent tries a denied connect in a
 * loop: enforcement is pinned (fail-closed), so no connect gets through while
 * no daemon runs; the restarted daemon takes the agent and the pins back with
 * one set of programs; a clean stop leaves nothing pinned.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../lab/daemon";
import { LOADED_PROGRAMS } from "../../lab/daemon";
import { PinDir } from "../../src/kernel/bpffs";
import { pinDirFor } from "../../src/service/vigil-service";
import { probe, type Experiment } from "../experiment";
import { daemonFor, programsSettleAt, readyProbe, settledVigilPrograms } from "./common";

const AGENT = "chaos-fc";
const RECOVER_MS = 10_000;

let d: Daemon;
let before = 0;
let listener: Bun.TCPSocketListener<undefined> | null = null;
let accepted = 0;
let agent: Bun.Subprocess | null = null;
let env: Record<string, string> = {};

async function agentKnown(): Promise<boolean> {
  const r = (await (await d.api("/v1/agents")).json()) as { agents: { name: string }[] };
  return r.agents.some((a) => a.name === AGENT);
}

export const failClosed: Experiment = {
  name: "fail-closed-kill-9",
  title: "kill -9 of the service while a contained agent tries a denied connect every 10 ms",
  hypothesis: `no denied connect gets through, before, during or after the outage; ready within ${RECOVER_MS} ms of the restart with the agent taken back and exactly one set of Vigil programs`,
  async setup(ctx) {
    before = await settledVigilPrograms();
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void accepted++, data() {} } });
    listener = l;
    ctx.onRollback("close the listener", () => l.stop(true));
    const dir = join(ctx.dir, "policies");
    mkdirSync(dir);
    writeFileSync(join(dir, "deny.yaml"), `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: chaos-fc }\nspec:\n  rules:\n    - name: no-listener\n      match: { event: connect, port: [${l.port}] }\n      action: deny\n`);
    env = { VIGIL_FAIL_CLOSED: "true", VIGIL_POLICY_DIR: dir };
    d = await daemonFor(ctx, env);
    agent = Bun.spawn(["python3", "-c", `import socket,time\nend=time.time()+120\nwhile time.time()<end:\n  s=socket.socket()\n  try: s.connect(("127.0.0.1",${l.port}))\n  except OSError: pass\n  s.close(); time.sleep(0.01)`], { stdout: "ignore", stderr: "ignore" });
    ctx.onRollback("stop the agent", () => void agent?.kill("SIGKILL"));
    const r = await d.api("/v1/agents", { method: "POST", body: JSON.stringify({ name: AGENT, pid: agent.pid, contain: true }) });
    if (r.status !== 201) throw new Error(`containing the agent failed: ${r.status} ${await r.text()}`);
    await Bun.sleep(200);
    accepted = 0; // connects before containment are not the experiment's
  },
  async steadyState(ctx, phase) {
    const out = [await readyProbe(d, 5000), probe("the agent is known", await agentKnown(), AGENT)];
    const mark = accepted;
    await Bun.sleep(500);
    out.push(probe("no denied connect gets through", accepted === 0, { accepted, inTheLast500ms: accepted - mark }));
    if (phase === "after") out.push(probe("exactly one set of Vigil programs", (await programsSettleAt(before + LOADED_PROGRAMS)) === before + LOADED_PROGRAMS, { before, loaded: LOADED_PROGRAMS }));
    ctx.measure(`accepted_${phase}`, accepted);
    return out;
  },
  async method(ctx) {
    const pins = new PinDir(pinDirFor(d.dataDir));
    ctx.measure("pinnedBeforeKill", pins.list().length);
    d.proc.kill("SIGKILL");
    await d.proc.exited;
    const atKill = accepted;
    await Bun.sleep(ctx.quick ? 1500 : 5000);
    ctx.measure("connectsThroughDuringOutage", accepted - atKill);
    ctx.measure("pinnedDuringOutage", pins.list().length);
    const t0 = Date.now();
    d = await daemonFor(ctx, env, d.dataDir);
    ctx.measure("readyAfterRestart", (await readyProbe(d, RECOVER_MS)).ok);
    ctx.measure("recoveryMs", Date.now() - t0);
  },
};
