/** CPU and memory stress (stress-ng) during an event storm: the service stays ready and counts what it drops. */
import type { Daemon } from "../../lab/daemon";
import { execStorm } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, drops, readiness, readyProbe, requireStressNg, startStress } from "./common";

let d: Daemon;
let notReady = 0;
let polls = 0;

export const stress: Experiment = {
  name: "cpu-memory-stress",
  title: "stress-ng on every CPU and 512 MiB of memory churn during an exec storm",
  hypothesis: "readiness stays 200 throughout (polled every 100 ms); drops, if any, are counted by stage; ready afterwards",
  async setup(ctx) {
    requireStressNg();
    d = await daemonFor(ctx);
  },
  async steadyState(_ctx, phase) {
    const out = [await readyProbe(d, 5000)];
    if (phase === "after") out.push(probe("ready at every poll under stress", notReady === 0 && polls > 0, { polls, notReady }));
    return out;
  },
  async method(ctx) {
    const seconds = ctx.quick ? 4 : 20;
    const s = startStress(ctx, seconds);
    const storm = execStorm(ctx.quick ? 2000 : 10_000);
    ctx.onRollback("stop the storm", () => void storm.kill("SIGKILL"));
    const before = await drops(d);
    while (s.exitCode === null) {
      polls++;
      if ((await readiness(d)).status !== 200) notReady++;
      await Bun.sleep(100);
    }
    storm.kill("SIGKILL");
    const after = await drops(d);
    ctx.measure("polls", polls);
    ctx.measure("notReady", notReady);
    for (const [k, v] of Object.entries(after)) if (v !== before[k]) ctx.measure(`dropped.${k}`, v - (before[k] ?? 0));
  },
};
