/** The daemon as a user runs it: a real process, real signals, a real data directory. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, requireRoot } from "./helpers";
import { envWithoutVigil, freePort, LOADED_PROGRAMS, programsSettleAt, startDaemon, vigilPrograms as vigilProgramCount, type Daemon } from "../lab/daemon";

requireRoot();
const dirs: string[] = [];
/** Every daemon a test started: one a failed assertion left running is stopped here, not left on the machine. */
const daemons: Daemon[] = [];
afterAll(async () => {
  for (const d of daemons) {
    if (d.proc.exitCode !== null || d.proc.signalCode !== null) continue;
    d.proc.kill("SIGKILL");
    await d.proc.exited;
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Links attached to Vigil programs: destroyed synchronously on shutdown. */
function vigilLinkCount(): number {
  const progs = JSON.parse(Bun.spawnSync(["bpftool", "-j", "prog", "list"]).stdout.toString()) as { id: number; name?: string }[];
  const ids = new Set(progs.filter((p) => p.name?.startsWith("vigil_")).map((p) => p.id));
  const links = JSON.parse(Bun.spawnSync(["bpftool", "-j", "link", "list"]).stdout.toString()) as { prog_id: number }[];
  return links.filter((l) => ids.has(l.prog_id)).length;
}

async function startService(dataDir: string, extraEnv: Record<string, string> = {}): Promise<Daemon> {
  const d = await startDaemon(dataDir, extraEnv, 10_000);
  daemons.push(d);
  return d;
}

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-life-"));
  dirs.push(d);
  return d;
}

describe("lifecycle", () => {
  test("SIGTERM: readiness goes, exit 0 within 5 s, no BPF program left; JSON logs hold no secret", async () => {
    const before = await programsSettleAt(0, 3000);
    const linksBefore = vigilLinkCount();
    const s = await startService(newDir());
    expect((await fetch(`${s.base}/readyz`)).status).toBe(200);
    expect(vigilProgramCount()).toBe(before + LOADED_PROGRAMS);
    const t0 = Date.now();
    s.proc.kill("SIGTERM");
    const code = await s.proc.exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(vigilLinkCount()).toBe(linksBefore);
    expect(await programsSettleAt(before, 3000)).toBe(before);
    await Bun.sleep(50);
    for (const line of s.logs) {
      const j = JSON.parse(line) as Record<string, unknown>;
      expect(typeof j.level).toBe("string");
      expect(typeof j.time).toBe("string");
      expect(typeof j.msg).toBe("string");
      expect(line).not.toContain(s.token);
    }
    expect(s.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });

  test("SIGTERM to `npm run service` (the README's command) reaches the daemon: it stops and leaves no program", async () => {
    const before = await programsSettleAt(0, 3000);
    const dataDir = newDir();
    const port = freePort();
    const npm = Bun.spawn(["npm", "run", "--silent", "service"], { cwd: ROOT, env: { ...envWithoutVigil(), VIGIL_DATA_DIR: dataDir, VIGIL_PORT: String(port) }, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    // The daemon's own pid, found by the data dir only it was given: to clean up if the signal does not reach it.
    const daemonPids = () =>
      readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d) && Number(d) !== npm.pid)
        .filter((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").includes("src/service/main.ts") && readFileSync(`/proc/${d}/environ`, "utf8").split("\0").includes(`VIGIL_DATA_DIR=${dataDir}`);
          } catch {
            return false;
          }
        })
        .map(Number);
    try {
      const deadline = Date.now() + 45_000;
      let up = false;
      while (!up && Date.now() < deadline && npm.exitCode === null) {
        up = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) }).then((r) => r.ok, () => false);
        if (!up) await Bun.sleep(50);
      }
      expect(up).toBe(true);
      expect(daemonPids()).toHaveLength(1);
      npm.kill("SIGTERM");
      await npm.exited;
      const gone = Date.now() + 5000;
      while (daemonPids().length && Date.now() < gone) await Bun.sleep(20);
      expect(daemonPids()).toEqual([]);
      expect(await programsSettleAt(before, 3000)).toBe(before);
    } finally {
      npm.kill("SIGKILL");
      for (const pid of daemonPids()) process.kill(pid, "SIGKILL");
    }
  }, 60_000);

  test("kill -9 mid-ingest, restart on the same data dir: every returned event is still there, no duplicate programs", async () => {
    const dir = newDir();
    const before = await programsSettleAt(0, 3000);
    const a = await startService(dir);
    const headers = { authorization: `Bearer ${a.token}` };
    // ingest keeps going while we query and kill
    const storm = Bun.spawn(["/bin/sh", "-c", "i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done"]);
    await Bun.sleep(300);
    const page = (await (await fetch(`${a.base}/v1/events?limit=1000`, { headers })).json()) as { events: { id: number; type: string; pid: number }[] };
    expect(page.events.length).toBeGreaterThan(0);
    a.proc.kill("SIGKILL");
    await a.proc.exited;
    await storm.exited;
    expect(await programsSettleAt(before, 3000)).toBe(before); // the kernel detached everything with the process
    const b = await startService(dir);
    try {
      expect(vigilProgramCount()).toBe(before + LOADED_PROGRAMS);
      const h2 = { authorization: `Bearer ${b.token}` };
      expect(b.token).toBe(a.token); // the generated token persisted
      const ids = new Set<number>();
      let cursor: number | null = null;
      do {
        const r = (await (await fetch(`${b.base}/v1/events?limit=1000&order=asc${cursor ? `&cursor=${cursor}` : ""}`, { headers: h2 })).json()) as { events: { id: number }[]; nextCursor: number | null };
        for (const e of r.events) ids.add(e.id);
        cursor = r.nextCursor;
      } while (cursor !== null);
      const missing = page.events.filter((e) => !ids.has(e.id));
      expect(missing).toEqual([]);
      expect((await fetch(`${b.base}/readyz`)).status).toBe(200);
    } finally {
      b.proc.kill("SIGTERM");
      expect(await b.proc.exited).toBe(0);
    }
  }, 30_000);

  test("an unwritable store: readiness 503 with the reason, ingestion goes on, recovery when it is writable again", async () => {
    const dir = newDir();
    const s = await startService(dir, { VIGIL_STORE_QUEUE_LIMIT: "100000" });
    try {
      const wal = join(dir, "events.db-wal");
      expect(Bun.spawnSync(["chattr", "+i", wal]).exitCode).toBe(0);
      Bun.spawnSync(["/bin/true"]); // make events to write
      let body: { status: string; reasons: string[] } = { status: "", reasons: [] };
      for (let i = 0; i < 50; i++) {
        const r = await fetch(`${s.base}/readyz`);
        body = (await r.json()) as typeof body;
        if (r.status === 503) break;
        Bun.spawnSync(["/bin/true"]);
        await Bun.sleep(50);
      }
      expect(body.status).toBe("not_ready");
      expect(body.reasons.join(" ")).toContain("store");
      expect((await fetch(`${s.base}/healthz`)).status).toBe(200); // alive, just not ready
      const metrics = await (await fetch(`${s.base}/metrics`)).text();
      expect(metrics).toMatch(/vigil_events_dropped_total\{stage="store_write_error"\} [1-9]/);
      Bun.spawnSync(["chattr", "-i", wal]);
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        Bun.spawnSync(["/bin/true"]);
        await Bun.sleep(50);
        status = (await fetch(`${s.base}/readyz`)).status;
      }
      expect(status).toBe(200);
    } finally {
      Bun.spawnSync(["chattr", "-i", join(dir, "events.db-wal")]);
      s.proc.kill("SIGTERM");
      await s.proc.exited;
    }
  }, 30_000);
});

