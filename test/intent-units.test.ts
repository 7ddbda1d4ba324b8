/**
 * The intent layer's pure logic, fed bytes and events directly: HTTP/1.1
 * rebuilt from chunks cut anywhere, the model APIs' bodies and streams,
 * sequence gaps, HTTP/2, tool-call attribution with several calls open,
 * and the ELF symbol lookup against a full scan.
 */
import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { Http1Parser, HttpProtocolError } from "../src/intent/http1";
import { IntentTracker } from "../src/intent/intent-tracker";
import { parseLlmRequest, parseLlmResponse } from "../src/intent/llm-apis";
import { ToolCallTracker } from "../src/intent/tool-calls";
import type { ExecEvent, ForkEvent, LlmCallEvent, OpenEvent, ProcessEvent, TlsChunk } from "../src/events/types";
import { Redactor } from "../src/events/redact";
import { ElfFile } from "../src/util/elf";

const bytes = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s) : s);

/** Feeds `text` in pieces of every size from 1 to 7 bytes: a message must not depend on where chunks end. */
function feedInPieces(p: Http1Parser, data: Buffer) {
  const out = [];
  for (let at = 0, size = 1; at < data.length; at += size, size = (size % 7) + 1) out.push(...p.push(data.subarray(at, at + size), at));
  return out;
}

describe("HTTP/1.1 from TLS plaintext", () => {
  test("a chunked, gzip-encoded response cut anywhere comes out whole", () => {
    const body = gzipSync(Buffer.from('{"hello":"world"}'));
    const wire = Buffer.concat([bytes("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), bytes(`${(5).toString(16)}\r\n`), body.subarray(0, 5), bytes(`\r\n${(body.length - 5).toString(16)};ext=1\r\n`), body.subarray(5), bytes("\r\n0\r\nX-Trailer: t\r\n\r\n")]);
    const [msg, ...rest] = feedInPieces(new Http1Parser("response", 1 << 20), wire);
    expect(rest).toEqual([]);
    expect(msg!.startLine).toBe("HTTP/1.1 200 OK");
    expect(msg!.body.toString()).toBe('{"hello":"world"}');
    expect(msg!.bodyBytes).toBe(body.length);
    expect(msg!.truncated).toBe(false);
  });

  test("two requests back to back (content-length, then none) each come out", () => {
    const wire = bytes("POST /v1/messages HTTP/1.1\r\nHost: api\r\nContent-Length: 4\r\n\r\nbodyGET /health HTTP/1.1\r\nHost: api\r\n\r\n");
    const msgs = feedInPieces(new Http1Parser("request", 1 << 20), wire);
    expect(msgs.map((m) => [m.startLine, m.body.toString()])).toEqual([
      ["POST /v1/messages HTTP/1.1", "body"],
      ["GET /health HTTP/1.1", ""],
    ]);
    expect(msgs[0]!.headers.get("host")).toBe("api");
  });

  test("a body beyond the bound is counted whole, kept in part, and marked", () => {
    const [msg] = new Http1Parser("response", 4).push(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"), 0);
    expect(msg!.body.toString()).toBe("0123");
    expect(msg!.bodyBytes).toBe(10);
    expect(msg!.truncated).toBe(true);
  });

  test("a response with no length runs until the next request", () => {
    const p = new Http1Parser("response", 1 << 20);
    expect(p.push(bytes("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n"), 0)).toEqual([]);
    expect(p.endOpen()!.body.toString()).toBe("data: 1\n\n");
  });

  test("bytes that are not HTTP/1.1 are refused, not guessed at", () => {
    expect(() => new Http1Parser("request", 100).push(bytes("\x16\x03\x01 binary stuff here"), 0)).toThrow(HttpProtocolError);
  });
});

describe("model APIs", () => {
  test("Chat Completions request: model, stream, last user text, tool results", () => {
    const r = parseLlmRequest("/v1/chat/completions", JSON.stringify({ model: "gpt-x", stream: true, messages: [{ role: "user", content: "hi" }, { role: "assistant", tool_calls: [{ id: "c1" }] }, { role: "tool", tool_call_id: "c1", content: "result" }] }));
    expect(r).toEqual({ provider: "openai", api: "chat.completions", model: "gpt-x", stream: true, prompt: "result", toolResults: ["c1"] });
  });

  test("Anthropic request: tool_result blocks end their tool_use", () => {
    const r = parseLlmRequest("/proxy/v1/messages", JSON.stringify({ model: "claude-x", messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "done" }] }] }] }));
    expect(r).toMatchObject({ provider: "anthropic", toolResults: ["toolu_1"], prompt: "done" });
  });

  test("Responses request: function_call_output items", () => {
    const r = parseLlmRequest("/v1/responses", JSON.stringify({ model: "m", input: [{ role: "user", content: "go" }, { type: "function_call_output", call_id: "fc1", output: "ok" }] }));
    expect(r).toMatchObject({ api: "responses", toolResults: ["fc1"], prompt: "ok" });
  });

  test("an Anthropic stream: text, a tool call whose JSON arrives in parts, usage from start and delta", () => {
    const ev = (o: unknown) => `event: x\ndata: ${JSON.stringify(o)}\n\n`;
    const body =
      ev({ type: "message_start", message: { model: "claude-x", usage: { input_tokens: 12, output_tokens: 1 } } }) +
      ev({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } }) +
      ev({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "lo" } }) +
      ev({ type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_9", name: "bash" } }) +
      ev({ type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '{"command":' } }) +
      ev({ type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '"ls"}' } }) +
      ev({ type: "message_delta", usage: { output_tokens: 30 } });
    expect(parseLlmResponse("messages", "text/event-stream", body)).toEqual({ model: "claude-x", completion: "Hello", toolCalls: [{ id: "toolu_9", name: "bash", arguments: '{"command":"ls"}' }], usage: { inputTokens: 12, outputTokens: 30 } });
  });

  test("a Chat Completions stream: tool-call arguments joined by index, usage from the last chunk", () => {
    const d = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
    const body =
      d({ model: "gpt-x", choices: [{ delta: { tool_calls: [{ index: 0, id: "c1", function: { name: "bash", arguments: '{"a"' } }] } }] }) +
      d({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: ":1}" } }] } }] }) +
      d({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } }) +
      "data: [DONE]\n\n";
    expect(parseLlmResponse("chat.completions", "text/event-stream", body)).toEqual({ model: "gpt-x", completion: "", toolCalls: [{ id: "c1", name: "bash", arguments: '{"a":1}' }], usage: { inputTokens: 3, outputTokens: 4 } });
  });
});

