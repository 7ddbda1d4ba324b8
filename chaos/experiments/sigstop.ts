/** SIGSTOP then SIGCONT of the service under load: events lost meanwhile are counted, and it recovers. */
import type { Daemon } from "../../lab/daemon";
import { execStorm } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, drops, LOSS_WINDOW_SECONDS, readyProbe, watchLossReported } from "./common";

let d: Daemon;
let lossReported: { reported: boolean; reason: string | null } = { reported: false, reason: null };
const RECOVER_MS = (LOSS_WINDOW_SECONDS + 5) * 1000;

export const sigstop: Experiment = {
  name: "sigstop-sigcont",
  title: "the service stopped (SIGSTOP) for a while under an exec storm, then continued",
  hypothesis: `the ring drops while stopped are counted (kernel_ring_full), not silent; readiness turns 503 naming the loss, then is ready within ${RECOVER_MS / 1000} s of SIGCONT; the service ingests again`,
  async setup(ctx) {
    d = await daemonFor(ctx, { VIGIL_RING_BYTES: String(256 * 1024) });
  },
  async steadyState(ctx, phase) {
    const out = [await readyProbe(d, phase === "before" ? 5000 : RECOVER_MS)];
    if (phase === "after") {
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
    await Bun.sleep(ctx.quick ? 1500 : 5000);
    d.proc.kill("SIGCONT");
    const t0 = Date.now();
    lossReported = await watchLossReported(d, 3000);
    await storm.exited;
    const ready = await readyProbe(d, RECOVER_MS);
    ctx.measure("recoveryMs", Date.now() - t0);
    ctx.measure("readyAfterSigcont", ready.ok);
    const after = await drops(d);
    ctx.measure("kernelRingFullWhileStopped", after.kernel_ring_full! - before.kernel_ring_full!);
  },
};
