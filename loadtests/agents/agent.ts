/**
 * A coding-agent stand-in: asks the (mock) LLM what to do, carries out its
 * tool calls in a work dir — shell commands, file reads and writes, HTTP
 * calls — feeds the results back, until the model answers without a tool
 * call. Bounded: at most `maxTurns` turns, each command with a timeout.
 *   bun loadtests/agents/agent.ts --llm URL --workdir DIR [--max-turns N]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";

interface Message {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

async function tool(name: string, args: Record<string, string>, workdir: string): Promise<string> {
  const path = (p: string) => (isAbsolute(p) ? p : join(workdir, p));
  switch (name) {
    case "run_shell": {
      const p = Bun.spawn(["/bin/sh", "-c", args.command ?? "true"], { cwd: workdir, stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
      const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
      clearTimeout(timer);
      return JSON.stringify({ exitCode: await p.exited, stdout: out.slice(0, 4000), stderr: err.slice(0, 2000) });
    }
    case "read_file":
      try {
        return readFileSync(path(args.path!), "utf8").slice(0, 8000);
      } catch (e) {
        return `error: ${(e as Error).message}`;
      }
    case "write_file":
      writeFileSync(path(args.path!), args.content ?? "");
      return "ok";
    case "http_get":
      try {
        const r = await fetch(args.url!, { signal: AbortSignal.timeout(5000) });
        return `${r.status} ${(await r.text()).slice(0, 2000)}`;
      } catch (e) {
        return `error: ${(e as Error).message}`;
      }
    default:
      return `error: unknown tool ${name}`;
  }
}

export interface AgentRun {
  turns: number;
  toolCalls: number;
  /** Tool calls by tool: what the session caused, for counting it independently of Vigil. */
  byTool: Record<string, number>;
  final: string | null;
}

export async function runAgent(llm: string, workdir: string, maxTurns = 50): Promise<AgentRun> {
  mkdirSync(workdir, { recursive: true });
  const messages: Message[] = [
    { role: "system", content: "You are a coding agent. Use the tools." },
    { role: "user", content: "Do the task of the scenario." },
  ];
  let toolCalls = 0;
  const byTool: Record<string, number> = {};
  for (let turn = 1; turn <= maxTurns; turn++) {
    const r = await fetch(`${llm}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "mock", messages }) });
    const msg = ((await r.json()) as { choices: { message: Message }[] }).choices[0]!.message;
    messages.push(msg);
    if (!msg.tool_calls?.length) return { turns: turn, toolCalls, byTool, final: msg.content };
    for (const c of msg.tool_calls) {
      toolCalls++;
      byTool[c.function.name] = (byTool[c.function.name] ?? 0) + 1;
      messages.push({ role: "tool", tool_call_id: c.id, content: await tool(c.function.name, JSON.parse(c.function.arguments), workdir) });
    }
  }
  return { turns: maxTurns, toolCalls, byTool, final: null };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const arg = (k: string) => args[args.indexOf(k) + 1];
  const r = await runAgent(arg("--llm")!, arg("--workdir")!, args.includes("--max-turns") ? Number(arg("--max-turns")) : 50);
  console.log(JSON.stringify(r));
}
