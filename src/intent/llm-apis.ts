/**
 * The model APIs agents call, recognised by path and body: OpenAI Chat
 * Completions and Responses, Anthropic Messages, streamed (server-sent
 * events) or not. From a request: the model, whether it streams, the last
 * user or tool text, and the tool results it carries (which end tool calls).
 * From a response: the assistant text, the tool calls it asks for, and the
 * token usage.
 */

export type LlmApi = "chat.completions" | "responses" | "messages";
export type LlmProvider = "openai" | "anthropic";

export interface LlmRequest {
  provider: LlmProvider;
  api: LlmApi;
  model: string | null;
  stream: boolean;
  /** The text of the last user or tool message. */
  prompt: string | null;
  /** Ids of the tool calls whose results this request carries. */
  toolResults: string[];
}

export interface LlmResponse {
  model: string | null;
  completion: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  usage: { inputTokens: number; outputTokens: number } | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Which API a request path is, by its last segments (proxies and versions put prefixes before them). */
export function apiOfPath(path: string): { provider: LlmProvider; api: LlmApi } | null {
  const p = path.split("?")[0]!;
  if (p.endsWith("/chat/completions")) return { provider: "openai", api: "chat.completions" };
  if (p.endsWith("/responses")) return { provider: "openai", api: "responses" };
  if (p.endsWith("/messages")) return { provider: "anthropic", api: "messages" };
  return null;
}

/** Text of a message's content: a string, or the text parts of a list of blocks. */
function contentText(content: unknown): string | null {
  if (typeof content === "string") return content;
  const parts = list(content)
    .map((b) => (isObject(b) ? (str(b.text) ?? (b.type === "tool_result" ? contentText(b.content) : null) ?? str(b.output)) : null))
    .filter((t): t is string => t !== null);
  return parts.length ? parts.join("\n") : null;
}

export function parseLlmRequest(path: string, body: string): LlmRequest | null {
  const which = apiOfPath(path);
  if (!which) return null;
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObject(j)) return null;
  const base = { ...which, model: str(j.model), stream: j.stream === true };
  if (which.api === "responses") {
    const items = typeof j.input === "string" ? [{ role: "user", content: j.input }] : list(j.input).filter(isObject);
    const toolResults = items.filter((i) => i.type === "function_call_output").map((i) => str(i.call_id)).filter((x): x is string => x !== null);
    const last = [...items].reverse().find((i) => i.role === "user" || i.type === "function_call_output");
    return { ...base, prompt: last ? (contentText(last.content) ?? str(last.output)) : null, toolResults };
  }
  const messages = list(j.messages).filter(isObject);
  const toolResults: string[] = [];
  for (const m of messages) {
    if (m.role === "tool" && str(m.tool_call_id)) toolResults.push(m.tool_call_id as string);
    for (const b of list(m.content)) if (isObject(b) && b.type === "tool_result" && str(b.tool_use_id)) toolResults.push(b.tool_use_id as string);
  }
  const last = [...messages].reverse().find((m) => m.role === "user" || m.role === "tool");
  return { ...base, prompt: last ? contentText(last.content) : null, toolResults };
}

/** `data:` payloads of a server-sent-event stream, parsed as JSON where they are JSON. */
function sseData(body: string): Json[] {
  const out: Json[] = [];
  for (const block of body.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (!data || data === "[DONE]") continue;
    try {
      const j = JSON.parse(data);
      if (isObject(j)) out.push(j);
    } catch {
      /* a partial event (truncated stream) */
    }
  }
  return out;
}

export function parseLlmResponse(api: LlmApi, contentType: string, body: string): LlmResponse | null {
  const streamed = contentType.includes("text/event-stream");
  if (streamed) return api === "chat.completions" ? chatStream(sseData(body)) : api === "responses" ? responsesStream(sseData(body)) : messagesStream(sseData(body));
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObject(j)) return null;
  if (api === "chat.completions") {
    const message = isObject(list(j.choices)[0]) ? ((list(j.choices)[0] as Json).message as Json | undefined) : undefined;
    const usage = isObject(j.usage) ? { inputTokens: num(j.usage.prompt_tokens), outputTokens: num(j.usage.completion_tokens) } : null;
    const toolCalls = list(message?.tool_calls)
      .filter(isObject)
      .map((c) => ({ id: str(c.id) ?? "", name: str((c.function as Json | undefined)?.name) ?? "", arguments: str((c.function as Json | undefined)?.arguments) ?? "" }));
    return { model: str(j.model), completion: str(message?.content) ?? "", toolCalls, usage };
  }
  if (api === "responses") return responsesResult(j);
  const blocks = list(j.content).filter(isObject);
  return {
    model: str(j.model),
    completion: blocks.filter((b) => b.type === "text").map((b) => str(b.text) ?? "").join(""),
    toolCalls: blocks.filter((b) => b.type === "tool_use").map((b) => ({ id: str(b.id) ?? "", name: str(b.name) ?? "", arguments: JSON.stringify(b.input ?? {}) })),
    usage: isObject(j.usage) ? { inputTokens: num(j.usage.input_tokens), outputTokens: num(j.usage.output_tokens) } : null,
  };
}

