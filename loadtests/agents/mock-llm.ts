/**
 * A local mock LLM on loopback that answers from a scenario script, in the
 * wire formats agents use: OpenAI Chat Completions (`/v1/chat/completions`),
 * OpenAI Responses (`/v1/responses`) and Anthropic Messages
 * (`/v1/messages`), streamed as server-sent events when the request asks
 * (`stream: true`) or as one JSON body. Over TLS when given a certificate
 * (tests make one with openssl), so real clients' TLS libraries carry it.
 *
 * Each answer is the next step of the script: tool calls, or a final
 * message. The step is the turn after the highest turn named in the tool-call
 * ids the conversation already holds (`call_<turn>_<i>`), so the server is
 * stateless and every format counts turns the same way.
 */
export interface ToolCall {
  name: string;
  arguments: Record<string, string>;
}

export interface Scenario {
  name: string;
  description: string;
  /** Whether a step is meant to be caught (a secret read, an unexpected binary, a connection out). */
  rogue: boolean;
  steps: ({ toolCalls: ToolCall[] } | { message: string })[];
}

export interface MockLlmOptions {
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** The model name answered (default: the one asked for, or "mock"). */
  model?: string;
}

export interface MockLlm {
  url: string;
  stop: () => void;
  requests: () => number;
  /** Tokens the answers reported, summed: what a reader of the traffic must add up to. */
  usage: () => { inputTokens: number; outputTokens: number };
}

type Api = "chat" | "responses" | "messages";
type Step = Scenario["steps"][number];
type Json = Record<string, unknown>;

const encoder = new TextEncoder();

