/** A slow, then failing store: I/O latency and EIO injected into the daemon's own writes of its database with strace. */
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { Daemon } from "../../lab/daemon";
import { execStorm, waitReady } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, drops, readiness, readyProbe } from "./common";

let d: Daemon;
let degraded: string | null = null;
let aliveThroughout = true;
/** /healthz latencies while the writes were slow: the disk must not hold up the API (the writer has a thread of its own). */
let slowHealthzMs: number[] = [];
const RESPONSIVE_MS = 500;

/** strace attached to the daemon, injecting `inject` into write syscalls on the store's files only (-P). */
function inject(pid: number, dataDir: string, inject: string): Subprocess {
  const db = join(dataDir, "events.db");
  return Bun.spawn(
    ["strace", "-f", "-qq", "-o", "/dev/null", "-p", String(pid), "-P", db, "-P", `${db}-wal`, "-P", `${db}-journal`, "-e", "trace=pwrite64,write,fdatasync,fsync", "-e", `inject=pwrite64,write:${inject}`],
    { stdout: "ignore", stderr: "pipe" },
  );
}

async function detach(p: Subprocess): Promise<void> {
  p.kill("SIGINT"); // strace detaches cleanly on SIGINT
  await p.exited;
}

export const storeFaults: Experiment = {
  name: "slow-then-failing-store",
  title: "the store's writes are delayed (50 ms each), then fail with EIO, under an exec storm (strace fault injection)",
  hypothesis: `alive throughout; slow writes stall neither ingestion nor the API (/healthz under ${RESPONSIVE_MS} ms); failing writes turn readiness 503 naming the store and the lost events are counted (store_write_error); ready again within 15 s once the faults stop`,
  async setup(ctx) {
    if (!Bun.which("strace")) throw new Error("strace is not installed (scripts/setup-lab.sh installs it)");
    d = await daemonFor(ctx);
  },
  async steadyState(_ctx, phase) {
    const out = [await readyProbe(d, phase === "after" ? 15_000 : 5000)];
    if (phase === "after") {
      out.push(probe("alive throughout", aliveThroughout, null));
      const worst = Math.max(...slowHealthzMs);
      out.push(probe(`API responsive while the disk is slow (/healthz < ${RESPONSIVE_MS} ms)`, slowHealthzMs.length > 0 && worst < RESPONSIVE_MS, { polls: slowHealthzMs.length, maxMs: Math.round(worst) }));
      out.push(probe("readiness degraded with the store as the reason while writes failed", degraded !== null && /store/.test(degraded), degraded));
    }
    return out;
  },
  async method(ctx) {
    const storm = execStorm(ctx.quick ? 4000 : 20_000);
    ctx.onRollback("stop the storm", () => void storm.kill("SIGKILL"));
    const phaseMs = ctx.quick ? 1500 : 5000;
    const watch = async (ms: number, latencies: number[] = []) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const t = performance.now();
        if ((await fetch(`${d.base}/healthz`, { signal: AbortSignal.timeout(3000) }).catch(() => null))?.status !== 200) aliveThroughout = false;
        latencies.push(performance.now() - t);
        const r = await readiness(d);
        if (r.status === 503 && degraded === null && r.reasons.some((x) => /store/.test(x))) degraded = r.reasons.join("; ");
        await Bun.sleep(100);
      }
    };
    const stats0 = (await (await d.api("/v1/stats")).json()) as { store: { written: number } };
    const slow = inject(d.proc.pid, d.dataDir, "delay_enter=50ms");
    ctx.onRollback("detach strace (slow)", () => detach(slow));
    slowHealthzMs = [];
    await watch(phaseMs, slowHealthzMs);
    await detach(slow);
    const stats1 = (await (await d.api("/v1/stats")).json()) as { store: { written: number } };
    ctx.measure("writtenWhileSlow", stats1.store.written - stats0.store.written);
    ctx.measure("healthzMaxMsWhileSlow", Math.round(Math.max(...slowHealthzMs)));
    const before = await drops(d);
    const failing = inject(d.proc.pid, d.dataDir, "error=EIO");
    ctx.onRollback("detach strace (failing)", () => detach(failing));
    await watch(phaseMs);
    await detach(failing);
    ctx.measure("storeWriteErrorDrops", ((await drops(d)).store_write_error ?? 0) - (before.store_write_error ?? 0));
    const t0 = Date.now();
    ctx.measure("recoveredMs", (await waitReady(d.base, 15_000)) === null ? -1 : Date.now() - t0);
    storm.kill("SIGKILL");
  },
};
