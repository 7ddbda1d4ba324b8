/** What the experiments share: a daemon with a data dir of the experiment's own, and readings of it. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { startDaemon, waitReady, type Daemon } from "../../lab/daemon";
export { droppedByStage as drops, programsSettleAt, settledVigilPrograms, vigilPrograms } from "../../lab/daemon";
import type { ExperimentContext, ProbeResult } from "../experiment";
import { probe } from "../experiment";

/** The readiness window every experiment's daemon judges losses over: short, so recovery is quick to see. */
export const LOSS_WINDOW_SECONDS = 3;
const lossWindowEnv = { VIGIL_READINESS_DROP_WINDOW_SECONDS: String(LOSS_WINDOW_SECONDS) };

export async function daemonFor(ctx: ExperimentContext, env: Record<string, string> = {}, dataDir = join(ctx.dir, "data")): Promise<Daemon> {
  mkdirSync(dataDir, { recursive: true });
  const d = await startDaemon(dataDir, { VIGIL_LOG_LEVEL: "warn", ...lossWindowEnv, ...env });
  ctx.onRollback("stop the daemon", async () => void (await d.stop()));
  return d;
}

export async function readiness(d: Daemon): Promise<{ status: number; reasons: string[] }> {
  try {
    const r = await fetch(`${d.base}/readyz`, { signal: AbortSignal.timeout(2000) });
    return { status: r.status, reasons: ((await r.json()) as { reasons: string[] }).reasons };
  } catch (e) {
    return { status: 0, reasons: [(e as Error).message] };
  }
}

/**
 * Polls readiness for up to `withinMs`: whether it turned 503 naming lost
 * events (the drop-ratio bound), and the reason it gave.
 */
export async function watchLossReported(d: Daemon, withinMs: number): Promise<{ reported: boolean; reason: string | null }> {
  const end = Date.now() + withinMs;
  while (Date.now() < end) {
    const r = await readiness(d);
    const reason = r.reasons.find((x) => x.startsWith("lost "));
    if (r.status === 503 && reason) return { reported: true, reason };
    await Bun.sleep(100);
  }
  return { reported: false, reason: null };
}

export async function readyProbe(d: Daemon, withinMs: number): Promise<ProbeResult> {
  const waited = await waitReady(d.base, withinMs);
  return probe(`ready within ${withinMs} ms`, waited !== null, waited);
}

/**
 * `count` opens of `path` by one shell (the builtin `: < path`, no fork per
 * open): a burst of known size, so an experiment's fault does not depend on
 * how fast this host happens to be running an exec storm.
 */
export function openBurst(path: string, count: number): Subprocess {
  return Bun.spawn(["/bin/sh", "-c", `i=0; while [ $i -lt ${count} ]; do : < ${path}; i=$((i+1)); done`], { stdout: "ignore", stderr: "ignore" });
}

/** Refuses to set up an experiment whose fault tool is missing (never a silent skip). */
export function requireStressNg(): void {
  if (!Bun.which("stress-ng")) throw new Error("stress-ng is not installed (scripts/setup-lab.sh installs it)");
}

/** stress-ng on every CPU plus 512 MiB of memory churn for `seconds`, stopped by a rollback whatever happens. */
export function startStress(ctx: ExperimentContext, seconds: number): Subprocess {
  const s = Bun.spawn(["stress-ng", "--cpu", "0", "--vm", "1", "--vm-bytes", "512M", "--timeout", `${seconds}s`, "--quiet"], { stdout: "ignore", stderr: "ignore" });
  ctx.onRollback("stop stress-ng", () => void s.kill("SIGKILL"));
  return s;
}
