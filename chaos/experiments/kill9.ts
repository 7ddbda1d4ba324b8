/** kill -9 of the service mid-ingest: it recovers ready in time, keeps every event it returned, loads no duplicate programs. */
import type { Daemon } from "../../lab/daemon";
import { execStorm, LOADED_PROGRAMS as LOADED } from "../../lab/daemon";
import { probe, type Experiment } from "../experiment";
import { daemonFor, programsSettleAt, readyProbe, settledVigilPrograms, vigilPrograms } from "./common";

const RECOVER_MS = 10_000;

let d: Daemon;
let before = 0;
let returned: number[] = [];

export const kill9: Experiment = {
  name: "kill-9-mid-ingest",
  title: "kill -9 of the service while it ingests an exec storm",
  hypothesis: `ready again within ${RECOVER_MS} ms after a restart; every event a query returned before the kill is still stored; exactly one set of Vigil programs in the kernel`,
  async setup(ctx) {
    before = await settledVigilPrograms();
    d = await daemonFor(ctx);
  },
  async steadyState(ctx, phase) {
    const out = [await readyProbe(d, 5000), probe(`${LOADED} Vigil programs loaded`, vigilPrograms() - before === LOADED, vigilPrograms() - before)];
    if (phase === "after") {
      let missing = 0;
      for (const id of returned) {
        const r = (await (await d.api(`/v1/events?order=asc&cursor=${id - 1}&limit=1`)).json()) as { events: { id: number }[] };
        if (r.events[0]?.id !== id) missing++;
      }
      ctx.measure("returnedEventsChecked", returned.length);
      out.push(probe("no returned event lost", missing === 0 && returned.length > 0, { checked: returned.length, missing }));
    }
    return out;
  },
  async method(ctx) {
    const storm = execStorm(ctx.quick ? 2000 : 10_000);
    ctx.onRollback("stop the storm", () => void storm.kill("SIGKILL"));
    await Bun.sleep(ctx.quick ? 700 : 2000);
    const r = (await (await d.api("/v1/events?limit=200")).json()) as { events: { id: number }[] };
    returned = r.events.map((e) => e.id);
    d.proc.kill("SIGKILL");
    await d.proc.exited;
    const gone = (await programsSettleAt(before)) === before;
    ctx.measure("programsGoneAfterKill", gone);
    storm.kill("SIGKILL");
    const t0 = Date.now();
    d = await daemonFor(ctx, {}, d.dataDir);
    const ready = await readyProbe(d, RECOVER_MS);
    ctx.measure("recoveryMs", Date.now() - t0);
    ctx.measure("readyAfterRestart", ready.ok);
  },
};
