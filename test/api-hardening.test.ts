/**
 * The API against bad input, as an attacker or a careless client would send
 * it: every answer is a 4xx JSON body naming the problem, never a 500, and the
 * service stays healthy. A real server on port 0 with the real observer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../src/service/config";
import { BUN_MAX_HEADER_BYTES, MAX_BODY_BYTES } from "../src/service/limits";
import type { VigilService } from "../src/service/vigil-service";
import { readTokenFor, requireRoot, ROOT, startInProcessService } from "./helpers";

requireRoot();
const dir = mkdtempSync(join(tmpdir(), "vigil-hard-"));
const TOKEN = "hard-token-0123456789abcdef";
const READ = readTokenFor(TOKEN);
let service: VigilService;
let base: string;
let stopService: () => Promise<void>;

beforeAll(async () => {
  const s = await startInProcessService({ VIGIL_DATA_DIR: join(dir, "data") }, TOKEN);
  service = s.service;
  base = s.base;
  stopService = s.stop;
});
afterAll(async () => {
  await stopService();
  rmSync(dir, { recursive: true, force: true });
});

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const get = (path: string, headers: Record<string, string> = auth()) => fetch(`${base}${path}`, { headers });
const post = (path: string, body: unknown, token = TOKEN) => fetch(`${base}${path}`, { method: "POST", headers: { ...auth(token), "content-type": "application/json" }, body: JSON.stringify(body) });

async function expectError(r: Response, status: number, code: string, mention?: string): Promise<string> {
  expect(r.headers.get("content-type") ?? "").toContain("application/json");
  const body = (await r.json()) as { error: string; message: string };
  expect({ status: r.status, error: body.error }).toEqual({ status, error: code });
  if (mention) expect(body.message).toContain(mention);
  return body.message;
}

describe("integers are decimal integers", () => {
  for (const route of ["/v1/events", "/v1/findings", "/v1/audit"])
    for (const bad of ["1.5", "0x10", "1e3", " 10", "+5", "010"])
      test(`${route}?limit=${JSON.stringify(bad)} -> 400 naming limit`, async () => {
        await expectError(await get(`${route}?limit=${encodeURIComponent(bad)}`), 400, "invalid_query", "limit");
      });
  for (const [q, name] of [["pid=1.5", "pid"], ["cursor=1e3", "cursor"], ["pid=0x10", "pid"]] as const)
    test(`/v1/events?${q} -> 400 naming ${name}`, async () => {
      await expectError(await get(`/v1/events?${q}`), 400, "invalid_query", name);
    });
  test("/v1/processes?ppid=1.5 and limit=1e3 -> 400", async () => {
    await expectError(await get("/v1/processes?ppid=1.5"), 400, "invalid_query", "ppid");
    await expectError(await get("/v1/processes?limit=1e3"), 400, "invalid_query", "limit");
  });
  test("a path's pid and the environment's numbers are held to the same form", async () => {
    await expectError(await get("/v1/processes/0x10"), 400, "invalid_request", "pid");
    await expectError(await get("/v1/processes/1e2"), 400, "invalid_request", "pid");
    expect((await get(`/v1/processes/${process.pid}`)).status).toBe(200);
    for (const bad of ["0x1F90", "1e3", " 8080", "8080.0", ""]) expect(() => loadConfig({ env: { VIGIL_PORT: bad } })).toThrow("VIGIL_PORT (port)");
    expect(() => loadConfig({ env: { VIGIL_READINESS_MAX_DROP_RATIO: ".5" } })).toThrow("not a decimal number");
    expect(loadConfig({ env: { VIGIL_PORT: "8080", VIGIL_READINESS_MAX_DROP_RATIO: "0.5" } })).toMatchObject({ port: 8080, readiness: { maxDropRatio: 0.5 } });
  });
  test("good integers still work", async () => {
    expect((await get("/v1/events?limit=10&pid=1")).status).toBe(200);
    expect((await get("/v1/findings?limit=10")).status).toBe(200);
  });
});

describe("times are epoch ms or RFC 3339, nothing else", () => {
  for (const bad of ["-1", "abc 12", "1.5", "2026-02-30T00:00:00Z", "2026-01-02", "Tue, 01 Dec 2026 00:00:00 GMT", "2026-01-02T03:04:05", "12\u0000", "1e12"])
    test(`since=${JSON.stringify(bad)} -> 400`, async () => {
      await expectError(await get(`/v1/events?since=${encodeURIComponent(bad)}`), 400, "invalid_query", "since");
    });
  test("until and the findings' since are held to the same form", async () => {
    await expectError(await get("/v1/events?until=yesterday"), 400, "invalid_query", "until");
    await expectError(await get("/v1/audit?since=-1"), 400, "invalid_query", "since");
  });
  for (const good of ["0", "1764892800000", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123+01:00", "2026-01-02t03:04:05z"])
    test(`since=${good} -> 200`, async () => {
      expect((await get(`/v1/events?since=${encodeURIComponent(good)}&limit=1`)).status).toBe(200);
    });
});

describe("a 400 repeats at most ~200 characters of the bad value", () => {
  test("a 20 kB bad value", async () => {
    const bad = "9".repeat(3000) + "x";
    const r = await get(`/v1/events?since=${bad}`);
    expect(r.status).toBe(400);
    const message = ((await r.json()) as { message: string }).message;
    expect(message.length).toBeLessThan(400);
    const key = await expectError(await get(`/v1/events?${"k".repeat(5000)}=1`), 400, "invalid_query");
    expect(key.length).toBeLessThan(500);
  });
});

describe("agents: a cgroup path must be a cgroup inside the cgroup2 mount", () => {
  for (const [path, mention] of [
    ["../../../../etc", "outside the cgroup2 mount"],
    ["../../../../../../../etc/ssh", "outside the cgroup2 mount"],
    ["cgroup.procs", "not a cgroup"],
    ["no-such-cgroup-here", "does not exist"],
  ] as const)
    test(`cgroupPath ${path} -> 400`, async () => {
      await expectError(await post("/v1/agents", { name: "escape", cgroupPath: path }), 400, "agent_error", mention);
      expect(service.agents.get("escape")).toBeUndefined();
    });
});

describe("YAML", () => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(",")}]`);
  const bomb = `${lines.join("\n")}\n`;
  test("an alias bomb is refused as invalid, not a 500", async () => {
    const v = await post("/v1/policies/validate", { yaml: bomb });
    expect(v.status).toBe(200);
    const body = (await v.json()) as { valid: boolean; problems: { message: string }[] };
    expect(body.valid).toBe(false);
    expect(body.problems[0]!.message).toContain("alias");
    const d = await post("/v1/policies/dry-run", { yaml: bomb, events: "" });
    await expectError(d, 422, "invalid_policy");
  });
});

describe("bodies, headers and methods", () => {
  test("a 10 MB body with Content-Length -> JSON 413", async () => {
    const r = await fetch(`${base}/v1/policies/validate`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: new Uint8Array(10 << 20) });
    await expectError(r, 413, "body_too_large");
  });
  test("a chunked body that grows past the limit -> JSON 413, not parsed whole", async () => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 4 * MAX_BODY_BYTES) return c.close();
        sent += 64 << 10;
        c.enqueue(new TextEncoder().encode(" ".repeat(64 << 10)));
      },
    });
    const r = await fetch(`${base}/v1/policies/validate`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: stream });
    await expectError(r, 413, "body_too_large");
  });
  test("a body that is not JSON -> 415 or 400 JSON", async () => {
    const r = await fetch(`${base}/v1/policies/validate`, { method: "POST", headers: { ...auth(), "content-type": "text/plain" }, body: "yaml: x" });
    await expectError(r, 415, "unsupported_media_type");
    const bad = await fetch(`${base}/v1/policies/validate`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: "{nope" });
    await expectError(bad, 400, "invalid_body");
  });
  test("every launcher gives Bun the header limit Vigil's 431 relies on", async () => {
    const flag = `--max-http-header-size=${BUN_MAX_HEADER_BYTES}`;
    const pkg = (await Bun.file(`${ROOT}/package.json`).json()) as { scripts: Record<string, string> };
    expect(pkg.scripts.service).toContain(flag);
    expect(pkg.scripts.test).toContain(flag);
    expect(await Bun.file(`${ROOT}/deploy/kubernetes/daemonset.yaml`).text()).toContain(flag);
    expect(await Bun.file(`${ROOT}/lab/daemon.ts`).text()).toContain("--max-http-header-size=${BUN_MAX_HEADER_BYTES}");
  });
  test("a known path with a wrong method -> 405 with Allow", async () => {
    const r = await fetch(`${base}/v1/stats`, { method: "DELETE", headers: auth() });
    await expectError(r, 405, "method_not_allowed", "GET");
    expect(r.headers.get("allow")).toBe("GET");
    const p = await fetch(`${base}/v1/agents/somebody`, { method: "PUT", headers: auth() });
    await expectError(p, 405, "method_not_allowed");
    expect(p.headers.get("allow")!.split(", ").sort()).toEqual(["DELETE", "GET"]);
    await expectError(await fetch(`${base}/v1/no-such-thing`, { method: "DELETE", headers: auth() }), 404, "not_found");
  });
  test("headers over the limit -> JSON 431", async () => {
    // Above Vigil's limit, below Bun's (the README's test command, like every launcher of the daemon, passes
    // --max-http-header-size=BUN_MAX_HEADER_BYTES): Vigil answers, in JSON.
    const r = await fetch(`${base}/healthz`, { headers: { "x-a": "a".repeat(20000), "x-b": "b".repeat(20000) } });
    await expectError(r, 431, "headers_too_large");
  });
});

describe("access", () => {
  test("the scheme is case-insensitive", async () => {
    for (const scheme of ["bearer", "BEARER", "Bearer"]) expect((await get("/v1/stats", { authorization: `${scheme} ${TOKEN}` })).status).toBe(200);
  });
  test("auth failures are counted by reason", async () => {
    const count = async (reason: string) => Number(/vigil_http_auth_failures_total\{reason="(\w+)"\} (\d+)/.exec(((await (await get("/metrics", {})).text()).match(new RegExp(`vigil_http_auth_failures_total\\{reason="${reason}"\\} \\d+`)) ?? [""])[0])?.[2] ?? 0);
    const before = await count("unauthorized");
    for (let i = 0; i < 3; i++) expect((await get("/v1/events", { authorization: "Bearer nope-nope-nope-nope" })).status).toBe(401);
    expect(await count("unauthorized")).toBe(before + 3);
    const forbiddenBefore = await count("forbidden");
    expect((await post("/v1/agents", { name: "x", pid: process.pid }, READ)).status).toBe(403);
    expect(await count("forbidden")).toBe(forbiddenBefore + 1);
  });
  test("the read-only token reads, and nothing else", async () => {
    for (const path of ["/v1/events?limit=1", "/v1/findings", "/v1/audit", "/v1/stats", "/v1/processes?limit=1", "/v1/agents", "/v1/policies"]) expect((await get(path, auth(READ))).status).toBe(200);
    const stream = await fetch(`${base}/v1/events/stream`, { headers: auth(READ), signal: AbortSignal.timeout(2000) });
    expect(stream.status).toBe(200);
    await stream.body?.cancel();
    await expectError(await post("/v1/agents", { name: "ro", pid: process.pid }, READ), 403, "forbidden", "admin token");
    await expectError(await post("/v1/policies/validate", { yaml: "x: 1" }, READ), 403, "forbidden");
    await expectError(await post("/v1/agents/x/freeze", {}, READ), 403, "forbidden");
    expect((await fetch(`${base}/v1/agents/x`, { method: "DELETE", headers: auth(READ) })).status).toBe(403);
    expect(service.agents.get("ro")).toBeUndefined();
  });
});

describe("store queries are bounded", () => {
  test("a filter that matches nothing answers from a bounded window, and walking the cursor ends", async () => {
    const r = (await (await get("/v1/events?until=0&limit=5")).json()) as { events: unknown[]; nextCursor: number | null };
    expect(r.events).toEqual([]);
    let cursor = r.nextCursor;
    let pages = 1;
    while (cursor !== null && pages < 1000) {
      const p = (await (await get(`/v1/events?until=0&limit=5&cursor=${cursor}`)).json()) as { events: unknown[]; nextCursor: number | null };
      expect(p.events).toEqual([]);
      cursor = p.nextCursor;
      pages++;
    }
    expect(cursor).toBeNull();
  });
});

describe("TLS and the bind address", () => {
  test("a non-loopback bind needs TLS or an explicit allowPlaintext", () => {
    expect(() => loadConfig({ env: { VIGIL_HOST: "0.0.0.0" } })).toThrow(ConfigError);
    try {
      loadConfig({ env: { VIGIL_HOST: "0.0.0.0" } });
    } catch (e) {
      expect((e as ConfigError).problems[0]!.path).toBe("host");
    }
    expect(loadConfig({ env: { VIGIL_HOST: "0.0.0.0", VIGIL_ALLOW_PLAINTEXT: "true" } }).allowPlaintext).toBe(true);
    expect(() => loadConfig({ env: { VIGIL_HOST: "0.0.0.0", VIGIL_TLS_CERT: "/nonexistent.pem", VIGIL_TLS_KEY: "/nonexistent.key" } })).toThrow("tls.cert");
    expect(() => loadConfig({ env: { VIGIL_ALLOW_PLAINTEXT: "yes" } })).toThrow("not true or false");
    expect(() => loadConfig({ env: { VIGIL_TOKEN: "same-token-0123456789", VIGIL_READ_TOKEN: "same-token-0123456789" } })).toThrow("readToken");
    for (const host of ["127.0.0.1", "127.0.0.53", "::1", "localhost"]) expect(loadConfig({ env: { VIGIL_HOST: host } }).host).toBe(host);
  });
  test("with tls.cert and tls.key the API is served over HTTPS", async () => {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
    expect(r.exitCode).toBe(0);
    const { createApp, listenOptions } = await import("../src/service/app");
    const config = loadConfig({ env: { VIGIL_HOST: "127.0.0.1", VIGIL_PORT: "0", VIGIL_TLS_CERT: cert, VIGIL_TLS_KEY: key } });
    const app = createApp(service, { admin: TOKEN, read: READ });
    app.listen(listenOptions(config));
    try {
      const res = await fetch(`https://127.0.0.1:${app.server!.port}/v1/stats`, { headers: auth(), tls: { ca: await Bun.file(cert).text() } });
      expect(res.status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${app.server!.port}/healthz`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    } finally {
      await app.stop(true);
    }
  });
});

describe("secrets", () => {
  test("the token of a request made with curl never reaches the store, the stream or the database files", async () => {
    const ctrl = new AbortController();
    const stream = await fetch(`${base}/v1/events/stream?type=exec`, { headers: auth(), signal: ctrl.signal });
    const reader = stream.body!.getReader();
    const marker = `marker-${process.pid}-${Date.now()}`;
    // Not spawnSync: the server answering curl runs on this thread.
    const curl = Bun.spawn(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Authorization: Bearer ${TOKEN}`, `${base}/v1/stats?${marker}=1`], { stdout: "pipe" });
    expect(await new Response(curl.stdout).text()).toBe("400"); // the unknown parameter: authenticated, then refused
    let seen = "";
    const dec = new TextDecoder();
    const deadline = Date.now() + 5000;
    while (!seen.includes(marker) && Date.now() < deadline) {
      const { value, done } = await Promise.race([reader.read(), Bun.sleep(500).then(() => ({ value: undefined, done: false }))]);
      if (done) break;
      if (value) seen += dec.decode(value);
    }
    ctrl.abort();
    expect(seen).toContain(marker);
    expect(seen).toContain("Authorization: Bearer [REDACTED]");
    expect(seen).not.toContain(TOKEN);
    let stored: { argv: string[]; redacted?: number } | undefined;
    for (let i = 0; i < 40 && !stored; i++) {
      const page = (await (await get("/v1/events?type=exec&limit=1000")).json()) as { events: { argv: string[]; redacted?: number }[] };
      stored = page.events.find((e) => e.argv.some((a) => a.includes(marker)));
      if (!stored) await Bun.sleep(50);
    }
    expect(stored!.argv).toContain("Authorization: Bearer [REDACTED]");
    expect(stored!.redacted).toBe(1);
    await service.store.flush();
    // On disk: the event is there (so the files were read where it went), the token is not.
    const files = await Promise.all(["events.db", "events.db-wal"].map(async (f) => Buffer.from(await Bun.file(join(dir, "data", f)).arrayBuffer())));
    expect(files.some((b) => b.includes(marker))).toBe(true);
    for (const b of files) expect(b.includes(TOKEN)).toBe(false);
  });
});

describe("after all of that", () => {
  test("the service is healthy and answered no 500", async () => {
    expect((await get("/readyz", {})).status).toBe(200);
    const metrics = await (await get("/metrics", {})).text();
    expect(metrics).not.toMatch(/vigil_http_request_duration_seconds_count\{[^}]*status="5\d\d"/);
  });
});

