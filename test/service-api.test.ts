/**
 * Contract tests against a real server on port 0 with the real observer:
 * kernel events made by the test appear in /v1/events and on the SSE stream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VigilService } from "../src/service/vigil-service";
import { requireRoot, startInProcessService, unique, until } from "./helpers";

requireRoot();
const dir = mkdtempSync(join(tmpdir(), "vigil-api-"));
const TOKEN = "test-token-0123456789abcdef";
let service: VigilService;
let base: string;
let stopService: () => Promise<void>;

beforeAll(async () => {
  const s = await startInProcessService({ VIGIL_DATA_DIR: dir, VIGIL_STREAM_HEARTBEAT_MS: "200" }, TOKEN);
  service = s.service;
  base = s.base;
  stopService = s.stop;
});
afterAll(async () => {
  await stopService();
  rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}` };
const get = (path: string, headers: Record<string, string> = auth) => fetch(`${base}${path}`, { headers });


describe("health, readiness, metrics (no token needed)", () => {
  test("healthz", async () => {
    const r = await get("/healthz", {});
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: "ok" });
  });
  test("readyz is 200 while attached, consuming and writable", async () => {
    const r = await get("/readyz", {});
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ready", reasons: [] });
  });
  test("metrics has the required series", async () => {
    const r = await get("/metrics", {});
    expect(r.status).toBe(200);
    const text = await r.text();
    for (const name of ["vigil_events_total", "vigil_events_dropped_total", "vigil_ring_fill_ratio", "vigil_ingest_lag_seconds_bucket", "vigil_store_size_bytes", "vigil_http_request_duration_seconds_bucket", "vigil_build_info", "vigil_process_resident_memory_bytes"])
      expect(text).toContain(name);
    for (const stage of ["kernel_ring_full", "store_queue_full", "store_write_error", "stream_subscriber", "decode_error"]) expect(text).toContain(`vigil_events_dropped_total{stage="${stage}"}`);
    // The heap's size and use are there; the per-space gauges are not: in Bun they walk the whole heap on every scrape.
    expect(text).toContain("vigil_nodejs_heap_size_used_bytes");
    expect(text).not.toContain("heap_space_size");
  });
  test("OpenAPI document and UI", async () => {
    const doc = (await (await get("/swagger/json", {})).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/events", "/v1/events/stream", "/v1/processes/{pid}", "/v1/agents/{id}", "/v1/stats", "/readyz"]));
    expect((await get("/swagger", {})).status).toBe(200);
  });
  test("every operation documents its responses; /v1 ones their 401; the stream is text/event-stream", async () => {
    const doc = (await (await get("/swagger/json", {})).json()) as { paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>> };
    const ops = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, codes: Object.keys(op.responses ?? {}) })));
    expect(ops.length).toBeGreaterThanOrEqual(24);
    for (const op of ops) {
      expect({ op: `${op.method} ${op.path}`, has2xx: op.codes.some((c) => /^2\d\d$/.test(c)) }).toEqual({ op: `${op.method} ${op.path}`, has2xx: true });
      if (op.path.startsWith("/v1")) expect(op.codes).toContain("401");
    }
    expect(Object.keys(doc.paths["/v1/events/stream"]!.get!.responses!["200"]!.content!)).toEqual(["text/event-stream"]);
    expect(doc.paths["/v1/agents"]!.post!.responses!["403"]).toBeDefined();
  });
  test("Swagger UI: at /swagger and /swagger/, its assets from this origin, no CDN", async () => {
    for (const path of ["/swagger", "/swagger/"]) {
      const r = await get(path, {});
      expect(r.status).toBe(200);
      expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
      const html = await r.text();
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(refs.length).toBeGreaterThanOrEqual(3);
      for (const ref of refs) {
        expect(ref.startsWith("/swagger/assets/")).toBe(true);
        const asset = await get(ref, {});
        expect(asset.status).toBe(200);
        expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(500);
      }
      expect(html).toContain('url: "/swagger/json"');
    }
    expect((await get("/swagger/assets/package.json", {})).status).toBe(404);
    expect((await get("/swagger/assets/..%2Fpackage.json", {})).status).toBe(404);
  });
});

describe("auth", () => {
  for (const path of ["/v1/events", "/v1/events/stream", "/v1/processes", "/v1/processes/1", "/v1/agents", "/v1/agents/x", "/v1/stats"]) {
    test(`${path} needs the bearer token`, async () => {
      const variants: Record<string, string>[] = [{}, { authorization: "Bearer wrong-token-0123456789abcd" }, { authorization: TOKEN }];
      for (const headers of variants) {
        const r = await get(path, headers);
        expect(r.status).toBe(401);
        expect(await r.json()).toMatchObject({ error: "unauthorized" });
      }
    });
  }
});

describe("events", () => {
  // How soon is the service bench's (SSE kernel-to-client p50/p99): a wall-clock bound here would fail on a slow host.
  test("an exec made by the test shows up in /v1/events and on the SSE stream", async () => {
    const token = unique("api");
    const ctrl = new AbortController();
    const stream = await fetch(`${base}/v1/events/stream?type=exec`, { headers: auth, signal: ctrl.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    const reader = stream.body!.getReader();
    const t0 = Date.now();
    Bun.spawnSync(["/bin/echo", token]);
    let seen = "";
    const dec = new TextDecoder();
    while (!seen.includes(token) && Date.now() - t0 < 10_000) {
      const { value, done } = await Promise.race([reader.read(), Bun.sleep(1000).then(() => ({ value: undefined, done: false }))]);
      if (done) break;
      if (value) seen += dec.decode(value);
    }
    ctrl.abort();
    expect(seen).toContain("event: exec");
    expect(seen).toContain(token);
    const hit = await until(async () => {
      const body = (await (await get("/v1/events?type=exec&limit=200")).json()) as { events: { argv: string[] }[] };
      return body.events.find((e) => e.argv.includes(token));
    });
    expect(hit.argv).toEqual(["/bin/echo", token]);
  });

  test("a stream reconnecting with Last-Event-ID gets what happened meanwhile, nothing twice", async () => {
    const [first, second, third] = [unique("resume-a"), unique("resume-b"), unique("resume-c")];
    const read = async (res: Response, want: string) => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = "";
      const deadline = Date.now() + 5000;
      while (!text.includes(want) && Date.now() < deadline) {
        const r = await Promise.race([reader.read(), Bun.sleep(500).then(() => null)]);
        if (r?.done) break;
        if (r?.value) text += dec.decode(r.value);
      }
      return text;
    };
    const ctrl = new AbortController();
    const one = await fetch(`${base}/v1/events/stream?type=exec`, { headers: auth, signal: ctrl.signal });
    await (Bun.spawn(["/bin/echo", first]).exited);
    const seen = await read(one, first);
    ctrl.abort();
    const lastId = Number(/^id: (\d+)$/m.exec(seen.split("\n\n").find((chunk) => chunk.includes(first))!)![1]);
    // Disconnected: two more execs happen and are stored.
    await (Bun.spawn(["/bin/echo", second]).exited);
    await (Bun.spawn(["/bin/echo", third]).exited);
    await until(async () => ((await (await get("/v1/events?type=exec&limit=200")).json()) as { events: { argv: string[] }[] }).events.some((e) => e.argv.includes(third)));
    const ctrl2 = new AbortController();
    const two = await fetch(`${base}/v1/events/stream?type=exec`, { headers: { ...auth, "last-event-id": String(lastId) }, signal: ctrl2.signal });
    const text = await read(two, third);
    ctrl2.abort();
    expect(text).not.toContain(first);
    expect(text.indexOf(second)).toBeGreaterThan(0);
    expect(text.indexOf(third)).toBeGreaterThan(text.indexOf(second));
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids[0]!).toBeGreaterThan(lastId);
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b));
    const bad = await fetch(`${base}/v1/events/stream`, { headers: { ...auth, "last-event-id": "abc" } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("invalid_header");
  });

  test("filters and stable cursor pagination (newest first, no duplicates, no gaps)", async () => {
    for (let i = 0; i < 12; i++) Bun.spawnSync(["/bin/true"]);
    await Bun.sleep(150);
    const all = (await (await get("/v1/events?type=exec&limit=1000")).json()) as { events: { id: number; type: string }[] };
    const ids: number[] = [];
    let cursor: number | null = null;
    do {
      const r = (await (await get(`/v1/events?type=exec&limit=5${cursor ? `&cursor=${cursor}` : ""}`)).json()) as { events: { id: number; type: string }[]; nextCursor: number | null };
      expect(r.events.length).toBeLessThanOrEqual(5);
      for (const e of r.events) expect(e.type).toBe("exec");
      ids.push(...r.events.map((e) => e.id));
      cursor = r.nextCursor;
    } while (cursor !== null && ids.length < 1000);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(ids.slice(0, all.events.length)).toEqual(all.events.map((e) => e.id).slice(0, ids.length));
    const asc = (await (await get("/v1/events?type=exec&limit=3&order=asc")).json()) as { events: { id: number }[] };
    expect(asc.events.map((e) => e.id)).toEqual([...asc.events.map((e) => e.id)].sort((a, b) => a - b));
    const byPid = (await (await get(`/v1/events?pid=${all.events[0] ? (all.events[0] as unknown as { pid: number }).pid : 1}`)).json()) as { events: { pid: number }[] };
    expect(byPid.events.every((e) => e.pid === (all.events[0] as unknown as { pid: number }).pid)).toBe(true);
    const since = Date.now() + 60_000;
    expect(((await (await get(`/v1/events?since=${since}`)).json()) as { events: unknown[] }).events).toEqual([]);
  });
});

describe("every validation error path is a 4xx JSON body", () => {
  const cases: [string, number, string][] = [
    ["/v1/events?type=bogus", 400, "invalid_request"],
    ["/v1/events?pid=abc", 400, "invalid_request"],
    ["/v1/events?pid=-5", 400, "invalid_request"],
    ["/v1/events?limit=0", 400, "invalid_request"],
    ["/v1/events?limit=5000", 400, "invalid_request"],
    ["/v1/events?limit=abc", 400, "invalid_request"],
    ["/v1/events?order=sideways", 400, "invalid_request"],
    ["/v1/events?cursor=-1", 400, "invalid_request"],
    ["/v1/events?since=yesterday", 400, "invalid_query"],
    ["/v1/events?since=2000&until=1000", 400, "invalid_query"],
    ["/v1/events?bogus=1", 400, "invalid_query"],
    ["/v1/events/stream?type=nope", 400, "invalid_request"],
    ["/v1/processes?state=zombie", 400, "invalid_request"],
    ["/v1/processes?x=1", 400, "invalid_query"],
    ["/v1/processes/abc", 400, "invalid_request"],
    ["/v1/processes/4000000", 404, "not_found"],
    ["/v1/agents/nobody", 404, "not_found"],
    ["/v1/nothing-here", 404, "not_found"],
    ["/nothing-here", 404, "not_found"],
  ];
  for (const [path, status, code] of cases) {
    test(`${path} -> ${status} ${code}`, async () => {
      const r = await get(path);
      expect(r.status).toBe(status);
      const body = (await r.json()) as { error: string; message: string };
      expect(body.error).toBe(code);
      expect(body.message.length).toBeGreaterThan(5);
    });
  }
  test("an oversized body -> 413 JSON", async () => {
    const r = await fetch(`${base}/v1/events`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "x".repeat(2 << 20) });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: string }).error).toBe("body_too_large");
  });
  test("bad JSON on a route without a body, and a wrong method -> 4xx JSON", async () => {
    const r = await fetch(`${base}/v1/events`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{not json" });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(((await r.json()) as { error: string }).error).toBeDefined();
  });
  test("the service is still healthy after all of that", async () => {
    expect((await get("/readyz", {})).status).toBe(200);
  });
});

describe("processes, agents, stats", () => {
  test("the live tree knows this test process with its ancestry", async () => {
    const r = (await (await get(`/v1/processes/${process.pid}`)).json()) as { process: { pid: number }; live: boolean; ancestry: { pid: number }[] };
    expect(r.process.pid).toBe(process.pid);
    expect(r.live).toBe(true);
    expect(r.ancestry.at(-1)!.pid).toBe(1);
    const list = (await (await get("/v1/processes?limit=5")).json()) as { processes: unknown[]; total: number };
    expect(list.processes.length).toBeLessThanOrEqual(5);
    expect(list.total).toBeGreaterThan(5);
  });
  test("agents and stats", async () => {
    service.agents.register({ name: "api-test-agent", rootPid: process.pid });
    const a = (await (await get("/v1/agents")).json()) as { agents: { name: string }[] };
    expect(a.agents.map((x) => x.name)).toContain("api-test-agent");
    const one = (await (await get("/v1/agents/api-test-agent")).json()) as { agent: { name: string }; activity: { liveProcesses: number } };
    expect(one.activity.liveProcesses).toBeGreaterThanOrEqual(1);
    const s = (await (await get("/v1/stats")).json()) as { dropped: Record<string, number>; store: { written: number }; ring: { attachedPrograms: number; capture: string[] }; syscallCounts: { exitedForgotten: number } };
    expect(Object.keys(s.dropped)).toEqual(expect.arrayContaining(["kernel_ring_full", "store_queue_full", "stream_subscriber"]));
    expect(s.store.written).toBeGreaterThan(0);
    expect(s.ring.attachedPrograms).toBe(5);
    expect(s.ring.capture).toEqual(["open", "connect", "cred", "exec_failed", "tls"]);
    expect(s.syscallCounts.exitedForgotten).toBe(0); // far fewer than 4096 processes have exited
  });
});
