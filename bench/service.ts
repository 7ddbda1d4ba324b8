/**
 * The daemon under a sustained kernel storm: API latency (p50/p99) of
 * /v1/events queries and /metrics scrapes, SSE delivery latency from the
 * kernel timestamp to the client, events/s stored, and the daemon's RSS over
 * a soak (5 minutes; --quick: 20 s). Loopback only; every loop is bounded.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, pct, rssMiB, table, writeReport } from "./lib";
import { startDaemon } from "../lab/daemon";
import { forEachDelimited } from "../lab/delimited";
import { benchQueries } from "./queries";


export async function benchService(quick: boolean): Promise<Record<string, unknown>> {
  // First the daemon's liveness under heavy store queries (bench/queries.ts), then the soak.
  const queries = await benchQueries(quick);
  const soakMs = quick ? 20_000 : 300_000;
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-svc-"));
  const d = await startDaemon(dir);
  const daemon = d.proc;
  const { base, token } = d;
  const headers = { authorization: `Bearer ${token}` };

  // Sustained storm: short processes, each opening files (exec + open events), bounded by the soak time.
  const stormSeconds = Math.ceil(soakMs / 1000);
  const storm = Bun.spawn(["/bin/sh", "-c", `end=$(($(date +%s) + ${stormSeconds})); while [ $(date +%s) -lt $end ]; do cat /etc/hostname /etc/passwd > /dev/null; done`], { stdout: "ignore" });

  // SSE subscriber: latency from the event's kernel time (wall clock) to its arrival here.
  const sseLat: number[] = [];
  const ctrl = new AbortController();
  const sse = fetch(`${base}/v1/events/stream?type=exec`, { headers, signal: ctrl.signal }).then((r) =>
    forEachDelimited(r.body!, "\n\n", (msg) => {
      const data = /^data: (.*)$/m.exec(msg);
      if (data && msg.includes("event: exec")) sseLat.push(Date.now() - (JSON.parse(data[1]!) as { ts: number }).ts);
    }, true),
  );

  const qLat: number[] = [];
  const mLat: number[] = [];
  const rss: { t: number; mib: number }[] = [];
  let stored0 = -1;
  let t0 = 0;
  const started = Date.now();
  let lastRss = 0;
  let errors = 0;
  while (Date.now() - started < soakMs) {
    let t = performance.now();
    const q = await fetch(`${base}/v1/events?type=open&limit=100`, { headers });
    await q.arrayBuffer();
    qLat.push(performance.now() - t);
    if (!q.ok) errors++;
    t = performance.now();
    const m = await fetch(`${base}/metrics`);
    await m.text();
    mLat.push(performance.now() - t);
    if (!m.ok) errors++;
    if (Date.now() - lastRss >= 1000) {
      lastRss = Date.now();
      rss.push({ t: (Date.now() - started) / 1000, mib: rssMiB(daemon.pid) });
    }
    if (stored0 < 0 && Date.now() - started > 2000) {
      const s = (await (await fetch(`${base}/v1/stats`, { headers })).json()) as { store: { written: number } };
      stored0 = s.store.written;
      t0 = Date.now();
    }
    await Bun.sleep(20); // ~25 query+scrape pairs per second, bounded
  }
  const stats = (await (await fetch(`${base}/v1/stats`, { headers })).json()) as { store: { written: number }; droppedTotal: number; dropped: Record<string, number> };
  const storedPerSec = (stats.store.written - stored0) / ((Date.now() - t0) / 1000);
  ctrl.abort();
  await sse.catch(() => {});
  storm.kill();
  await storm.exited;
  const exit = await d.stop();
  rmSync(dir, { recursive: true, force: true });

  const minute = Math.min(60, soakMs / 4000);
  const early = rss.filter((r) => r.t > 2 && r.t <= 2 + minute).map((r) => r.mib);
  const late = rss.filter((r) => r.t > soakMs / 1000 - minute).map((r) => r.mib);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  console.log(`\n## service under a sustained exec/open storm: ${(soakMs / 1000).toFixed(0)} s soak, queries every ~20 ms, one SSE subscriber\n`);
  console.log(
    table(
      ["what", "p50", "p99", "n"],
      [
        ["GET /v1/events?type=open&limit=100 (ms)", pct(qLat, 50), pct(qLat, 99), qLat.length],
        ["GET /metrics (ms)", pct(mLat, 50), pct(mLat, 99), mLat.length],
        ["SSE delivery, kernel event -> client (ms)", pct(sseLat, 50), pct(sseLat, 99), sseLat.length],
      ],
    ),
  );
  console.log(`\nevents stored: ${fmt(storedPerSec)} /s · dropped: ${stats.droppedTotal} (${Object.entries(stats.dropped).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}) · HTTP errors: ${errors} · daemon exit on SIGTERM: ${exit}`);
  console.log(`daemon RSS MiB: first ${fmt(minute)} s mean ${fmt(mean(early))}, last ${fmt(minute)} s mean ${fmt(mean(late))}, max ${fmt(Math.max(...rss.map((r) => r.mib)))} (${rss.length} samples)`);
  const result = { soakSeconds: soakMs / 1000, queryMs: { p50: pct(qLat, 50), p99: pct(qLat, 99) }, metricsMs: { p50: pct(mLat, 50), p99: pct(mLat, 99) }, sseMs: { p50: pct(sseLat, 50), p99: pct(sseLat, 99), n: sseLat.length }, storedPerSec, dropped: stats.dropped, errors, rss };
  writeReport("service", result);
  return { ...result, queries };
}
