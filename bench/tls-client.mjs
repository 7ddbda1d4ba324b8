// The same loop for the system node (its own OpenSSL): N streamed requests over one keep-alive connection.
import https from "node:https";
import { readFileSync } from "node:fs";
const [host, port, cafile, n, rate] = process.argv.slice(2);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(cafile) });
const body = JSON.stringify({ model: "bench-model", stream: true, messages: [{ role: "user", content: "x".repeat(2000) }] });
const post = () =>
  new Promise((resolve, reject) => {
    const req = https.request({ host, port, path: "/v1/chat/completions", method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
      let bytes = 0;
      res.on("data", (d) => (bytes += d.length));
      res.on("end", () => resolve(bytes));
    });
    req.on("error", reject);
    req.end(body);
  });
const start = performance.now();
let received = 0;
for (let i = 0; i < Number(n); i++) {
  const due = start + (i * 1000) / Number(rate);
  if (Number(rate) > 0 && due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
  received += await post();
}
agent.destroy();
console.log(JSON.stringify({ calls: Number(n), bytes: received }));
