/**
 * The test lab's handle on a real Vigil daemon: `bun src/service/main.ts` in
 * its own process on a free loopback port, its JSON logs collected, its
 * token read from the data dir. Used by the lifecycle tests, the load
 * engine, the chaos runner and the readiness checklist.
 */
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OBSERVER_PROGRAMS } from "../src/sensor/programs";
import { GUARD_PROGRAMS } from "../src/enforce/kernel-enforcer";
import { TLS_PROGRAMS } from "../src/sensor/tls-probes";
import { BUN_MAX_HEADER_BYTES } from "../src/service/limits";
import { forEachDelimited } from "./delimited";

export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

export interface Daemon {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  base: string;
  token: string;
  logs: string[];
  dataDir: string;
  /** Authorized fetch against the daemon. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** SIGTERM and wait (bounded); returns the exit code, or null when it had to be killed. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** A loopback port free right now (the kernel picks it; the daemon binds it a moment later). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** This process's environment without any VIGIL_ setting: a daemon started with it gets only the settings given. */
export function envWithoutVigil(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("VIGIL_") && v !== undefined) env[k] = v;
  return env;
}

export async function startDaemon(dataDir: string, extraEnv: Record<string, string> = {}, timeoutMs = 15_000): Promise<Daemon> {
  const env = envWithoutVigil();
  const port = extraEnv.VIGIL_PORT && extraEnv.VIGIL_PORT !== "0" ? Number(extraEnv.VIGIL_PORT) : freePort();
  const proc = Bun.spawn([`${ROOT}/node_modules/.bin/bun`, `--max-http-header-size=${BUN_MAX_HEADER_BYTES}`, `${ROOT}/src/service/main.ts`], {
    // Fail-closed pins outlive a daemon killed with -9; tests of other things run without them (the
    // fail-closed test and chaos experiment turn them on), so a kill leaves nothing in the kernel.
    env: { ...env, VIGIL_DATA_DIR: dataDir, VIGIL_FAIL_CLOSED: "false", ...extraEnv, VIGIL_PORT: String(port) },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const logs: string[] = [];
  // Collect the JSON logs in the background for the whole life of the daemon.
  void forEachDelimited(proc.stderr, "\n", (line) => logs.push(line), true).then((rest) => rest && logs.push(rest));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  let up = false;
  while (!up && Date.now() < deadline && proc.exitCode === null && proc.signalCode === null) {
    try {
      up = (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(500) })).status === 200;
    } catch {
      await Bun.sleep(25);
    }
  }
  if (!up) {
    proc.kill("SIGKILL");
    await proc.exited;
    await Bun.sleep(20);
    throw new Error(`service did not start within ${timeoutMs} ms (exit ${proc.exitCode ?? proc.signalCode}): ${logs.join("\n")}`);
  }
  const token = extraEnv.VIGIL_TOKEN ?? (await Bun.file(join(dataDir, "token")).text()).trim();
  return {
    proc,
    base,
    token,
    logs,
    dataDir,
    api: (path, init = {}) => fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as Record<string, string> | undefined) } }),
    async stop(timeoutMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(t);
      return proc.signalCode === "SIGKILL" ? null : code;
    },
  };
}

/** Polls GET /readyz until it answers `status` or the time runs out; returns ms waited, or null. */
export async function waitReady(base: string, timeoutMs: number, status = 200): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    try {
      if ((await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) })).status === status) return Date.now() - t0;
    } catch {
      /* not answering yet */
    }
    await Bun.sleep(25);
  }
  return null;
}

/** Bounded kernel activity: `count` short execs and opens by a shell of this lab (never unbounded). */
export function execStorm(count: number, cgroupShell?: string[]): Subprocess {
  const script = `i=0; while [ $i -lt ${count} ]; do /bin/true; cat /etc/hostname >/dev/null; i=$((i+1)); done`;
  return Bun.spawn(cgroupShell ? [...cgroupShell, script] : ["/bin/sh", "-c", script], { stdout: "ignore", stderr: "ignore" });
}

/** Programs one daemon loads: the observer's (OBSERVER_PROGRAMS), the two cgroup connect guards and the TLS uprobes' (tls is captured by default). */
export const LOADED_PROGRAMS = OBSERVER_PROGRAMS + GUARD_PROGRAMS.length + TLS_PROGRAMS.length;

/** Events lost so far, by stage (GET /v1/stats). */
export async function droppedByStage(d: Daemon): Promise<Record<string, number>> {
  return ((await (await d.api("/v1/stats")).json()) as { dropped: Record<string, number> }).dropped;
}

/** BPF programs named like Vigil's, loaded in the kernel now (bpftool). */
export function vigilPrograms(): number {
  const r = Bun.spawnSync(["bpftool", "-j", "prog", "list"]);
  return (JSON.parse(r.stdout.toString() || "[]") as { name?: string }[]).filter((p) => p.name?.startsWith("vigil_")).length;
}

/** Programs are freed by the kernel shortly after their last fd closes (RCU, workqueue): wait for `n`, bounded. */
export async function programsSettleAt(n: number, ms = 5000): Promise<number> {
  const deadline = Date.now() + ms;
  let c = vigilPrograms();
  while (c !== n && Date.now() < deadline) {
    await Bun.sleep(50);
    c = vigilPrograms();
  }
  return c;
}

/**
 * The count once it stops moving: the kernel frees the programs of a closed
 * object asynchronously, so a process that just exited may still show some.
 */
export async function settledVigilPrograms(stableMs = 600, timeoutMs = 8000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last = vigilPrograms();
  let since = Date.now();
  while (Date.now() < end) {
    await Bun.sleep(100);
    const n = vigilPrograms();
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= stableMs) break;
  }
  return last;
}
