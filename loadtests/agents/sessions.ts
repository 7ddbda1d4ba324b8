/**
 * Simulated agent sessions, as the load, chaos and bench suites use them:
 *  - `runAgentSessions`: `count` runs of a scenario, `concurrency` at a time,
 *    each in a work dir of its own, against one mock LLM (background load;
 *    `wrap` puts each agent in a cgroup, for the bench);
 *  - `runAdoptedSessions`: one agent process tree that a daemon adopts (and
 *    contains) before its first step, running sessions one after the other,
 *    so policies for that agent apply to every step.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../lab/daemon";
import type { AgentRun } from "./agent";
import { startMockLlm } from "./mock-llm";
import { loadScenario } from "./scenarios";

const BUN = `${ROOT}/node_modules/.bin/bun`;
const AGENT = `${ROOT}/loadtests/agents/agent.ts`;

export interface SessionsResult {
  scenario: string;
  sessions: number;
  completed: number;
  toolCalls: number;
  /** Tool calls by tool, summed over the completed sessions. */
  byTool: Record<string, number>;
  seconds: number;
}

function tally(result: SessionsResult, line: string | undefined): void {
  const run = JSON.parse(line ?? "{}") as Partial<AgentRun>;
  if (run.final === undefined) return;
  result.completed++;
  result.toolCalls += run.toolCalls ?? 0;
  for (const [k, n] of Object.entries(run.byTool ?? {})) result.byTool[k] = (result.byTool[k] ?? 0) + n;
}

export async function runAgentSessions(
  scenario: string,
  count: number,
  concurrency: number,
  vars: Record<string, string>,
  wrap: (argv: string[]) => string[] = (argv) => argv,
): Promise<SessionsResult> {
  const llm = startMockLlm(loadScenario(scenario, vars));
  const dir = mkdtempSync(join(tmpdir(), "vigil-agents-"));
  const result: SessionsResult = { scenario, sessions: count, completed: 0, toolCalls: 0, byTool: {}, seconds: 0 };
  let next = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const p = Bun.spawn(wrap([BUN, AGENT, "--llm", llm.url, "--workdir", join(dir, `s${i}`)]), { stdout: "pipe", stderr: "ignore" });
          const out = await new Response(p.stdout).text();
          if ((await p.exited) === 0) tally(result, out.trim().split("\n").at(-1));
        }
      }),
    );
  } finally {
    llm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/**
 * `count` sessions of a scenario in one process tree, started only once
 * `adopt(pid)` has returned (the tree waits for a file before its first
 * step). Bounded by `timeoutMs`: the tree is killed after it.
 */
export async function runAdoptedSessions(opts: {
  scenario: string;
  count: number;
  vars: Record<string, string>;
  workdir: string;
  adopt: (pid: number) => Promise<void>;
  timeoutMs: number;
}): Promise<SessionsResult> {
  const llm = startMockLlm(loadScenario(opts.scenario, opts.vars));
  const go = join(opts.workdir, ".go");
  const script = `while [ ! -f "$0" ]; do sleep 0.01; done; i=0; while [ $i -lt ${opts.count} ]; do "$1" "$2" --llm "$3" --workdir "$4/s$i"; i=$((i+1)); done`;
  const p = Bun.spawn(["/bin/sh", "-c", script, go, BUN, AGENT, llm.url, opts.workdir], { stdout: "pipe", stderr: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs);
  const result: SessionsResult = { scenario: opts.scenario, sessions: opts.count, completed: 0, toolCalls: 0, byTool: {}, seconds: 0 };
  const t0 = performance.now();
  try {
    await opts.adopt(p.pid);
    writeFileSync(go, "");
    const out = await new Response(p.stdout).text();
    await p.exited;
    for (const line of out.trim().split("\n")) if (line) tally(result, line);
  } finally {
    clearTimeout(timer);
    p.kill("SIGKILL");
    llm.stop();
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
