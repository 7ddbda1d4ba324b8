/**
 * TLS capture cost (`bun run bench tls`): a loopback LLM-call loop, streamed
 * Chat Completions answers over one keep-alive HTTPS connection, with the
 * real clients agents use (python's http.client over libssl, the system
 * node with its own OpenSSL), unobserved and observed with TLS captured
 * (uprobes, reassembly, llm_call events), alternating run by run. The
 * client's own CPU (rusage, kernel time included: where uprobe traps are
 * paid) is compared, with a third setup that observes without TLS (what the
 * client's syscalls cost apart from the uprobes); what Vigil read is counted
 * against what was sent. A per-call figure is the added client CPU over the
 * calls: on this host each hooked TLS call costs its traps (entry, the
 * out-of-line step of the first instruction, return) beside the program.
 *
 * Two loads: the target rate (50 calls/s, ~6 KB answers), and a
 * bulk run as fast as the client goes with ~1 MB answers, for the cost per
 * megabyte.
 */
import { OwnedCgroup } from "../src/cgroup/cgroup";
import { Runtime } from "../src/runtime/runtime";
import { CAPTURE_KINDS } from "../src/sensor/capture";
import { makeTestCertificate } from "../lab/tls-cert";
import { median, ROOT, runIn, table, writeReport } from "./lib";

const encoder = new TextEncoder();

/** A streamed Chat Completions answer of about `bytes` of SSE, in 1 KB deltas, with usage. */
function answer(bytes: number): Response {
  const piece = "y".repeat(1000);
  const n = Math.max(1, Math.round(bytes / 1100));
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < n) c.enqueue(encoder.encode(`data: ${JSON.stringify({ object: "chat.completion.chunk", model: "bench-model", choices: [{ index: 0, delta: { content: piece } }] })}\n\n`));
      else if (i === n) c.enqueue(encoder.encode(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 500, completion_tokens: n * 250 } })}\n\ndata: [DONE]\n\n`));
      else c.close();
      i++;
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream" } });
}

interface Load {
  name: string;
  calls: number;
  rate: number;
  answerBytes: number;
}

export async function benchTls(quick: boolean): Promise<Record<string, unknown>> {
  const cert = await makeTestCertificate();
  let answerBytes = 6000;
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: cert.cert, key: cert.key }, fetch: async (req) => (await req.text(), answer(answerBytes)) });
  const cg = OwnedCgroup.create(`bench-tls-${process.pid}`);
  const reps = quick ? 2 : 5;
  const loads: Load[] = [
    { name: "50 calls/s, 6 KB streamed answers", calls: quick ? 100 : 250, rate: 50, answerBytes: 6000 },
    { name: "bulk, 1 MB streamed answers", calls: quick ? 10 : 40, rate: 0, answerBytes: 1_000_000 },
  ];
  const clients = [
    { name: "python (libssl)", argv: (l: Load) => ["/usr/bin/python3", `${ROOT}/bench/tls-client.py`, "127.0.0.1", String(server.port), cert.certPath, String(l.calls), String(l.rate)] },
    { name: "node (own OpenSSL)", argv: (l: Load) => ["/usr/bin/node", `${ROOT}/bench/tls-client.mjs`, "127.0.0.1", String(server.port), cert.certPath, String(l.calls), String(l.rate)] },
  ];
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  try {
    for (const load of loads) {
      answerBytes = load.answerBytes;
      for (const client of clients) {
        const base: { cpuMs: number; ms: number }[] = [];
        const withoutTls: { cpuMs: number; ms: number }[] = [];
        const seen: { cpuMs: number; ms: number }[] = [];
        let sent = 0;
        let read = 0;
        let mb = 0;
        let dropped = 0;
        let truncated = 0;
        for (let r = 0; r < reps; r++) {
          base.push(await runIn(cg, client.argv(load)));
          // The observer without TLS: what the client's syscalls cost it, apart from the uprobes.
          const plain = new Runtime({ observer: { cgroupIds: [cg.id], capture: CAPTURE_KINDS.filter((k) => k !== "tls") } });
          plain.start();
          try {
            withoutTls.push(await runIn(cg, client.argv(load)));
          } finally {
            plain.stop();
          }
          const rt = new Runtime({ observer: { cgroupIds: [cg.id] } });
          let calls = 0;
          rt.pipeline.addSink({ name: "bench-count", write: (e) => void (e.type === "llm_call" && (calls++, e.truncated && truncated++)) });
          rt.start();
          rt.agents.register({ name: "bench-tls", cgroupId: cg.id });
          try {
            const run = await runIn(cg, client.argv(load));
            seen.push(run);
            const out = JSON.parse(run.stdout) as { calls: number; bytes: number };
            rt.observer.drain(true);
            sent += out.calls;
            mb += out.bytes / 1e6;
            read += calls;
            dropped += rt.observer.stats().droppedTotal + rt.intent!.counters.exchangesLost;
          } finally {
            rt.stop();
          }
        }
        const cpuBase = median(base.map((b) => b.cpuMs));
        const cpuPlain = median(withoutTls.map((b) => b.cpuMs));
        const cpuSeen = median(seen.map((s) => s.cpuMs));
        const perCallUs = ((cpuSeen - cpuBase) * 1000) / load.calls;
        const perMbMs = (cpuSeen - cpuBase) / (mb / reps);
        const addedPct = ((cpuSeen - cpuBase) / cpuBase) * 100;
        rows.push([load.name, client.name, cpuBase.toFixed(1), cpuPlain.toFixed(1), cpuSeen.toFixed(1), `${addedPct.toFixed(1)}%`, perCallUs.toFixed(0), perMbMs.toFixed(1), median(base.map((b) => b.ms)).toFixed(0), median(seen.map((s) => s.ms)).toFixed(0), `${read}/${sent}`, truncated, dropped]);
        results.push({ load: load.name, client: client.name, reps, calls: load.calls, clientCpuMsBaseline: base.map((b) => b.cpuMs), clientCpuMsObservedWithoutTls: withoutTls.map((b) => b.cpuMs), clientCpuMsObserved: seen.map((s) => s.cpuMs), addedCpuPct: addedPct, addedCpuUsPerCall: perCallUs, addedCpuMsPerMB: perMbMs, llmCallsRead: read, llmCallsSent: sent, truncated, dropped });
      }
    }
    console.log(`\n## TLS capture: loopback LLM calls, streamed answers, one keep-alive connection; ${reps} runs each (median), unobserved and observed alternating\n`);
    console.log(table(["load", "client", "client CPU ms", "observed, no tls", "observed", "added CPU", "µs/call", "ms/MB", "wall ms", "observed wall", "llm_call read/sent", "truncated", "lost"], rows));
    const out = { reps, results };
    writeReport("tls", out);
    return out;
  } finally {
    server.stop(true);
    await cg.remove();
  }
}