function responsesResult(r: Json): LlmResponse {
  const output = list(r.output).filter(isObject);
  return {
    model: str(r.model),
    completion: output
      .filter((o) => o.type === "message")
      .flatMap((o) => list(o.content).filter(isObject))
      .map((c) => str(c.text) ?? "")
      .join(""),
    toolCalls: output.filter((o) => o.type === "function_call").map((o) => ({ id: str(o.call_id) ?? str(o.id) ?? "", name: str(o.name) ?? "", arguments: str(o.arguments) ?? "" })),
    usage: isObject(r.usage) ? { inputTokens: num(r.usage.input_tokens), outputTokens: num(r.usage.output_tokens) } : null,
  };
}

function chatStream(events: Json[]): LlmResponse {
  let model: string | null = null;
  let completion = "";
  let usage: LlmResponse["usage"] = null;
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  for (const e of events) {
    model ??= str(e.model);
    if (isObject(e.usage)) usage = { inputTokens: num(e.usage.prompt_tokens), outputTokens: num(e.usage.completion_tokens) };
    const delta = isObject(list(e.choices)[0]) ? ((list(e.choices)[0] as Json).delta as Json | undefined) : undefined;
    if (!delta) continue;
    completion += str(delta.content) ?? "";
    for (const c of list(delta.tool_calls).filter(isObject)) {
      const index = num(c.index);
      const call = calls.get(index) ?? { id: "", name: "", arguments: "" };
      const fn = isObject(c.function) ? c.function : {};
      call.id ||= str(c.id) ?? "";
      call.name ||= str(fn.name) ?? "";
      call.arguments += str(fn.arguments) ?? "";
      calls.set(index, call);
    }
  }
  return { model, completion, toolCalls: [...calls.values()], usage };
}

function responsesStream(events: Json[]): LlmResponse {
  const done = events.find((e) => e.type === "response.completed" && isObject(e.response));
  if (done) return responsesResult(done.response as Json);
  // No completion event (a cut stream): what the deltas said.
  const completion = events
    .filter((e) => e.type === "response.output_text.delta")
    .map((e) => str(e.delta) ?? "")
    .join("");
  return { model: null, completion, toolCalls: [], usage: null };
}

function messagesStream(events: Json[]): LlmResponse {
  let model: string | null = null;
  let completion = "";
  let inputTokens = 0;
  let outputTokens = 0;
  let sawUsage = false;
  const blocks = new Map<number, { id: string; name: string; arguments: string }>();
  for (const e of events) {
    if (e.type === "message_start" && isObject(e.message)) {
      model = str(e.message.model);
      if (isObject(e.message.usage)) {
        inputTokens = num(e.message.usage.input_tokens);
        outputTokens = num(e.message.usage.output_tokens);
        sawUsage = true;
      }
    } else if (e.type === "content_block_start" && isObject(e.content_block) && e.content_block.type === "tool_use") {
      blocks.set(num(e.index), { id: str(e.content_block.id) ?? "", name: str(e.content_block.name) ?? "", arguments: "" });
    } else if (e.type === "content_block_delta" && isObject(e.delta)) {
      if (e.delta.type === "text_delta") completion += str(e.delta.text) ?? "";
      else if (e.delta.type === "input_json_delta") {
        const b = blocks.get(num(e.index));
        if (b) b.arguments += str(e.delta.partial_json) ?? "";
      }
    } else if (e.type === "message_delta" && isObject(e.usage)) {
      outputTokens = num(e.usage.output_tokens);
      if (num(e.usage.input_tokens)) inputTokens = num(e.usage.input_tokens);
      sawUsage = true;
    }
  }
  return { model, completion, toolCalls: [...blocks.values()].map((b) => ({ ...b, arguments: b.arguments || "{}" })), usage: sawUsage ? { inputTokens, outputTokens } : null };
}
