/**
 * Heavy store queries against a big store, and what they do to the daemon's
 * liveness: a 1M-row store (0.2M with --quick) is written first, the real
 * daemon started on it, /healthz probed every 10 ms idle (the baseline,
 * same run), then again while 4 clients run the heaviest queries in a loop
 * (a filter that matches nothing, the biggest page, a time range, an agent
 * summary, a policy dry-run over the store). Prints /healthz p50/p99 idle
 * and loaded, each query's p50/p99, refusals (429/503), and the daemon's RSS.
 * Loopback only; every loop is bounded in time.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventStore } from "../src/store/event-store";
import { startDaemon } from "../lab/daemon";
import { fmt, pct, rssMiB, table, writeReport } from "./lib";


/** Rows shaped like stored exec and open events, the newest now, one per ms before it. */
async function fillStore(dir: string, rows: number): Promise<void> {
  await new EventStore({ dir }).close(); // the schema, as the daemon makes it
  const db = new Database(join(dir, "events.db"));
  db.exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;");
  const insert = db.prepare("INSERT INTO events (ts, type, pid, agent, data) VALUES (?, ?, ?, ?, ?)");
  const now = Date.now();
  const batch = 50_000;
  for (let start = 0; start < rows; start += batch) {
    db.transaction(() => {
      for (let i = start; i < Math.min(rows, start + batch); i++) {
        const ts = now - (rows - i);
        const open = i % 4 !== 0;
        const agent = i % 3 === 0 ? "bench-agent" : null;
        const e = open
          ? { type: "open", ts, pid: 1000 + (i % 5000), tid: 1000 + (i % 5000), comm: "cat", path: `/usr/lib/x86_64-linux-gnu/lib${i % 300}.so.6`, flags: 524288, ret: 3, agent }
          : { type: "exec", ts, pid: 1000 + (i % 5000), tid: 1000 + (i % 5000), comm: "cat", filename: "/usr/bin/cat", argv: ["cat", "/etc/hostname", `--n=${i}`], agent };
        insert.run(ts, e.type, e.pid, agent, JSON.stringify(e));
      }
    })();
  }
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

export async function benchQueries(quick: boolean): Promise<Record<string, unknown>> {
  const rows = quick ? 200_000 : 1_000_000;
  const loadMs = quick ? 10_000 : 30_000;
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-queries-"));
  const t0 = performance.now();
  await fillStore(dir, rows);
  const fillSeconds = (performance.now() - t0) / 1000;
  const d = await startDaemon(dir, { VIGIL_CAPTURE: "none" });
  const headers = { authorization: `Bearer ${d.token}`, "content-type": "application/json" };

  const probe = async (ms: number) => {
    const lat: number[] = [];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const t = performance.now();
      await (await fetch(`${d.base}/healthz`)).arrayBuffer();
      lat.push(performance.now() - t);
      await Bun.sleep(10);
    }
    return lat;
  };
  await probe(1000); // warm-up: the routes' first requests pay for compiling them
  const idle = await probe(quick ? 3000 : 5000);
  const rssIdle = rssMiB(d.proc.pid);

  const old = Date.now() - rows; // the oldest row's time
  const queries: { name: string; run: () => Promise<Response> }[] = [
    { name: "events?until=0 (matches nothing)", run: () => fetch(`${d.base}/v1/events?until=0&limit=1000`, { headers }) },
    { name: "events?limit=1000 (biggest page)", run: () => fetch(`${d.base}/v1/events?limit=1000`, { headers }) },
    { name: "events?since=oldest&order=asc", run: () => fetch(`${d.base}/v1/events?since=${old}&order=asc&limit=1000`, { headers }) },
    { name: "events?agent=nobody", run: () => fetch(`${d.base}/v1/events?agent=nobody&limit=1000`, { headers }) },
    { name: "findings", run: () => fetch(`${d.base}/v1/findings?limit=1000`, { headers }) },
    {
      name: "policies/dry-run over the store (100k)",
      run: () =>
        fetch(`${d.base}/v1/policies/dry-run`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            yaml: "apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: bench }\nspec:\n  rules:\n    - name: no-cat\n      match: { event: exec, binary: [/usr/bin/cat] }\n      action: alert\n",
            store: { limit: 100_000 },
          }),
        }),
    },
  ];
  const lat = new Map<string, number[]>(queries.map((q) => [q.name, []]));
  const refused = new Map<number, number>();
  let failures = 0;
  const end = Date.now() + loadMs;
  const client = async (k: number) => {
    for (let i = k; Date.now() < end; i++) {
      const q = queries[i % queries.length]!;
      const t = performance.now();
      const r = await q.run();
      await r.arrayBuffer();
      if (r.status === 429 || r.status === 503) refused.set(r.status, (refused.get(r.status) ?? 0) + 1);
      else if (!r.ok) failures++;
      else lat.get(q.name)!.push(performance.now() - t);
    }
  };
  let rssMax = rssIdle;
  const rssWatch = setInterval(() => (rssMax = Math.max(rssMax, rssMiB(d.proc.pid))), 250);
  const [loaded] = await Promise.all([probe(loadMs), ...[0, 1, 2, 3].map(client)]);
  clearInterval(rssWatch);
  const exit = await d.stop();
  rmSync(dir, { recursive: true, force: true });

  console.log(`\n## heavy store queries: ${fmt(rows / 1e6)}M-row store (written in ${fmt(fillSeconds)} s), 4 clients for ${loadMs / 1000} s, /healthz probed every 10 ms\n`);
  console.log(
    table(
      ["what", "p50 ms", "p99 ms", "n"],
      [
        ["/healthz, idle (baseline)", pct(idle, 50), pct(idle, 99), idle.length],
        ["/healthz, under the 4 clients", pct(loaded!, 50), pct(loaded!, 99), loaded!.length],
        ...queries.map((q) => [q.name, pct(lat.get(q.name)!, 50), pct(lat.get(q.name)!, 99), lat.get(q.name)!.length] as (string | number)[]),
      ],
    ),
  );
  console.log(`\n/healthz p99 loaded/idle: ${fmt(pct(loaded!, 99) / pct(idle, 99))}x · refused: ${[...refused].map(([s, n]) => `${s} ×${n}`).join(", ") || "none"} · failures: ${failures} · daemon RSS MiB idle ${fmt(rssIdle)}, max under load ${fmt(rssMax)} · exit on SIGTERM: ${exit}`);
  const result = {
    rows,
    loadSeconds: loadMs / 1000,
    healthzIdleMs: { p50: pct(idle, 50), p99: pct(idle, 99) },
    healthzLoadedMs: { p50: pct(loaded!, 50), p99: pct(loaded!, 99) },
    queries: Object.fromEntries(queries.map((q) => [q.name, { p50: pct(lat.get(q.name)!, 50), p99: pct(lat.get(q.name)!, 99), n: lat.get(q.name)!.length }])),
    refused: Object.fromEntries(refused),
    failures,
    rssMiB: { idle: rssIdle, max: rssMax },
  };
  writeReport("queries", result);
  return result;
}