describe("one instance, one truth", () => {
  const spawnDaemon = (dataDir: string, port: number) =>
    Bun.spawn([`${ROOT}/node_modules/.bin/bun`, `${ROOT}/src/service/main.ts`], { env: { ...envWithoutVigil(), VIGIL_DATA_DIR: dataDir, VIGIL_PORT: String(port) }, stdout: "ignore", stderr: "pipe" });

  test("a second daemon on the same data directory is refused, naming the pid that holds it", async () => {
    const dir = newDir();
    const before = await programsSettleAt(0, 3000);
    const a = await startService(dir);
    try {
      const b = spawnDaemon(dir, freePort());
      const t = setTimeout(() => b.kill("SIGKILL"), 10_000);
      expect(await b.exited).toBe(2);
      clearTimeout(t);
      const err = await new Response(b.stderr).text();
      expect(err.trim().split("\n")).toHaveLength(1);
      expect(err).toContain(`in use by another vigil daemon (pid ${a.proc.pid})`);
      expect(vigilProgramCount()).toBe(before + LOADED_PROGRAMS); // the second loaded nothing
    } finally {
      a.proc.kill("SIGTERM");
      expect(await a.proc.exited).toBe(0);
    }
  }, 30_000);

  test("a second daemon on the same port fails to start, and every request keeps reaching the first", async () => {
    const a = await startService(newDir());
    try {
      const port = Number(new URL(a.base).port);
      const b = spawnDaemon(newDir(), port);
      const t = setTimeout(() => b.kill("SIGKILL"), 10_000);
      expect(await b.exited).toBe(2);
      clearTimeout(t);
      expect(await new Response(b.stderr).text()).toContain(`cannot listen on 127.0.0.1:${port}`);
      for (let i = 0; i < 8; i++) expect((await fetch(`${a.base}/v1/stats`, { headers: { authorization: `Bearer ${a.token}` } })).status).toBe(200);
    } finally {
      a.proc.kill("SIGTERM");
      await a.proc.exited;
    }
  }, 30_000);

  test("a restart records what was not observed: a gap event and a counter, after kill -9 and after a clean stop", async () => {
    const dir = newDir();
    const a = await startService(dir);
    Bun.spawnSync(["/bin/true"]);
    await Bun.sleep(300);
    const last = (await (await fetch(`${a.base}/v1/events?limit=1`, { headers: { authorization: `Bearer ${a.token}` } })).json()) as { events: { ts: number }[] };
    a.proc.kill("SIGKILL");
    await a.proc.exited;
    const killedAt = Date.now();
    await Bun.sleep(200);
    // The gap events stored so far, once there are `count` (a daemon's own is committed with its store's first flush).
    const gaps = async (d: Daemon, count: number) => {
      let events: { from: number; to: number; durationMs: number; reason: string }[] = [];
      for (let i = 0; i < 100 && events.length < count; i++) {
        if (i) await Bun.sleep(50);
        events = ((await (await d.api("/v1/events?type=gap&order=asc")).json()) as { events: typeof events }).events;
      }
      return events;
    };
    const b = await startService(dir);
    const g1 = await gaps(b, 1);
    expect(g1).toHaveLength(1);
    expect(g1[0]!.reason).toBe("crashed");
    expect(g1[0]!.from).toBeGreaterThanOrEqual(last.events[0]!.ts);
    expect(g1[0]!.from).toBeLessThanOrEqual(killedAt);
    expect(g1[0]!.to).toBeGreaterThanOrEqual(killedAt + 200);
    expect(await (await fetch(`${b.base}/metrics`)).text()).toMatch(/vigil_observation_gaps_total\{reason="crashed"\} 1/);
    b.proc.kill("SIGTERM");
    expect(await b.proc.exited).toBe(0);
    const stoppedAt = Date.now();
    const c = await startService(dir);
    try {
      const g2 = await gaps(c, 2);
      expect(g2.map((g) => g.reason)).toEqual(["crashed", "stopped"]);
      expect(g2[1]!.from).toBeLessThanOrEqual(stoppedAt);
      expect(g2[1]!.from).toBeGreaterThan(g1[0]!.to);
      const stats = (await (await c.api("/v1/stats")).json()) as { gaps: { count: number; last: { reason: string } } };
      expect(stats.gaps.count).toBe(1);
      expect(stats.gaps.last.reason).toBe("stopped");
    } finally {
      c.proc.kill("SIGTERM");
      await c.proc.exited;
    }
  }, 40_000);

  test("the data directory is 0700 and the store 0600, even when they existed with looser modes", async () => {
    const dir = newDir();
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "events.db"), "");
    chmodSync(join(dir, "events.db"), 0o644);
    const s = await startService(dir);
    try {
      Bun.spawnSync(["/bin/true"]);
      await Bun.sleep(300);
      const mode = (f: string) => (statSync(f).mode & 0o777).toString(8);
      expect(mode(dir)).toBe("700");
      for (const f of ["events.db", "events.db-wal", "events.db-shm", "token", "read-token", "lock"]) expect(`${f} ${mode(join(dir, f))}`).toBe(`${f} 600`);
    } finally {
      s.proc.kill("SIGTERM");
      await s.proc.exited;
    }
  }, 30_000);

  test("headers beyond the limit get Vigil's JSON 431 from the daemon as launched", async () => {
    const s = await startService(newDir());
    try {
      const r = await fetch(`${s.base}/healthz`, { headers: { "x-big": "x".repeat(40_000) } });
      expect(r.status).toBe(431);
      expect(((await r.json()) as { error: string }).error).toBe("headers_too_large");
    } finally {
      s.proc.kill("SIGTERM");
      await s.proc.exited;
    }
  }, 30_000);
});

