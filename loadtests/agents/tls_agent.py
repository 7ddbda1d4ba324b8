"""A coding-agent stand-in over TLS, with Python's http.client (OpenSSL's libssl).

Asks the model what to do, carries out its tool calls (run_shell in a child
shell, read_file and write_file in this process), sends the results back, until
the model answers without a tool call. Speaks OpenAI Chat Completions
(--api chat), OpenAI Responses (--api responses) or Anthropic Messages
(--api messages), streamed (--stream) or not. Bounded: --max-turns, and a
timeout on every command and request.

  python3 tls_agent.py --url https://127.0.0.1:PORT --cafile cert.pem --workdir DIR [--api chat] [--stream]
"""
import argparse
import http.client
import json
import os
import ssl
import subprocess
import sys
import urllib.parse

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}


def tool(name, args, workdir):
    def path(p):
        return p if os.path.isabs(p) else os.path.join(workdir, p)

    if name == "run_shell":
        r = subprocess.run(["/bin/sh", "-c", args.get("command", "true")], cwd=workdir, capture_output=True, text=True, timeout=10)
        return json.dumps({"exitCode": r.returncode, "stdout": r.stdout[:4000], "stderr": r.stderr[:2000]})
    if name == "read_file":
        try:
            with open(path(args["path"])) as f:
                return f.read()[:8000]
        except OSError as e:
            return f"error: {e}"
    if name == "write_file":
        with open(path(args["path"]), "w") as f:
            f.write(args.get("content", ""))
        return "ok"
    return f"error: unknown tool {name}"


def sse_events(body):
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(l[5:].lstrip() for l in block.split("\n") if l.startswith("data:"))
        if data and data != "[DONE]":
            yield json.loads(data)


def read_answer(api, stream, body):
    """The assistant's text and tool calls [(id, name, arguments-json)], from a JSON body or an event stream."""
    if not stream:
        j = json.loads(body)
        if api == "chat":
            m = j["choices"][0]["message"]
            return m.get("content") or "", [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls") or []]
        if api == "responses":
            out = j["output"]
            text = "".join(c.get("text", "") for o in out if o["type"] == "message" for c in o["content"])
            return text, [(o["call_id"], o["name"], o["arguments"]) for o in out if o["type"] == "function_call"]
        text = "".join(b["text"] for b in j["content"] if b["type"] == "text")
        return text, [(b["id"], b["name"], json.dumps(b["input"])) for b in j["content"] if b["type"] == "tool_use"]
    events = list(sse_events(body))
    if api == "chat":
        text, calls = "", {}
        for e in events:
            for ch in e.get("choices", []):
                d = ch.get("delta", {})
                text += d.get("content") or ""
                for c in d.get("tool_calls", []):
                    cur = calls.setdefault(c["index"], ["", "", ""])
                    cur[0] = cur[0] or c.get("id", "")
                    cur[1] = cur[1] or c.get("function", {}).get("name", "")
                    cur[2] += c.get("function", {}).get("arguments", "")
        return text, [tuple(v) for _, v in sorted(calls.items())]
    if api == "responses":
        done = next(e for e in events if e["type"] == "response.completed")
        return read_answer(api, False, json.dumps(done["response"]))
    text, blocks = "", {}
    for e in events:
        if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use":
            blocks[e["index"]] = [e["content_block"]["id"], e["content_block"]["name"], ""]
        elif e["type"] == "content_block_delta":
            d = e["delta"]
            if d["type"] == "text_delta":
                text += d["text"]
            elif d["type"] == "input_json_delta":
                blocks[e["index"]][2] += d["partial_json"]
    return text, [tuple(v) for _, v in sorted(blocks.items())]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--api", choices=list(PATHS), default="chat")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--model", default="mock-model")
    ap.add_argument("--max-turns", type=int, default=20)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    u = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=a.cafile), timeout=10)
    history = [{"role": "user", "content": "Do the task of the scenario."}]
    tool_calls = 0
    for turn in range(1, a.max_turns + 1):
        body = {"model": a.model, "stream": a.stream}
        if a.api == "responses":
            body["input"] = history
        else:
            body["messages"] = history
            if a.api == "messages":
                body["max_tokens"] = 1024
        conn.request("POST", PATHS[a.api], body=json.dumps(body), headers={"content-type": "application/json", "authorization": "Bearer sk-test-not-a-real-key-0123456789"})
        r = conn.getresponse()
        text, calls = read_answer(a.api, a.stream, r.read().decode())
        if not calls:
            print(json.dumps({"turns": turn, "toolCalls": tool_calls, "final": text}))
            return 0
        if a.api == "chat":
            history.append({"role": "assistant", "content": text or None, "tool_calls": [{"id": i, "type": "function", "function": {"name": n, "arguments": args}} for i, n, args in calls]})
        elif a.api == "responses":
            history.extend({"type": "function_call", "call_id": i, "name": n, "arguments": args} for i, n, args in calls)
        else:
            history.append({"role": "assistant", "content": [{"type": "tool_use", "id": i, "name": n, "input": json.loads(args)} for i, n, args in calls]})
        results = []
        for i, n, args in calls:
            tool_calls += 1
            results.append((i, tool(n, json.loads(args), a.workdir)))
        if a.api == "chat":
            history.extend({"role": "tool", "tool_call_id": i, "content": out} for i, out in results)
        elif a.api == "responses":
            history.extend({"type": "function_call_output", "call_id": i, "output": out} for i, out in results)
        else:
            history.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": out} for i, out in results]})
    print(json.dumps({"turns": a.max_turns, "toolCalls": tool_calls, "final": None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