const chunk = (over: Partial<TlsChunk> & Pick<TlsChunk, "seq" | "dir" | "data">): TlsChunk => ({ ktimeNs: over.seq * 1e6, ts: 1, pid: 10, tid: 10, comm: "agent", agentId: 0, ssl: 1n, callLen: over.data.length, offset: 0, truncated: false, ...over });

describe("IntentTracker", () => {
  const request = (body: string) => bytes(`POST /v1/chat/completions HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer sk-live-abcdefghijklmnopqrstuvwx\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const response = (body: string) => bytes(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const answer = JSON.stringify({ model: "gpt-x", choices: [{ message: { content: "ok" } }], usage: { prompt_tokens: 1, completion_tokens: 2 } });

  test("an exchange becomes an llm_call; secrets in the prompt are cut", () => {
    const t = new IntentTracker({ redact: (s) => new Redactor().redactString(s).text });
    expect(t.handleTls(chunk({ seq: 0, dir: "sent", data: request(JSON.stringify({ model: "gpt-x", messages: [{ role: "user", content: "use key sk-live-abcdefghijklmnopqrstuvwx" }] })) }), "a")).toEqual([]);
    const [call] = t.handleTls(chunk({ seq: 1, dir: "received", data: response(answer) }), "a") as LlmCallEvent[];
    expect(call).toMatchObject({ type: "llm_call", host: "api.example", model: "gpt-x", completion: "ok", usage: { inputTokens: 1, outputTokens: 2 }, truncated: false, agent: "a" });
    expect(call!.prompt).not.toContain("sk-live-abcdefghijklmnopqrstuvwx");
  });

  test("metadata keeps no text and no arguments", () => {
    const t = new IntentTracker({ llmBodies: "metadata" });
    t.handleTls(chunk({ seq: 0, dir: "sent", data: request(JSON.stringify({ model: "m", messages: [{ role: "user", content: "secret plan" }] })) }), "a");
    const [call] = t.handleTls(chunk({ seq: 1, dir: "received", data: response(answer) }), "a") as LlmCallEvent[];
    expect(call!.prompt).toBeUndefined();
    expect(call!.completion).toBeUndefined();
  });

  test("a sequence gap loses the exchange under way, counted, and the next one is read", () => {
    const t = new IntentTracker();
    const req = request(JSON.stringify({ model: "m", messages: [] }));
    t.handleTls(chunk({ seq: 0, dir: "sent", data: req.subarray(0, 20) }), undefined);
    expect(t.handleTls(chunk({ seq: 3, dir: "sent", data: req.subarray(40) }), undefined)).toEqual([]); // 1 and 2 lost
    expect(t.counters).toMatchObject({ tlsGaps: 2, exchangesLost: 1 });
    t.handleTls(chunk({ seq: 4, dir: "sent", data: req }), undefined);
    expect(t.handleTls(chunk({ seq: 5, dir: "received", data: response(answer) }), undefined).map((e) => e.type)).toEqual(["llm_call"]);
  });

  test("HTTP/2 is counted as not parsed; other HTTPS is metadata only", () => {
    const t = new IntentTracker();
    expect(t.handleTls(chunk({ seq: 0, dir: "sent", data: bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") }), undefined)).toEqual([]);
    expect(t.counters.http2NotParsed).toBe(1);
    t.handleTls(chunk({ ssl: 2n, seq: 0, dir: "sent", data: bytes("GET /x?q=1 HTTP/1.1\r\nHost: h\r\n\r\n") }), undefined);
    const [http] = t.handleTls(chunk({ ssl: 2n, seq: 1, dir: "received", data: response("hello") }), undefined);
    expect(http).toMatchObject({ type: "http", method: "GET", host: "h", path: "/x", status: 200, responseBytes: 5 });
  });
});

describe("ToolCallTracker", () => {
  const base = { ts: 1, ktimeNs: 1, tid: 1, ppid: 1, uid: 0, gid: 0, comm: "x", cgroupId: 1, agentId: 0, agent: "a" };
  const call = (ids: [string, string][]): LlmCallEvent => ({ ...base, pid: 10, type: "llm_call", llmCallId: "L1", provider: "openai", api: "chat.completions", model: "m", host: "h", path: "/", status: 200, stream: false, durationMs: 1, toolCalls: ids.map(([id]) => ({ id, name: "run_shell" })), usage: null, truncated: false });
  const fork = (pid: number, child: number): ForkEvent => ({ ...base, pid, type: "fork", childPid: child, childTid: child }) as ForkEvent;
  const exec = (pid: number, argv: string[]): ExecEvent => ({ ...base, pid, type: "exec", filename: argv[0]!, argv, argvTruncated: false, filenameTruncated: false, oldPid: pid, ino: 1, dev: 1 }) satisfies ExecEvent;
  const open = (pid: number, path: string): OpenEvent => ({ ...base, pid, type: "open", path, flags: 0, mode: 0, dfd: -100, ret: 3 }) as OpenEvent;
  const idOf = (e: ProcessEvent) => (e.toolCall && "id" in e.toolCall ? e.toolCall.id : e.toolCall ? "ambiguous" : undefined);

  test("two calls open: forks are undecided until their exec names the command; lineage follows; the rest is ambiguous", () => {
    const t = new ToolCallTracker();
    const ids: [string, string][] = [["c1", '{"command":"make test"}'], ["c2", '{"command":"cat notes.txt"}']];
    t.opened(call(ids), new Map(ids));
    const events: ProcessEvent[] = [fork(10, 11), exec(11, ["/bin/sh", "-c", "cat notes.txt"]), fork(11, 12), exec(12, ["/bin/cat", "notes.txt"]), open(12, "/w/notes.txt"), open(10, "/w/notes.txt"), open(10, "/w/other")];
    for (const e of events) t.attribute(e);
    expect(events.map(idOf)).toEqual(["ambiguous", "c2", "c2", "c2", "c2", "c2", "ambiguous"]);
    const [ended] = t.resultsSent(["c2"], { ...base, pid: 10 });
    expect(ended!.effects).toMatchObject({ processes: 2, execs: [{ filename: "/bin/sh" }, { filename: "/bin/cat" }], filesRead: ["/w/notes.txt"] });
    expect(t.counters.ambiguous).toBe(2);
  });

  test("nothing is attributed before a call opens or after it ends, except what its processes still do", () => {
    const t = new ToolCallTracker();
    const before = open(10, "/a");
    t.attribute(before);
    t.opened(call([["c1", "{}"]]), new Map([["c1", "{}"]]));
    const f = fork(10, 20);
    t.attribute(f);
    t.resultsSent(["c1"], { ...base, pid: 10 });
    const after = open(10, "/b");
    const lingering = open(20, "/c");
    t.attribute(after);
    t.attribute(lingering);
    expect([before, f, after, lingering].map(idOf)).toEqual([undefined, "c1", undefined, "c1"]);
  });
});

describe("ELF symbols", () => {
  test("the GNU hash lookup finds what a full scan of the dynamic symbols finds", () => {
    const names = ["SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "SSL_no_such_function"];
    for (const file of ["/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/bin/node"]) {
      const elf = ElfFile.open(file)!;
      const hashed = elf.definedFunctions(".dynsym", names);
      const scanned = (elf as unknown as { scannedFunctions(t: string, n: string[]): Map<string, number> }).scannedFunctions(".dynsym", names);
      elf.close();
      expect(hashed.size).toBe(4);
      expect(hashed).toEqual(scanned);
    }
  });
});
