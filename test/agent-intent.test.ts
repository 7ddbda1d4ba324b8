/**
 * Agent intent, end to end on the real kernel: agents with real TLS clients
 * (python's http.client over libssl, the system node with its own OpenSSL,
 * curl) talk to a mock LLM over HTTPS in the OpenAI and Anthropic formats,
 * streamed and not, and run the tool calls it scripts. Vigil reads the
 * plaintext with uprobes and must see each model call, tie every event a
 * tool call caused to that call (by ring order and lineage), add the tokens
 * up, and say when a TLS stack cannot be read.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroup2Mount, OwnedCgroup } from "../src/cgroup/cgroup";
import type { LlmCallEvent, ToolCallEvent, VigilEvent } from "../src/events/types";
import { Runtime } from "../src/runtime/runtime";
import { makeTestCertificate, type TestCertificate } from "../lab/tls-cert";
import { startMockLlm, type Scenario } from "../loadtests/agents/mock-llm";
import { requireRoot, ROOT, startInProcessService, unique, until } from "./helpers";
import { setLogLevel } from "../src/service/log";

requireRoot();
let cert: TestCertificate;
const dirs: string[] = [];

beforeAll(async () => {
  cert = await makeTestCertificate();
});
afterAll(() => {
  rmSync(cert.dir, { recursive: true, force: true });
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An agent's cgroup, observed by a Runtime, its events collected. */
async function observe(agent: string, run: (cg: OwnedCgroup, rt: Runtime) => Promise<void>): Promise<{ events: VigilEvent[]; rt: Runtime }> {
  const cg = OwnedCgroup.create(unique("intent"));
  const rt = new Runtime({ observer: { cgroupIds: [cg.id] } });
  const events: VigilEvent[] = [];
  rt.pipeline.addSink({ name: "collect", write: (e) => events.push(e) });
  try {
    rt.start();
    rt.agents.register({ name: agent, cgroupId: cg.id, cgroupPath: cg.relPath, cgroupOwned: true });
    await run(cg, rt);
    rt.observer.drain(true);
    return { events, rt };
  } finally {
    rt.stop();
    cg.killAll();
    await cg.remove();
  }
}

