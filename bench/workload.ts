/**
 * An agent-like exec/open workload: thousands of short tool processes and
 * file opens. Wall time unobserved vs observed through the full `vigil run`
 * path (observer, process tree, agent attribution, summary); events captured
 * against events caused, counted independently by the workload itself.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/agent-registry";
import { OwnedCgroup } from "../src/cgroup/cgroup";
import { Observer } from "../src/observer/observer";
import { EventPipeline } from "../src/pipeline/event-pipeline";
import { ProcessTree } from "../src/proc/process-tree";
import { RunSummaryBuilder } from "../src/cli/run-summary";
import { median, peakRssMiB, resetPeakRss, runIn, table, writeReport } from "./lib";

/** The agent-like workload: a shell script over files in a temp dir (removed by the caller). */
export function makeWorkload(iterations: number): { dir: string; script: string } {
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `f${i}.txt`), `line ${i}\n`.repeat(50));
  // Each iteration: 3 execs (cat, grep, wc) and, per exec'd tool, its own opens; plus 5 opens by the shell.
  const script = `i=0; while [ $i -lt ${iterations} ]; do
    cat ${dir}/f$((i % 20)).txt > /dev/null
    grep -c line ${dir}/f$(((i + 1) % 20)).txt > /dev/null
    wc -l ${dir}/f$(((i + 2) % 20)).txt > /dev/null
    for j in 1 2 3 4 5; do : < ${dir}/f$j.txt; done
    i=$((i + 1)); done`;
  return { dir, script };
}

export async function benchWorkload(quick: boolean): Promise<Record<string, unknown>> {
  const iterations = quick ? 300 : 1500;
  const reps = quick ? 3 : 5;
  const { dir, script } = makeWorkload(iterations);
  const cg = OwnedCgroup.create(`bench-work-${process.pid}`);
  try {
    const base: number[] = [];
    const observed: number[] = [];
    let execs = 0;
    let shellOpens = 0;
    let dropped = 0;
    let rss = 0;
    for (let r = 0; r < reps; r++) {
      base.push((await runIn(cg, ["/bin/sh", "-c", script])).ms);
      const tree = new ProcessTree();
      const agents = new AgentRegistry(tree);
      agents.register({ name: "bench", cgroupId: cg.id });
      const pipeline = new EventPipeline(tree, agents);
      pipeline.addSink(new RunSummaryBuilder());
      let myExecs = 0;
      let myOpens = 0;
      const o = new Observer({
        syscalls: "aggregate",
        cgroupIds: [cg.id],
        onEvent: (e) => {
          pipeline.handle(e);
          if (e.type === "exec") myExecs++;
          if (e.type === "open" && e.path.startsWith(`${dir}/f`) && e.comm === "sh") myOpens++;
        },
      });
      resetPeakRss();
      o.start();
      try {
        const run = await runIn(cg, ["/bin/sh", "-c", script]);
        observed.push(run.ms);
        o.drain();
        dropped += o.stats().droppedTotal;
      } finally {
        o.stop();
      }
      rss = Math.max(rss, peakRssMiB());
      execs = myExecs;
      shellOpens = myOpens;
    }
    const b = median(base);
    const ob = median(observed);
    const overheadPct = ((ob - b) / b) * 100;
    const expectedExecs = 3 * iterations + 1; // + the sh exec'd by runIn's wrapper
    const expectedShellOpens = 5 * iterations;
    console.log(`\n## exec/open workload: ${iterations} iterations (${3 * iterations} tool execs, ${expectedShellOpens} shell opens + the tools' own), ${reps} runs each (median)\n`);
    console.log(
      table(
        ["setup", "wall ms", "overhead", "execs captured/caused", "shell opens captured/caused", "dropped", "peak RSS MiB"],
        [
          ["baseline (unobserved)", b, "-", "-", "-", "-", "-"],
          ["vigil (aggregate, full pipeline)", ob, `${overheadPct.toFixed(1)}%`, `${execs}/${expectedExecs}`, `${shellOpens}/${expectedShellOpens}`, dropped, rss],
        ],
      ),
    );
    const result = { iterations, reps, baselineMs: base, observedMs: observed, overheadPct, execs, expectedExecs, shellOpens, expectedShellOpens, dropped, peakRssMiB: rss };
    writeReport("workload", result);
    return result;
  } finally {
    await cg.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}
