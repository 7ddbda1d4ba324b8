/**
 * From TLS plaintext to intent: each connection's two byte streams (keyed by
 * process and SSL pointer) are rebuilt in order, parsed as HTTP/1.1, and
 * every exchange becomes an `llm_call` (a model API) or an `http` event
 * (anything else: metadata only). The tool calls a model asks for open and
 * close here (tool-calls.ts), and process events are attributed to them.
 *
 * Nothing is lost silently: chunks missing from a stream (a sequence gap),
 * bytes that are not HTTP/1.1, HTTP/2, and exchanges cut by a bound are all
 * counted (`counters`).
 */
import type { HttpEvent, LlmCallEvent, ProcessEvent, TlsChunk, ToolCallEvent, ToolCallRef, IntentEvent } from "../events/types";
import { Http1Parser, HttpProtocolError, isHttp2Preface, looksLikeStart, type HttpMessage } from "./http1";
import { apiOfPath, parseLlmRequest, parseLlmResponse } from "./llm-apis";
import { ToolCallTracker } from "./tool-calls";

/** What of a model exchange is kept: text and tool arguments (bounded, redacted), metadata only, or nothing at all. */
export type LlmBodies = "full" | "metadata" | "off";
export const LLM_BODIES = ["full", "metadata", "off"] as const;

export interface IntentOptions {
  llmBodies?: LlmBodies;
  /** Characters of a prompt, completion or tool arguments kept (default 8192). */
  maxText?: number;
  /** Body bytes parsed per message (default 4 MiB). */
  maxBody?: number;
  /** Connections followed at once (default 4096; the least recently used is let go, counted). */
  maxConnections?: number;
  /** Cuts secrets from text before it is kept (the pipeline's redactor). */
  redact?: (text: string) => string;
}

export interface IntentCounters {
  tlsChunks: number;
  tlsBytes: number;
  /** Chunks missing from a stream (the kernel counted each as a ring drop): the exchange under way is lost. */
  tlsGaps: number;
  /** Calls that moved more than the kernel's per-call cap. */
  tlsTruncatedCalls: number;
  /** Connections whose bytes are not HTTP/1.1 (counted once each). */
  notHttp: number;
  /** Connections that negotiated HTTP/2 (not parsed). */
  http2NotParsed: number;
  /** Connections let go to keep the bound (the least recently used). */
  connectionsEvicted: number;
  /** Exchanges cut by a bound (the kernel's per-call cap, the body bound): reported with truncated: true. */
  exchangesTruncated: number;
  /** Exchanges under way when their bytes were lost (a gap) or their connection let go: never reported. */
  exchangesLost: number;
  llmCalls: number;
  httpExchanges: number;
}

interface PendingRequest {
  msg: HttpMessage;
  pid: number;
  tid: number;
  comm: string;
  ts: number;
}

interface Connection {
  key: string;
  pid: number;
  nextSeq: number;
  request: Http1Parser;
  response: Http1Parser;
  pending: PendingRequest[];
  /** Given up on (not HTTP/1.1): its chunks are dropped, counted once. */
  ignored: boolean;
  /** Some of its bytes were lost or cut since the last exchange. */
  damaged: boolean;
  /** After a gap: bytes are dropped until a call begins with the start of a message. */
  resync: boolean;
}

let llmCallSeq = 0;
const boot = Date.now().toString(36);

export class IntentTracker {
  readonly toolCalls = new ToolCallTracker();
  readonly counters: IntentCounters = { tlsChunks: 0, tlsBytes: 0, tlsGaps: 0, tlsTruncatedCalls: 0, notHttp: 0, http2NotParsed: 0, connectionsEvicted: 0, exchangesTruncated: 0, exchangesLost: 0, llmCalls: 0, httpExchanges: 0 };
  private readonly connections = new Map<string, Connection>();
  private readonly llmBodies: LlmBodies;
  private readonly maxText: number;
  private readonly maxBody: number;
  private readonly maxConnections: number;
  private readonly redact: (text: string) => string;