async function inCgroup(cg: OwnedCgroup, argv: string[], cwd: string): Promise<string> {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const p = Bun.spawn(cg.shellArgv(`cd ${cwd} && exec ${quoted}`), { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv[0]} exited ${code}: ${err}`);
  return out;
}

function workdir(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-intent-"));
  dirs.push(d);
  return d;
}

const of = <T extends VigilEvent["type"]>(events: VigilEvent[], type: T) => events.filter((e): e is Extract<VigilEvent, { type: T }> => e.type === type);
const toolCallId = (e: VigilEvent) => ("toolCall" in e && e.toolCall && "id" in e.toolCall ? e.toolCall.id : undefined);

/** Three turns of tools, then a final message; the third turn asks for two at once. */
function scenario(u: string): Scenario {
  return {
    name: "intent",
    description: "tool calls whose effects Vigil must attribute",
    rogue: false,
    steps: [
      { toolCalls: [{ name: "run_shell", arguments: { command: `echo ${u} > first.txt` } }] },
      { toolCalls: [{ name: "write_file", arguments: { path: "second.txt", content: u } }] },
      { toolCalls: [{ name: "run_shell", arguments: { command: "cat first.txt" } }, { name: "run_shell", arguments: { command: `ls ${u}-missing || true` } }] },
      { message: `Done with ${u}.` },
    ],
  };
}

const PYTHON = "/usr/bin/python3";
const PY_AGENT = `${ROOT}/loadtests/agents/tls_agent.py`;

describe("LLM calls and tool calls from TLS", () => {
  test("python (libssl), Chat Completions: prompts, completions, tokens, and each tool call's effects tied to it exactly", async () => {
    const u = unique("py");
    const llm = startMockLlm(scenario(u), { tls: cert });
    const dir = workdir();
    try {
      const { events } = await observe("py-agent", async (cg) => {
        await inCgroup(cg, [PYTHON, PY_AGENT, "--url", llm.url, "--cafile", cert.certPath, "--workdir", dir], dir);
      });
      const calls = of(events, "llm_call");
      expect(calls.length).toBe(llm.requests());
      expect(calls.length).toBe(4);
      expect(calls.every((c) => c.provider === "openai" && c.api === "chat.completions" && c.model === "mock-model" && c.status === 200 && !c.truncated && c.agent === "py-agent")).toBe(true);
      expect(calls[0]!.prompt).toBe("Do the task of the scenario.");
      expect(calls[3]!.completion).toBe(`Done with ${u}.`);
      expect(calls[0]!.toolCalls).toEqual([{ id: "call_0_0", name: "run_shell", arguments: JSON.stringify({ command: `echo ${u} > first.txt` }) }]);
      // Tokens add up to what the model reported.
      const sum = calls.reduce((a, c) => ({ inputTokens: a.inputTokens + c.usage!.inputTokens, outputTokens: a.outputTokens + c.usage!.outputTokens }), { inputTokens: 0, outputTokens: 0 });
      expect(sum).toEqual(llm.usage());

      // The first tool call's shell, and only it, carries its id.
      const shell = of(events, "exec").find((e) => e.argv[2] === `echo ${u} > first.txt`)!;
      expect(toolCallId(shell)).toBe("call_0_0");
      // The second tool call writes a file from the agent's own process: that open is the second's.
      const write = of(events, "open").find((e) => e.path.endsWith("/second.txt") && (e.flags & 3) !== 0)!;
      expect(write.pid).toBe(calls[0]!.pid);
      expect(toolCallId(write)).toBe("call_1_0");
      // Two calls open at once: each shell goes to the call whose command it runs.
      expect(toolCallId(of(events, "exec").find((e) => e.argv[2] === "cat first.txt")!)).toBe("call_2_0");
      expect(toolCallId(of(events, "exec").find((e) => e.argv[2] === `ls ${u}-missing || true`)!)).toBe("call_2_1");
      // The `cat` the first of those ran is its own child: lineage, not content.
      const cat = of(events, "exec").find((e) => e.filename.endsWith("/cat") && e.argv[1] === "first.txt")!;
      expect(toolCallId(cat)).toBe("call_2_0");
      // Nothing before the first response or after the last result belongs to a tool call.
      expect(toolCallId(of(events, "exec").find((e) => e.filename === PYTHON)!)).toBeUndefined();

      const ended = of(events, "tool_call").filter((t) => t.phase === "ended");
      expect(ended.map((t) => t.toolCallId)).toEqual(["call_0_0", "call_1_0", "call_2_0", "call_2_1"]);
      const first = ended[0]!;
      expect(first.effects!.processes).toBe(1);
      expect(first.effects!.execs.map((x) => x.argv.join(" "))).toEqual([`/bin/sh -c echo ${u} > first.txt`]);
      expect(first.effects!.filesWritten).toContain("first.txt"); // as the shell named it
      expect(ended[1]!.effects!.filesWritten).toEqual([join(dir, "second.txt")]);
      expect(ended[1]!.effects!.processes).toBe(0);
      const started = of(events, "tool_call").filter((t) => t.phase === "started");
      expect(started.map((t) => t.toolCallId)).toEqual(ended.map((t) => t.toolCallId));
      // Every tool call started before what it caused and ended after it.
      const at = (e: VigilEvent) => events.indexOf(e);
      expect(at(started[0]!)).toBeLessThan(at(shell));
      expect(at(ended[0]!)).toBeGreaterThan(at(shell));
      // The API key in the request headers is nowhere.
      expect(JSON.stringify(events)).not.toContain("sk-test-not-a-real-key");
    } finally {
      llm.stop();
    }
  }, 60_000);

  for (const [api, stream] of [["chat", true], ["responses", false], ["responses", true], ["messages", false], ["messages", true]] as const) {
    test(`python, ${api}${stream ? ", streamed" : ""}: every call read whole, tool calls named, tokens added up`, async () => {
      const u = unique(api);
      const llm = startMockLlm(scenario(u), { tls: cert });
      const dir = workdir();
      try {
        const { events } = await observe("py-formats", async (cg) => {
          await inCgroup(cg, [PYTHON, PY_AGENT, "--url", llm.url, "--cafile", cert.certPath, "--workdir", dir, "--api", api, ...(stream ? ["--stream"] : [])], dir);
        });
        const calls = of(events, "llm_call");
        expect(calls.length).toBe(4);
        expect(calls.every((c) => c.stream === stream && !c.truncated && c.provider === (api === "messages" ? "anthropic" : "openai"))).toBe(true);
        expect(calls.map((c) => c.toolCalls.map((t) => t.name).join(","))).toEqual(["run_shell", "write_file", "run_shell,run_shell", ""]);
        expect(calls[3]!.completion).toBe(`Done with ${u}.`);
        const sum = calls.reduce((a, c) => a + c.usage!.inputTokens + c.usage!.outputTokens, 0);
        expect(sum).toBe(llm.usage().inputTokens + llm.usage().outputTokens);
        expect(toolCallId(of(events, "exec").find((e) => e.argv[2] === `echo ${u} > first.txt`)!)).toBe("call_0_0");
        expect(of(events, "tool_call").filter((t) => t.phase === "ended").length).toBe(4);
      } finally {
        llm.stop();
      }
    }, 60_000);
  }

  test("node (its own OpenSSL, hooked when it runs), streamed: calls read, the tool's shell tied to its call", async () => {
    const u = unique("node");
    const llm = startMockLlm(scenario(u), { tls: cert });
    const dir = workdir();
    try {
      const { events, rt } = await observe("node-agent", async (cg, runtime) => {
        await inCgroup(cg, ["/usr/bin/node", `${ROOT}/loadtests/agents/tls-agent.mjs`, "--url", llm.url, "--cafile", cert.certPath, "--workdir", dir, "--stream"], dir);
        expect(runtime.tls.agentSupport("node-agent").hooked).toContain("/usr/bin/node");
      });
      const calls = of(events, "llm_call");
      expect(calls.length).toBe(llm.requests());
      expect(calls.every((c) => c.stream && c.comm === "node")).toBe(true);
      expect(toolCallId(of(events, "exec").find((e) => e.argv[2] === `echo ${u} > first.txt`)!)).toBe("call_0_0");
      expect(rt.intent!.counters.tlsGaps).toBe(0);
    } finally {
      llm.stop();
    }
  }, 60_000);

  test("curl: an Anthropic call's prompt and completion", async () => {
    const u = unique("curl");
    const llm = startMockLlm({ name: "one", description: "", rogue: false, steps: [{ message: `hello ${u}` }] }, { tls: cert });
    const dir = workdir();
    try {
      const body = JSON.stringify({ model: "claude-mock", max_tokens: 64, messages: [{ role: "user", content: `tell me ${u}` }] });
      const { events } = await observe("curl-agent", async (cg) => {
        await inCgroup(cg, ["/usr/bin/curl", "-sS", "--cacert", cert.certPath, "-H", "content-type: application/json", "-H", "x-api-key: sk-ant-not-a-real-key-0123456789", "-d", body, `${llm.url}/v1/messages`], dir);
      });
      const [call] = of(events, "llm_call") as LlmCallEvent[];
      expect(call).toMatchObject({ provider: "anthropic", api: "messages", model: "claude-mock", prompt: `tell me ${u}`, completion: `hello ${u}`, stream: false, comm: "curl" });
      expect(JSON.stringify(events)).not.toContain("sk-ant-not-a-real-key");
    } finally {
      llm.stop();
    }
  }, 60_000);

  test("a TLS stack that cannot be read is said so, per agent (Bun's stripped BoringSSL)", async () => {
    const llm = startMockLlm({ name: "one", description: "", rogue: false, steps: [{ message: "hi" }] }, { tls: cert });
    const dir = workdir();
    const bun = `${ROOT}/node_modules/.bin/bun`;
    try {
      let support: ReturnType<Runtime["tls"]["agentSupport"]> | undefined;
      const { events } = await observe("bun-agent", async (cg, rt) => {
        const script = `await fetch("${llm.url}/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }), tls: { ca: await Bun.file("${cert.certPath}").text() } }).then((r) => r.text())`;
        await inCgroup(cg, [bun, "-e", script], dir);
        support = rt.tls.agentSupport("bun-agent");
      });
      expect(llm.requests()).toBe(1);
      expect(of(events, "llm_call")).toEqual([]); // not read, and said:
      expect(support!.unsupported).toEqual([expect.objectContaining({ why: expect.stringContaining("BoringSSL") })]);
    } finally {
      llm.stop();
    }
  }, 60_000);
});