export function startMockLlm(scenario: Scenario, options: MockLlmOptions = {}): MockLlm {
  let requests = 0;
  const usage = { inputTokens: 0, outputTokens: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const api: Api | null = path === "/v1/chat/completions" ? "chat" : path === "/v1/responses" ? "responses" : path === "/v1/messages" ? "messages" : null;
      if (req.method !== "POST" || !api) return Response.json({ error: { message: "not found" } }, { status: 404 });
      requests++;
      const text = await req.text();
      const body = JSON.parse(text) as Json;
      const turn = Math.max(-1, ...[...text.matchAll(/call_(\d+)_\d+/g)].map((m) => Number(m[1]))) + 1;
      const step = scenario.steps[Math.min(turn, scenario.steps.length - 1)]!;
      const model = options.model ?? (typeof body.model === "string" ? body.model : "mock");
      // Deterministic token counts: a quarter of the request's bytes in, a fixed price per answer part out.
      const tokens = { input: Math.ceil(text.length / 4), output: "toolCalls" in step ? 5 + 3 * step.toolCalls.length : 3 + Math.ceil(step.message.length / 4) };
      usage.inputTokens += tokens.input;
      usage.outputTokens += tokens.output;
      const calls = "toolCalls" in step ? step.toolCalls.map((c, i) => ({ id: `call_${turn}_${i}`, name: c.name, arguments: JSON.stringify(c.arguments) })) : [];
      if (body.stream === true) return sse(streamEvents(api, model, step, calls, tokens));
      return Response.json(answer(api, model, step, calls, tokens));
    },
  });
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${server.port}`,
    stop: () => server.stop(true),
    requests: () => requests,
    usage: () => ({ ...usage }),
  };
}

type Calls = { id: string; name: string; arguments: string }[];

function answer(api: Api, model: string, step: Step, calls: Calls, tokens: { input: number; output: number }): Json {
  const content = "message" in step ? step.message : null;
  if (api === "chat")
    return {
      id: "chatcmpl-mock",
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message: { role: "assistant", content, ...(calls.length ? { tool_calls: calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) } : {}) }, finish_reason: calls.length ? "tool_calls" : "stop" }],
      usage: { prompt_tokens: tokens.input, completion_tokens: tokens.output, total_tokens: tokens.input + tokens.output },
    };
  if (api === "responses")
    return {
      id: "resp_mock",
      object: "response",
      status: "completed",
      model,
      output: content !== null ? [{ type: "message", role: "assistant", content: [{ type: "output_text", text: content }] }] : calls.map((c) => ({ type: "function_call", id: `fc_${c.id}`, call_id: c.id, name: c.name, arguments: c.arguments })),
      usage: { input_tokens: tokens.input, output_tokens: tokens.output, total_tokens: tokens.input + tokens.output },
    };
  return {
    id: "msg_mock",
    type: "message",
    role: "assistant",
    model,
    content: content !== null ? [{ type: "text", text: content }] : calls.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: JSON.parse(c.arguments) })),
    stop_reason: calls.length ? "tool_use" : "end_turn",
    usage: { input_tokens: tokens.input, output_tokens: tokens.output },
  };
}

/** The same answer as a stream: the text in pieces, each tool call's arguments in two halves. */
function streamEvents(api: Api, model: string, step: Step, calls: Calls, tokens: { input: number; output: number }): { event?: string; data: string }[] {
  const content = "message" in step ? step.message : "";
  const pieces = content.match(/.{1,12}/gs) ?? [];
  const halves = (s: string) => [s.slice(0, Math.ceil(s.length / 2)), s.slice(Math.ceil(s.length / 2))];
  const out: { event?: string; data: string }[] = [];
  const push = (data: unknown, event?: string) => out.push({ ...(event ? { event } : {}), data: JSON.stringify(data) });
  if (api === "chat") {
    const chunk = (delta: Json, finish: string | null = null) => push({ id: "chatcmpl-mock", object: "chat.completion.chunk", model, choices: [{ index: 0, delta, finish_reason: finish }] });
    chunk({ role: "assistant", content: "" });
    for (const p of pieces) chunk({ content: p });
    calls.forEach((c, index) => {
      const [a, b] = halves(c.arguments);
      chunk({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.name, arguments: a } }] });
      chunk({ tool_calls: [{ index, function: { arguments: b } }] });
    });
    chunk({}, calls.length ? "tool_calls" : "stop");
    push({ id: "chatcmpl-mock", object: "chat.completion.chunk", model, choices: [], usage: { prompt_tokens: tokens.input, completion_tokens: tokens.output } });
    out.push({ data: "[DONE]" });
  } else if (api === "responses") {
    push({ type: "response.created", response: { id: "resp_mock", model, status: "in_progress" } }, "response.created");
    for (const p of pieces) push({ type: "response.output_text.delta", delta: p }, "response.output_text.delta");
    push({ type: "response.completed", response: answer(api, model, step, calls, tokens) }, "response.completed");
  } else {
    push({ type: "message_start", message: { id: "msg_mock", type: "message", role: "assistant", model, content: [], usage: { input_tokens: tokens.input, output_tokens: 1 } } }, "message_start");
    let index = 0;
    if (pieces.length) {
      push({ type: "content_block_start", index, content_block: { type: "text", text: "" } }, "content_block_start");
      for (const p of pieces) push({ type: "content_block_delta", index, delta: { type: "text_delta", text: p } }, "content_block_delta");
      push({ type: "content_block_stop", index }, "content_block_stop");
      index++;
    }
    for (const c of calls) {
      push({ type: "content_block_start", index, content_block: { type: "tool_use", id: c.id, name: c.name, input: {} } }, "content_block_start");
      for (const h of halves(c.arguments)) push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: h } }, "content_block_delta");
      push({ type: "content_block_stop", index }, "content_block_stop");
      index++;
    }
    push({ type: "message_delta", delta: { stop_reason: calls.length ? "tool_use" : "end_turn" }, usage: { output_tokens: tokens.output } }, "message_delta");
    push({ type: "message_stop" }, "message_stop");
  }
  return out;
}

/** A server-sent-event response, an event at a time (each its own write, as a model streams). */
function sse(events: { event?: string; data: string }[]): Response {
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i >= events.length) return controller.close();
      const e = events[i++]!;
      controller.enqueue(encoder.encode(`${e.event ? `event: ${e.event}\n` : ""}data: ${e.data}\n\n`));
      await Bun.sleep(0);
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}
