// A coding-agent stand-in over TLS for the system node (its own OpenSSL, linked in): OpenAI Chat
// Completions, streamed or not, through node's https module. Same tools and bounds as tls_agent.py.
//   node tls-agent.mjs --url https://127.0.0.1:PORT --cafile cert.pem --workdir DIR [--stream]
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { isAbsolute, join } from "node:path";

const args = process.argv.slice(2);
const arg = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const url = new URL(arg("--url"));
const ca = readFileSync(arg("--cafile"));
const workdir = arg("--workdir");
const stream = args.includes("--stream");
const maxTurns = Number(arg("--max-turns", "20"));
const agent = new https.Agent({ keepAlive: true, ca });

function post(body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: url.hostname, port: url.port, path: "/v1/chat/completions", method: "POST", agent, headers: { "content-type": "application/json", authorization: "Bearer sk-test-not-a-real-key-0123456789" }, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end(JSON.stringify(body));
  });
}

function readAnswer(text) {
  if (!stream) {
    const m = JSON.parse(text).choices[0].message;
    return { content: m.content ?? "", calls: (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) };
  }
  let content = "";
  const calls = [];
  for (const block of text.split("\n\n")) {
    const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
    if (!data || data === "[DONE]") continue;
    for (const ch of JSON.parse(data).choices ?? []) {
      content += ch.delta?.content ?? "";
      for (const c of ch.delta?.tool_calls ?? []) {
        const cur = (calls[c.index] ??= { id: "", name: "", arguments: "" });
        cur.id ||= c.id ?? "";
        cur.name ||= c.function?.name ?? "";
        cur.arguments += c.function?.arguments ?? "";
      }
    }
  }
  return { content, calls };
}

function tool(name, a) {
  const path = (p) => (isAbsolute(p) ? p : join(workdir, p));
  if (name === "run_shell") {
    try {
      return JSON.stringify({ exitCode: 0, stdout: execFileSync("/bin/sh", ["-c", a.command ?? "true"], { cwd: workdir, encoding: "utf8", timeout: 10_000 }).slice(0, 4000) });
    } catch (e) {
      return JSON.stringify({ exitCode: e.status ?? 1, stderr: String(e.stderr ?? e.message).slice(0, 2000) });
    }
  }
  if (name === "read_file") return readFileSync(path(a.path), "utf8").slice(0, 8000);
  if (name === "write_file") {
    writeFileSync(path(a.path), a.content ?? "");
    return "ok";
  }
  return `error: unknown tool ${name}`;
}

mkdirSync(workdir, { recursive: true });
const messages = [{ role: "user", content: "Do the task of the scenario." }];
let toolCalls = 0;
for (let turn = 1; turn <= maxTurns; turn++) {
  const { content, calls } = readAnswer(await post({ model: "mock-model", stream, messages }));
  if (calls.length === 0) {
    console.log(JSON.stringify({ turns: turn, toolCalls, final: content }));
    agent.destroy();
    process.exit(0);
  }
  messages.push({ role: "assistant", content: content || null, tool_calls: calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) });
  for (const c of calls) {
    toolCalls++;
    messages.push({ role: "tool", tool_call_id: c.id, content: tool(c.name, JSON.parse(c.arguments)) });
  }
}
console.log(JSON.stringify({ turns: maxTurns, toolCalls, final: null }));
agent.destroy();