/** `bin/vigil run` without blocking this process (the mock LLM is served from it). */
async function vigilRun(args: string[], cwd: string): Promise<{ code: number; stderr: string }> {
  const p = Bun.spawn([`${ROOT}/bin/vigil`, "run", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited, new Response(p.stdout).text()]);
  return { code, stderr };
}

describe("vigil run with agent intent", () => {
  test("the summary counts the calls and tokens and says what each tool call did", async () => {
    const u = unique("run");
    const llm = startMockLlm(scenario(u), { tls: cert });
    const dir = workdir();
    try {
      const summaryPath = join(dir, "summary.json");
      const r = await vigilRun(["--name", "coder", "--summary-json", summaryPath, "--", PYTHON, PY_AGENT, "--url", llm.url, "--cafile", cert.certPath, "--workdir", dir, "--stream"], dir);
      expect(r.code).toBe(0);
      const s = JSON.parse(readFileSync(summaryPath, "utf8"));
      expect(s.llm).toEqual({ calls: 4, inputTokens: llm.usage().inputTokens, outputTokens: llm.usage().outputTokens, byModel: [{ model: "mock-model", calls: 4 }], otherHttp: 0 });
      expect(s.toolCalls.map((t: { id: string }) => t.id)).toEqual(["call_0_0", "call_1_0", "call_2_0", "call_2_1"]);
      expect(s.toolCalls[0].effects.execs[0].argv).toEqual(["/bin/sh", "-c", `echo ${u} > first.txt`]);
      expect(s.toolCallsOpen).toBe(0);
      expect(s.tls.hooked).toContain("/usr/lib/x86_64-linux-gnu/libssl.so.3");
      expect(r.stderr).toContain(`llm calls   4 (mock-model ×4); tokens in ${llm.usage().inputTokens}, out ${llm.usage().outputTokens}`);
      expect(r.stderr).toContain("run_shell call_0_0");
    } finally {
      llm.stop();
    }
  }, 60_000);

  test("a tool-call policy kills the agent when the model asks for the tool: the session goes no further", async () => {
    const u = unique("rogue");
    // Vigil acts when it reads the response (within a drain of the ring), so a quick tool may already
    // have started; the agent is gone before the slow second one ends, and never gets the final answer.
    const rogue: Scenario = {
      ...scenario(u),
      steps: [{ toolCalls: [{ name: "run_shell", arguments: { command: `rm -rf ${u}-nothing` } }] }, { toolCalls: [{ name: "run_shell", arguments: { command: "sleep 5" } }] }, { message: "never reached" }],
    };
    const llm = startMockLlm(rogue, { tls: cert });
    const dir = workdir();
    try {
      const policy = join(dir, "no-rm.yaml");
      writeFileSync(policy, `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: tools }\nspec:\n  rules:\n    - name: no-rm-rf\n      match: { event: tool_call, tool: [run_shell], argumentsContain: ["rm -rf"] }\n      action: kill\n`);
      const summaryPath = join(dir, "summary.json");
      const r = await vigilRun(["--name", "rogue", "--policy", policy, "--summary-json", summaryPath, "--", PYTHON, PY_AGENT, "--url", llm.url, "--cafile", cert.certPath, "--workdir", dir], dir);
      expect(r.code).toBe(137); // SIGKILL
      expect(llm.requests()).toBeLessThanOrEqual(2);
      const s = JSON.parse(readFileSync(summaryPath, "utf8"));
      expect(s.findings).toEqual([expect.objectContaining({ rule: "tools/no-rm-rf", action: "kill", enforcement: "userspace", event: expect.objectContaining({ type: "tool_call" }) })]);
      expect(s.interventions).toEqual([expect.objectContaining({ action: "kill", ok: true, actor: "policy:tools/no-rm-rf" })]);
    } finally {
      llm.stop();
    }
  }, 60_000);

  test("a token budget acts once the agent has spent it", async () => {
    const u = unique("budget");
    // The budget is crossed by the first answer; Vigil acts within a drain, long before the second tool's sleep ends.
    const llm = startMockLlm({ ...scenario(u), steps: [{ toolCalls: [{ name: "run_shell", arguments: { command: "true" } }] }, { toolCalls: [{ name: "run_shell", arguments: { command: "sleep 5" } }] }, { message: "never reached" }] }, { tls: cert });
    const dir = workdir();
    try {
      const policy = join(dir, "budget.yaml");
      writeFileSync(policy, `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: spend }\nspec:\n  budget: { tokens: 10, action: kill-tree }\n`);
      const summaryPath = join(dir, "summary.json");
      const r = await vigilRun(["--name", "spender", "--policy", policy, "--summary-json", summaryPath, "--", PYTHON, PY_AGENT, "--url", llm.url, "--cafile", cert.certPath, "--workdir", dir], dir);
      expect(r.code).toBe(137);
      const s = JSON.parse(readFileSync(summaryPath, "utf8"));
      expect(s.findings).toEqual([expect.objectContaining({ rule: "spend/budget", action: "kill-tree", severity: "critical" })]);
      expect(s.findings[0].outcome).toContain("over the budget of 10");
      expect(llm.requests()).toBeLessThanOrEqual(2);
    } finally {
      llm.stop();
    }
  }, 60_000);
});