describe("a corrupt store", () => {
  test("is reported by readiness and the logs; the service keeps running and the file is left as it was", async () => {
    const dir = newDir();
    const garbage = Buffer.alloc(8192, 0x5a);
    writeFileSync(join(dir, "events.db"), garbage);
    const s = await startService(dir);
    try {
      expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
      const r = await fetch(`${s.base}/readyz`);
      expect(r.status).toBe(503);
      const body = (await r.json()) as { reasons: string[] };
      expect(body.reasons.join(" ")).toContain("store unavailable");
      const q = await fetch(`${s.base}/v1/events`, { headers: { authorization: `Bearer ${s.token}` } });
      expect(q.status).toBe(503);
      expect(((await q.json()) as { error: string }).error).toBe("store_unavailable");
      expect(s.logs.some((l) => l.includes("store not writable"))).toBe(true);
    } finally {
      s.proc.kill("SIGTERM");
      expect(await s.proc.exited).toBe(0);
    }
    expect(Buffer.compare(await Bun.file(join(dir, "events.db")).bytes().then(Buffer.from), garbage)).toBe(0);
  }, 30_000);
});

describe("configuration", () => {
  const run = (args: string[], env: Record<string, string>) => {
    const r = Bun.spawnSync([`${ROOT}/node_modules/.bin/bun`, `${ROOT}/src/service/main.ts`, ...args], { env: { ...envWithoutVigil(), ...env } });
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  };
  test("--check-config prints the effective config without the token", () => {
    const r = run(["--check-config"], { VIGIL_TOKEN: "secret-token-0123456789", VIGIL_PORT: "8123" });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { config: { port: number; host: string } };
    expect(j.config.port).toBe(8123);
    expect(j.config.host).toBe("127.0.0.1");
    expect(r.out).not.toContain("secret-token");
  });
  test("invalid and unknown settings exit non-zero naming the field", () => {
    const dir = newDir();
    const file = join(dir, "vigil.yaml");
    writeFileSync(file, "port: 80\nretention:\n  maxAgeHours: -1\n  colour: blue\n");
    const a = run(["--check-config", "--config", file], {});
    expect(a.code).toBe(2);
    expect(a.err).toContain("retention.maxAgeHours");
    expect(a.err).toContain("retention.colour");
    const b = run(["--check-config"], { VIGIL_PORT: "eighty" });
    expect(b.code).toBe(2);
    expect(b.err).toContain("VIGIL_PORT");
    const c = run(["--check-config"], { VIGIL_SYSCALL: "off" });
    expect(c.code).toBe(2);
    expect(c.err).toContain("VIGIL_SYSCALL");
    const d = run(["--check-config"], { VIGIL_SYSCALLS: "all" });
    expect(d.err).toContain("must be one of off, aggregate, firehose");
    const e = run(["--check-config"], { VIGIL_READINESS_MAX_DROP_RATIO: "1.5" });
    expect(e.code).toBe(2);
    expect(e.err).toContain("readiness.maxDropRatio");
    const f = run(["--check-config"], { VIGIL_FIREHOSE_RING_BYTES: String(512 << 20) });
    expect(f.code).toBe(2);
    expect(f.err).toContain("firehoseRingBytes");
    const g = run(["--check-config"], { VIGIL_CAPTURE: "open,sockets" });
    expect(g.code).toBe(2);
    const problems = (JSON.parse(g.err.trim().split("\n").at(-1)!) as { problems: { path: string; message: string }[] }).problems;
    expect(problems).toEqual([{ path: "VIGIL_CAPTURE (capture)", message: 'unknown event kind "sockets" (known: open, connect, cred, exec_failed, tls, or none alone)' }]);
    const h = run(["--check-config"], { VIGIL_CAPTURE: "none" });
    expect(h.code).toBe(0);
  });
});
