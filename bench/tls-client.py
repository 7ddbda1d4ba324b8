"""A loopback LLM-call loop for `bun run bench tls`: N streamed Chat Completions requests over one
keep-alive TLS connection (http.client over libssl), at a target rate (0: as fast as it can).
Prints {"calls": N, "bytes": plaintext bytes received}."""
import http.client, json, ssl, sys, time

url_host, port, cafile, n, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
conn = http.client.HTTPSConnection(url_host, port, context=ssl.create_default_context(cafile=cafile), timeout=30)
body = json.dumps({"model": "bench-model", "stream": True, "messages": [{"role": "user", "content": "x" * 2000}]})
start, received = time.monotonic(), 0
for i in range(n):
    if rate > 0:
        due = start + i / rate
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
    conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
    received += len(conn.getresponse().read())
print(json.dumps({"calls": n, "bytes": received}))