describe("the service: intent in the API, metrics and policies", () => {
  test("GET /v1/llm-calls, /v1/tool-calls/:id with what it caused, metrics, stats; a tool-call rule freezes the agent", async () => {
    setLogLevel("error");
    const dir = workdir();
    const policies = join(dir, "policies");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(policies);
    writeFileSync(join(policies, "tools.yaml"), `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: tools }\nspec:\n  agents: ["svc-*"]\n  rules:\n    - name: no-curl-pipe\n      match: { event: tool_call, tool: [run_shell], argumentsContain: ["| sh"] }\n      action: freeze\n`);
    const token = "intent-token-0123456789abcdef";
    const svc = await startInProcessService({ VIGIL_DATA_DIR: join(dir, "data"), VIGIL_POLICY_DIR: policies }, token);
    const api = async (path: string) => {
      const r = await fetch(`${svc.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, body: r.headers.get("content-type")?.includes("json") ? ((await r.json()) as Record<string, any>) : await r.text() };
    };
    const u = unique("svc");
    const llm = startMockLlm(scenario(u), { tls: cert });
    const rogue = startMockLlm({ ...scenario(u), steps: [{ toolCalls: [{ name: "run_shell", arguments: { command: "echo curl example.invalid | sh -n" } }] }, { message: "done" }] }, { tls: cert });
    const agent = (url: string) => `${PYTHON} ${PY_AGENT} --url ${url} --cafile ${cert.certPath} --workdir ${dir}`;
    // One agent process tree, adopted into a cgroup of Vigil's own (so freeze applies); two sessions, the second when told.
    const proc = Bun.spawn(["sh", "-c", `cd ${dir}; while [ ! -f go ]; do sleep 0.01; done; ${agent(llm.url)}; while [ ! -f phase2 ]; do sleep 0.01; done; ${agent(rogue.url)}`], { stdout: "ignore", stderr: "ignore" });
    try {
      const adopted = await fetch(`${svc.base}/v1/agents`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ name: "svc-coder", pid: proc.pid, contain: true }) });
      expect(adopted.status).toBe(201);
      writeFileSync(join(dir, "go"), "");
      const calls = await until(async () => {
        const r = await api("/v1/llm-calls?agent=svc-coder&order=asc");
        return (r.body as { llmCalls: unknown[] }).llmCalls.length === 4 ? (r.body as { llmCalls: LlmCallEvent[] }).llmCalls : undefined;
      }, 20_000);
      expect(calls.map((c) => c.toolCalls.length)).toEqual([1, 1, 2, 0]);
      const tc = await until(async () => {
        const r = await api("/v1/tool-calls/call_0_0");
        return r.status === 200 && (r.body as { toolCall: ToolCallEvent }).toolCall?.phase === "ended" ? (r.body as { toolCall: ToolCallEvent; events: VigilEvent[] }) : undefined;
      }, 10_000);
      expect(tc.toolCall.effects!.execs[0]!.argv).toEqual(["/bin/sh", "-c", `echo ${u} > first.txt`]);
      expect(tc.events.some((e) => e.type === "exec" && e.argv[2] === `echo ${u} > first.txt`)).toBe(true);
      expect(tc.events.every((e) => toolCallId(e) === "call_0_0")).toBe(true);
      expect((await api("/v1/tool-calls/call_nope")).status).toBe(404);
      const filtered = (await api("/v1/events?toolCall=call_1_0&order=asc")).body as { events: VigilEvent[] };
      expect(filtered.events.some((e) => e.type === "open" && e.path.endsWith("/second.txt"))).toBe(true);
      const metrics = (await api("/metrics")).body as string;
      expect(metrics).toContain('vigil_llm_calls_total{provider="openai",model="mock-model"} 4');
      expect(metrics).toContain(`vigil_llm_tokens_total{direction="input"} ${llm.usage().inputTokens}`);
      const agentView = (await api("/v1/agents/svc-coder")).body as { tls: { hooked: string[] }; tokensSpent: number };
      expect(agentView.tls.hooked).toContain("/usr/lib/x86_64-linux-gnu/libssl.so.3");
      expect(agentView.tokensSpent).toBe(llm.usage().inputTokens + llm.usage().outputTokens);
      const stats = (await api("/v1/stats")).body as { intent: { llmCalls: number; tlsGaps: number; toolCallsOpen: number } };
      expect(stats.intent).toMatchObject({ llmCalls: 4, tlsGaps: 0, toolCallsOpen: 0 });

      // The rogue session: the model asks for a piped shell; the rule freezes the agent's cgroup.
      writeFileSync(join(dir, "phase2"), "");
      const finding = await until(async () => {
        const r = await api("/v1/findings?agent=svc-coder");
        return (r.body as { findings: { rule: string; outcome: string }[] }).findings.find((f) => f.rule === "tools/no-curl-pipe");
      }, 20_000);
      expect(finding.outcome).toContain("frozen");
      const cgroupDir = join(cgroup2Mount()!, svc.service.agents.get("svc-coder")!.cgroupPath!);
      expect(readFileSync(join(cgroupDir, "cgroup.freeze"), "utf8").trim()).toBe("1");
      writeFileSync(join(cgroupDir, "cgroup.freeze"), "0");
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      llm.stop();
      rogue.stop();
      for (const a of svc.service.agents.list()) await svc.service.removeAgent(a.name);
      await svc.stop();
    }
  }, 90_000);
});

export type { ToolCallEvent };
