/**
 * Simulated agent sessions as background load: `count` runs of a scenario,
 * `concurrency` at a time, each in a work dir of its own, against one mock
 * LLM. Used by `bun run load` while the API scenarios run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../lab/daemon";
import { startMockLlm } from "./mock-llm";
import { loadScenario } from "./scenarios";

export interface SessionsResult {
  scenario: string;
  sessions: number;
  completed: number;
  toolCalls: number;
  seconds: number;
}

export async function runAgentSessions(scenario: string, count: number, concurrency: number, vars: Record<string, string>): Promise<SessionsResult> {
  const llm = startMockLlm(loadScenario(scenario, vars));
  const dir = mkdtempSync(join(tmpdir(), "vigil-agents-"));
  let next = 0;
  let completed = 0;
  let toolCalls = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const p = Bun.spawn([`${ROOT}/node_modules/.bin/bun`, `${ROOT}/loadtests/agents/agent.ts`, "--llm", llm.url, "--workdir", join(dir, `s${i}`)], { stdout: "pipe", stderr: "ignore" });
          const out = await new Response(p.stdout).text();
          if ((await p.exited) === 0) {
            completed++;
            toolCalls += (JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { toolCalls?: number }).toolCalls ?? 0;
          }
        }
      }),
    );
  } finally {
    llm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { scenario, sessions: count, completed, toolCalls, seconds: (performance.now() - t0) / 1000 };
}
