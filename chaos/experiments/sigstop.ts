/** SIGSTOP then SIGCONT of the service under load: events lost meanwhile are counted, and it recovers. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../lab/daemon";
import { execStorm } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, drops, LOSS_WINDOW_SECONDS, openBurst, readyProbe, watchLossReported } from "./common";

let d: Daemon;
let target = "";
let burst = 0;
let lossReported: { reported: boolean; reason: string | null } = { reported: false, reason: null };
let countedWhileStopped = 0;
const RECOVER_MS = (LOSS_WINDOW_SECONDS + 5) * 1000;
const RING_BYTES = 256 * 1024;
/** No record is smaller than this (header alone is 80 bytes): the ring cannot hold more than RING_BYTES / it. */
const MIN_RECORD_BYTES = 64;

export const sigstop: Experiment = {
  name: "sigstop-sigcont",
  title: "the service stopped (SIGSTOP) for a while under an exec storm, then continued",
  hypothesis: `while stopped, a burst of opens far beyond the ring's capacity is caused on top of the storm: the ring drops are counted (kernel_ring_full, at least the burst less what the ring can hold), not silent; readiness turns 503 naming the loss, then is ready within ${RECOVER_MS / 1000} s of SIGCONT; the service ingests again`,
  async setup(ctx) {
    d = await daemonFor(ctx, { VIGIL_RING_BYTES: String(RING_BYTES) });
    target = join(ctx.dir, `stopped-${process.pid}.txt`);
    writeFileSync(target, "x");
  },
  async steadyState(_ctx, phase) {
    const out = [await readyProbe(d, phase === "before" ? 5000 : RECOVER_MS)];
    if (phase === "after") {
      const floor = burst - RING_BYTES / MIN_RECORD_BYTES;
      out.push(probe(`ring drops counted while stopped >= ${floor}`, countedWhileStopped >= floor, countedWhileStopped));
      out.push(probe("readiness reported the loss", lossReported.reported, lossReported.reason));
      const n0 = ((await (await d.api("/v1/stats")).json()) as { store: { written: number } }).store.written;
      const s = execStorm(200);
      await s.exited;
      await Bun.sleep(300);
      const n1 = ((await (await d.api("/v1/stats")).json()) as { store: { written: number } }).store.written;
      out.push(probe("ingests again after SIGCONT", n1 > n0, n1 - n0));
    }
    return out;
  },
  async method(ctx) {
    const storm = execStorm(ctx.quick ? 3000 : 20_000);
    ctx.onRollback("stop the storm", () => void storm.kill("SIGKILL"));
    ctx.onRollback("SIGCONT the service", () => void d.proc.kill("SIGCONT"));
    await Bun.sleep(200);
    const before = await drops(d);
    d.proc.kill("SIGSTOP");
    const stoppedAt = Date.now();
    // The storm's pace depends on the host (it was a tenth of the usual in one CI run, and the ring then barely
    // overflowed): a burst of known size makes the loss certain, and the stop lasts at least its nominal time.
    burst = ctx.quick ? 20_000 : 100_000;
    await openBurst(target, burst).exited;
    await Bun.sleep(Math.max(0, (ctx.quick ? 1500 : 5000) - (Date.now() - stoppedAt)));
    d.proc.kill("SIGCONT");
    ctx.measure("stoppedMs", Date.now() - stoppedAt);
    const t0 = Date.now();
    lossReported = await watchLossReported(d, 3000);
    ctx.measure("lossReportedAfterMs", lossReported.reported ? Date.now() - t0 : -1);
    // Recovery is judged with the storm still running: ready again under the load that overflowed it.
    const ready = await readyProbe(d, RECOVER_MS);
    ctx.measure("recoveryMs", Date.now() - t0);
    ctx.measure("readyAfterSigcont", ready.ok);
    ctx.measure("stormStillRunningAtRecovery", storm.exitCode === null);
    const after = await drops(d);
    countedWhileStopped = after.kernel_ring_full! - before.kernel_ring_full!;
    ctx.measure("kernelRingFullWhileStopped", countedWhileStopped);
    storm.kill("SIGKILL");
    await storm.exited;
  },
};
