/** A policy file corrupted during hot reload, under a connect storm: the old rules keep enforcing. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, readyProbe } from "./common";

let d: Daemon;
let listener: import("bun").TCPSocketListener<undefined>;
let accepted = 0;
let policyFile = "";
let result = "";

const policy = (port: number) =>
  `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: chaos }\nspec:\n  rules:\n    - name: no-listener\n      match: { event: connect, port: [${port}] }\n      action: deny\n`;

export const policyCorrupt: Experiment = {
  name: "policy-corrupt-during-reload",
  title: "the policy file is corrupted (garbage, then a truncated half) while an agent storms a denied port",
  hypothesis: "every connect to the denied port is refused (0 accepted); the corrupt versions are rejected; the service stays ready",
  async setup(ctx) {
    listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => { accepted++; s.end(); }, data() {} } });
    ctx.onRollback("close the listener", () => listener.stop(true));
    const dir = join(ctx.dir, "policies");
    mkdirSync(dir);
    policyFile = join(dir, "chaos.yaml");
    writeFileSync(policyFile, policy(listener.port));
    d = await daemonFor(ctx, { VIGIL_POLICY_DIR: dir });
  },
  async steadyState(_ctx, phase) {
    const out = [await readyProbe(d, 5000)];
    const p = (await (await d.api("/v1/policies")).json()) as { rules: { name: string }[]; directory: { rejected: number } };
    out.push(probe("the deny rule is in force", p.rules.some((r) => r.name === "no-listener"), p.rules.length));
    if (phase === "after") {
      out.push(probe("no connect to the denied port got through", accepted === 0 && result.startsWith("ok=0 "), { accepted, result }));
      out.push(probe("corrupt versions rejected", p.directory.rejected >= 2, p.directory.rejected));
    }
    return out;
  },
  async method(ctx) {
    const n = 50_000; // an upper bound: the storm stops when the method says so
    const stop = join(ctx.dir, "stop");
    const agent = Bun.spawn(
      ["bash", "-c", `while [ ! -f ${ctx.dir}/go ]; do sleep 0.01; done; ok=0; no=0; for i in $(seq 1 ${n}); do [ -f ${stop} ] && break; if (exec 3<>/dev/tcp/127.0.0.1/${listener.port}) 2>/dev/null; then ok=$((ok+1)); else no=$((no+1)); fi; done; echo "ok=$ok refused=$no"`],
      { stdout: "pipe", stderr: "ignore" },
    );
    ctx.onRollback("stop the agent", () => void agent.kill("SIGKILL"));
    const r = await d.api("/v1/agents", { method: "POST", body: JSON.stringify({ name: "chaos-agent", pid: agent.pid, contain: true }) });
    ctx.measure("agentAdopted", r.status === 201);
    writeFileSync(join(ctx.dir, "go"), "");
    const text = policy(listener.port);
    const versions = ["\u0000\u0001 not yaml: [[[", text.slice(0, Math.floor(text.length / 2)), text];
    // Each version stays long enough for the watcher (200 ms debounce) to load it.
    const rounds = ctx.quick ? 2 : 6;
    let i = 0;
    for (; i < rounds * versions.length && agent.exitCode === null; i++) {
      writeFileSync(policyFile, versions[i % versions.length]!);
      await Bun.sleep(400);
    }
    writeFileSync(policyFile, text);
    writeFileSync(stop, "");
    result = (await new Response(agent.stdout).text()).trim();
    ctx.measure("agentResult", result);
    ctx.measure("policyWrites", i);
  },
};
