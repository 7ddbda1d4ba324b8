/**
 * A local mock LLM: an OpenAI-style `POST /v1/chat/completions` on loopback
 * that answers from a scenario script. Each assistant turn is the next step
 * of the script: tool calls (run_shell, read_file, write_file, http_get), or
 * a final message. The step is chosen by how many assistant turns the
 * conversation already has, so the server itself is stateless.
 */
export interface ToolCall {
  name: "run_shell" | "read_file" | "write_file" | "http_get";
  arguments: Record<string, string>;
}

export interface Scenario {
  name: string;
  description: string;
  /** Whether a step is meant to be caught (a secret read, an unexpected binary, a connection out). */
  rogue: boolean;
  steps: ({ toolCalls: ToolCall[] } | { message: string })[];
}

interface ChatRequest {
  model?: string;
  messages: { role: string; content?: string | null }[];
}

export function startMockLlm(scenario: Scenario): { url: string; stop: () => void; requests: () => number } {
  let requests = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/v1/chat/completions") return Response.json({ error: { message: "not found" } }, { status: 404 });
      requests++;
      const body = (await req.json()) as ChatRequest;
      const turn = body.messages.filter((m) => m.role === "assistant").length;
      const step = scenario.steps[Math.min(turn, scenario.steps.length - 1)]!;
      const message =
        "toolCalls" in step
          ? {
              role: "assistant",
              content: null,
              tool_calls: step.toolCalls.map((c, i) => ({ id: `call_${turn}_${i}`, type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
            }
          : { role: "assistant", content: step.message };
      return Response.json({
        id: `chatcmpl-${turn}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model ?? "mock",
        choices: [{ index: 0, message, finish_reason: "toolCalls" in step ? "tool_calls" : "stop" }],
      });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true), requests: () => requests };
}
