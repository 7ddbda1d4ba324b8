/** A ring-buffer flood beyond capacity: every event caused is either stored or counted as dropped. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, drops, LOSS_WINDOW_SECONDS, openBurst, readyProbe, watchLossReported } from "./common";

let d: Daemon;
let caused = 0;
let target = "";
let lossReported: { reported: boolean; reason: string | null } = { reported: false, reason: null };

export const ringFlood: Experiment = {
  name: "ring-flood",
  title: "a flood of opens beyond the ring's capacity (64 KiB ring, consumer stopped meanwhile)",
  hypothesis: `stored + counted drops >= caused (nothing lost silently); the capture ratio is reported; readiness turns 503 naming the loss while it happens, and is ready again within ${LOSS_WINDOW_SECONDS + 5} s`,
  async setup(ctx) {
    d = await daemonFor(ctx, { VIGIL_RING_BYTES: String(64 * 1024) });
    target = join(ctx.dir, `flood-${process.pid}.txt`);
    writeFileSync(target, "x");
  },
  async steadyState(_ctx, phase) {
    const out = [await readyProbe(d, phase === "before" ? 5000 : (LOSS_WINDOW_SECONDS + 5) * 1000)];
    if (phase === "after") {
      out.push(probe("readiness reported the loss", lossReported.reported, lossReported.reason));
      await Bun.sleep(500);
      let stored = 0;
      let cursor: number | undefined;
      for (;;) {
        const r = (await (await d.api(`/v1/events?type=open&limit=1000${cursor ? `&cursor=${cursor}` : ""}`)).json()) as { events: { path: string }[]; nextCursor: number | null };
        stored += r.events.filter((e) => e.path === target).length;
        if (r.nextCursor === null) break;
        cursor = r.nextCursor;
      }
      const dropped = (await drops(d)).kernel_ring_full!;
      out.push(probe("stored + counted drops >= caused", stored + dropped >= caused, { caused, stored, kernelRingFull: dropped, captureRatio: caused ? stored / caused : null }));
    }
    return out;
  },
  async method(ctx) {
    caused = ctx.quick ? 20_000 : 100_000;
    // The consumer is stopped while the kernel writes, so the ring must overflow.
    d.proc.kill("SIGSTOP");
    ctx.onRollback("SIGCONT the service", () => void d.proc.kill("SIGCONT"));
    await openBurst(target, caused).exited;
    d.proc.kill("SIGCONT");
    ctx.measure("caused", caused);
    const t0 = Date.now();
    lossReported = await watchLossReported(d, 3000);
    ctx.measure("lossReportedAfterMs", lossReported.reported ? Date.now() - t0 : -1);
  },
};
