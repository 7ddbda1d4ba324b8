/** The data dir's disk fills up: readiness degrades with the reason, ingestion does not crash, and it recovers. */
import { mkdirSync, openSync, closeSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../lab/daemon";
import { execStorm, waitReady } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, drops, readiness, readyProbe } from "./common";

let d: Daemon;
let mnt = "";
let degradedSeen: string | null = null;

function fill(path: string): number {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch {
    /* ENOSPC: the disk is full */
  } finally {
    closeSync(fd);
  }
  return n;
}

export const diskFull: Experiment = {
  name: "disk-full",
  title: "the data dir's filesystem (a 8 MiB tmpfs of the experiment's own) becomes full under ingestion",
  hypothesis: "readiness turns 503 naming the store; /healthz stays 200 (no crash); lost events are counted (store_write_error); readiness returns within 15 s once space is freed",
  async setup(ctx) {
    mnt = join(ctx.dir, "mnt");
    mkdirSync(mnt);
    const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt]);
    if (m.exitCode !== 0) throw new Error(`mount tmpfs: ${m.stderr.toString()}`);
    ctx.onRollback("unmount the tmpfs", () => void Bun.spawnSync(["umount", "-l", mnt]));
    d = await daemonFor(ctx, {}, join(mnt, "data"));
  },
  async steadyState(_ctx, phase) {
    const out = [await readyProbe(d, phase === "after" ? 15_000 : 5000)];
    if (phase === "after") {
      out.push(probe("readiness degraded with the store as the reason", degradedSeen !== null && /store/.test(degradedSeen), degradedSeen));
      out.push(probe("alive throughout", (await fetch(`${d.base}/healthz`)).status === 200, null));
    }
    return out;
  },
  async method(ctx) {
    const filler = join(mnt, "filler");
    ctx.onRollback("free the space", () => rmSync(filler, { force: true }));
    const storm = execStorm(ctx.quick ? 3000 : 15_000);
    ctx.onRollback("stop the storm", () => void storm.kill("SIGKILL"));
    ctx.measure("fillerBytes", fill(filler));
    // Readiness must degrade (with the store as the reason) while the process stays alive.
    let degraded: { status: number; reasons: string[] } | null = null;
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const r = await readiness(d);
      if (r.status === 503) {
        degraded = r;
        break;
      }
      fill(join(mnt, `more-${Date.now()}`)); // the WAL may still have had room
      await Bun.sleep(100);
    }
    degradedSeen = degraded ? degraded.reasons.join("; ") : null;
    ctx.measure("readinessDegraded", degraded !== null);
    ctx.measure("degradedReason", degraded?.reasons.join("; ") ?? "");
    ctx.measure("healthzWhileFull", (await fetch(`${d.base}/healthz`)).status);
    await storm.exited;
    ctx.measure("storeWriteErrorDrops", (await drops(d)).store_write_error ?? -1);
    rmSync(filler, { force: true });
    for (const f of new Bun.Glob("more-*").scanSync(mnt)) rmSync(join(mnt, f), { force: true });
    const t0 = Date.now();
    ctx.measure("recoveredMs", (await waitReady(d.base, 15_000)) === null ? -1 : Date.now() - t0);
  },
};