  constructor(options: IntentOptions = {}) {
    this.llmBodies = options.llmBodies ?? "full";
    this.maxText = options.maxText ?? 8192;
    this.maxBody = options.maxBody ?? 4 * 1024 * 1024;
    this.maxConnections = options.maxConnections ?? 4096;
    this.redact = options.redact ?? ((t) => t);
  }

  /** A chunk of plaintext, of `agent` (if any): the events it completes, in order. */
  handleTls(chunk: TlsChunk, agent: string | undefined): IntentEvent[] {
    if (this.llmBodies === "off") return [];
    this.counters.tlsChunks++;
    this.counters.tlsBytes += chunk.data.length;
    const conn = this.connection(chunk);
    if (chunk.seq !== conn.nextSeq) {
      // Chunks were lost in between (ring full): whatever was under way cannot be rebuilt.
      this.counters.tlsGaps += Math.max(1, chunk.seq - conn.nextSeq);
      this.reset(conn);
      conn.resync = true;
    }
    conn.nextSeq = chunk.seq + 1;
    if (conn.resync) {
      if (chunk.offset !== 0 || !looksLikeStart(chunk.data, chunk.dir === "sent" ? "request" : "response")) return [];
      conn.resync = false;
    }
    if (chunk.truncated) {
      this.counters.tlsTruncatedCalls++;
      conn.damaged = true;
    }
    if (conn.ignored) return [];
    const out: IntentEvent[] = [];
    try {
      if (chunk.dir === "sent") {
        if (chunk.offset === 0 && !conn.request.inMessage && isHttp2Preface(chunk.data)) {
          this.counters.http2NotParsed++;
          conn.ignored = true;
          return [];
        }
        if (!conn.request.inMessage) {
          const open = conn.response.endOpen(); // a response running until close ends where the next request starts
          if (open) this.exchanged(conn, open, agent, out);
        }
        for (const msg of conn.request.push(chunk.data, chunk.ktimeNs, chunk.truncated)) {
          conn.pending.push({ msg, pid: chunk.pid, tid: chunk.tid, comm: chunk.comm, ts: chunk.ts });
          this.requestSent(msg, chunk, agent, out);
        }
      } else {
        for (const msg of conn.response.push(chunk.data, chunk.ktimeNs, chunk.truncated)) this.exchanged(conn, msg, agent, out);
      }
    } catch (e) {
      if (!(e instanceof HttpProtocolError)) throw e;
      this.counters.notHttp++;
      conn.ignored = true;
    }
    return out;
  }

  /** Sets `event.toolCall` on a process event a tool call caused; a process's exit lets its connections go. */
  attribute(event: ProcessEvent): void {
    this.toolCalls.attribute(event);
    if (event.type === "exit") for (const [key, c] of this.connections) if (c.pid === event.pid) this.connections.delete(key);
  }

  /** A finding about an event: counted into the tool call that caused it. */
  finding(toolCall: ToolCallRef | undefined): void {
    this.toolCalls.finding(toolCall);
  }

  get openConnections(): number {
    return this.connections.size;
  }

  private connection(chunk: TlsChunk): Connection {
    const key = `${chunk.pid}:${chunk.ssl}`;
    let c = this.connections.get(key);
    if (c) {
      // Most recently used last: the first entry is the one let go.
      this.connections.delete(key);
      this.connections.set(key, c);
      return c;
    }
    if (this.connections.size >= this.maxConnections) {
      const [oldKey, old] = this.connections.entries().next().value as [string, Connection];
      this.counters.connectionsEvicted++;
      if (old.request.busy || old.response.busy || old.pending.length) this.counters.exchangesLost++;
      this.connections.delete(oldKey);
    }
    c = { key, pid: chunk.pid, nextSeq: chunk.seq, request: new Http1Parser("request", this.maxBody), response: new Http1Parser("response", this.maxBody), pending: [], ignored: false, damaged: false, resync: false };
    this.connections.set(key, c);
    return c;
  }

