/**
 * Simulated coding-agent sessions (mock LLM, scripted tool calls: shell
 * commands, file reads and writes, a loopback HTTP call), as an agent user
 * runs them: wall time unobserved vs observed through the full pipeline
 * (observer, process tree, agent attribution, profiles), interleaved run by
 * run; what the sessions caused (tool calls, counted by the agents) against
 * what Vigil captured.
 */
import { Runtime } from "../src/runtime/runtime";
import { OwnedCgroup } from "../src/cgroup/cgroup";
import type { VigilEvent } from "../src/events/types";
import { ProfileBook } from "../src/profiles/profile-book";
import { runAgentSessions, type SessionsResult } from "../loadtests/agents/sessions";
import { loadScenario } from "../loadtests/agents/scenarios";
import { median, peakRssMiB, resetPeakRss, table, writeReport } from "./lib";

const SCENARIO = "refactor";

export async function benchAgents(quick: boolean): Promise<Record<string, unknown>> {
  const sessions = quick ? 8 : 40;
  const reps = quick ? 3 : 5;
  const service = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
  const vars = { SERVICE: `http://127.0.0.1:${service.port}` };
  const shellCommands = new Set(
    loadScenario(SCENARIO, vars).steps.flatMap((s) => ("toolCalls" in s ? s.toolCalls.filter((c) => c.name === "run_shell").map((c) => c.arguments.command) : [])),
  );
  const cg = OwnedCgroup.create(`bench-agents-${process.pid}`);
  const inCgroup = (argv: string[]) => cg.shellArgv('exec "$@"', ...argv);
  const run = () => runAgentSessions(SCENARIO, sessions, 2, vars, inCgroup);
  try {
    const base: number[] = [];
    const observed: number[] = [];
    let caused: SessionsResult | null = null;
    let captured = { shells: 0, connects: 0, events: 0 };
    let dropped = 0;
    let rss = 0;
    for (let r = 0; r < reps; r++) {
      const b = await run();
      if (b.completed !== sessions) throw new Error(`baseline: ${b.completed}/${sessions} sessions completed`);
      base.push(b.seconds * 1000);
      const rt = new Runtime({ observer: { syscalls: "aggregate", cgroupIds: [cg.id] } });
      rt.agents.register({ name: "bench-agent", cgroupId: cg.id });
      const pipeline = rt.pipeline;
      pipeline.addSink(new ProfileBook({ sensitivePaths: ["**/.aws/credentials"], onFinding: () => {} }));
      const mine = { shells: 0, connects: 0, events: 0 };
      const count = (e: VigilEvent) => {
        mine.events++;
        if (e.type === "exec" && e.filename === "/bin/sh" && e.argv[1] === "-c" && shellCommands.has(e.argv[2] ?? "")) mine.shells++;
        if (e.type === "connect" && e.port === service.port && e.agent === "bench-agent") mine.connects++;
      };
      pipeline.addSink({ name: "bench-count", write: count });
      const o = rt.observer;
      resetPeakRss();
      rt.start();
      try {
        const s = await run();
        observed.push(s.seconds * 1000);
        o.drain();
        dropped += o.stats().droppedTotal;
        caused = s;
      } finally {
        o.stop();
      }
      rss = Math.max(rss, peakRssMiB());
      captured = mine;
    }
    const b = median(base);
    const ob = median(observed);
    const overheadPct = ((ob - b) / b) * 100;
    const shellsCaused = caused?.byTool.run_shell ?? 0;
    const connectsCaused = caused?.byTool.http_get ?? 0;
    console.log(`\n## simulated agents: ${sessions} "${SCENARIO}" sessions (2 at a time; ${caused?.toolCalls ?? 0} tool calls), ${reps} runs each (median)\n`);
    console.log(
      table(
        ["setup", "wall ms", "overhead", "tool shells captured/caused", "loopback HTTP connects captured/caused", "events", "dropped", "peak RSS MiB"],
        [
          ["baseline (unobserved)", b, "-", "-", "-", "-", "-", "-"],
          ["vigil (aggregate, full pipeline)", ob, `${overheadPct.toFixed(1)}%`, `${captured.shells}/${shellsCaused}`, `${captured.connects}/${connectsCaused}`, captured.events, dropped, rss],
        ],
      ),
    );
    const result = { scenario: SCENARIO, sessions, reps, baselineMs: base, observedMs: observed, overheadPct, shellsCaptured: captured.shells, shellsCaused, connectsCaptured: captured.connects, connectsCaused, events: captured.events, dropped, peakRssMiB: rss };
    writeReport("agents", result);
    return result;
  } finally {
    service.stop(true);
    await cg.remove();
  }
}