  private reset(conn: Connection): void {
    if (conn.request.busy || conn.response.busy || conn.pending.length) this.counters.exchangesLost++;
    conn.request = new Http1Parser("request", this.maxBody);
    conn.response = new Http1Parser("response", this.maxBody);
    conn.pending = [];
    conn.ignored = false;
    conn.damaged = false;
  }

  /** A complete request went out: tool results in it end their tool calls now, before its answer. */
  private requestSent(msg: HttpMessage, chunk: TlsChunk, agent: string | undefined, out: IntentEvent[]): void {
    const [, path = ""] = msg.startLine.split(" ");
    if (!apiOfPath(path)) return;
    const req = parseLlmRequest(path, msg.body.toString("utf8"));
    if (!req || req.toolResults.length === 0) return;
    out.push(...this.toolCalls.resultsSent(req.toolResults, { ts: chunk.ts, ktimeNs: chunk.ktimeNs, pid: chunk.pid, tid: chunk.tid, comm: chunk.comm, ...(agent !== undefined ? { agent } : {}) }));
  }

  private exchanged(conn: Connection, response: HttpMessage, agent: string | undefined, out: IntentEvent[]): void {
    const request = conn.pending.shift();
    if (!request) return; // a response to a request this stream did not see whole
    const truncated = conn.damaged || request.msg.truncated || response.truncated;
    conn.damaged = false;
    if (truncated) this.counters.exchangesTruncated++;
    const [method = "", path = ""] = request.msg.startLine.split(" ");
    const status = Number(response.startLine.split(" ")[1]) || 0;
    const host = request.msg.headers.get("host") ?? "";
    const common = {
      ts: request.ts,
      ktimeNs: request.msg.firstKtimeNs,
      pid: request.pid,
      tid: request.tid,
      comm: request.comm,
      ...(agent !== undefined ? { agent } : {}),
      durationMs: Math.max(0, (response.lastKtimeNs - request.msg.firstKtimeNs) / 1e6),
    };
    const which = apiOfPath(path);
    const req = which && method === "POST" ? parseLlmRequest(path, request.msg.body.toString("utf8")) : null;
    if (!req) {
      this.counters.httpExchanges++;
      out.push({ ...common, type: "http", method, host, path: path.split("?")[0]!, status, requestBytes: request.msg.bodyBytes, responseBytes: response.bodyBytes, truncated } satisfies HttpEvent);
      return;
    }
    const res = parseLlmResponse(req.api, response.headers.get("content-type") ?? "", response.body.toString("utf8"));
    const full = this.llmBodies === "full";
    const call: LlmCallEvent = {
      ...common,
      type: "llm_call",
      llmCallId: `llm-${boot}-${(++llmCallSeq).toString(36)}`,
      provider: req.provider,
      api: req.api,
      model: res?.model ?? req.model,
      host,
      path: path.split("?")[0]!,
      status,
      stream: req.stream || (response.headers.get("content-type") ?? "").includes("text/event-stream"),
      ...(full && req.prompt !== null ? { prompt: this.text(req.prompt) } : {}),
      ...(full && res ? { completion: this.text(res.completion) } : {}),
      toolCalls: (res?.toolCalls ?? []).map((t) => ({ id: t.id, name: t.name, ...(full ? { arguments: this.text(t.arguments) } : {}) })),
      usage: res?.usage ?? null,
      truncated: truncated || res === null,
    };
    this.counters.llmCalls++;
    out.push(call);
    // Content matching reads the arguments as sent (not cut, not redacted); only what is stored is.
    out.push(...this.toolCalls.opened(call, new Map((res?.toolCalls ?? []).map((t) => [t.id, t.arguments]))));
  }

  private text(s: string): string {
    const cut = s.length > this.maxText ? `${s.slice(0, this.maxText)}…` : s;
    return this.redact(cut);
  }
}

export type { ToolCallEvent };
