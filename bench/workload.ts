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
import { enableRunTimeStats } from "../src/kernel/bpf-object";
import { EventPipeline } from "../src/pipeline/event-pipeline";
import { ProcessTree } from "../src/proc/process-tree";
import { RunSummaryBuilder } from "../src/cli/run-summary";
import { median, peakRssMiB, quantile, resetPeakRss, runIn, table, writeReport } from "./lib";

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
  const iterations = quick ? 300 : 600;
  const reps = quick ? 4 : 12;
  const { dir, script } = makeWorkload(iterations);
  const cg = OwnedCgroup.create(`bench-work-${process.pid}`);
  try {
    const base: number[] = [];
    const observed: number[] = [];
    const baseCpu: number[] = [];
    const observedCpu: number[] = [];
    let execs = 0;
    let shellOpens = 0;
    let dropped = 0;
    let rss = 0;
    const runBaseline = async (): Promise<void> => {
      const unobserved = await runIn(cg, ["/bin/sh", "-c", script]);
      base.push(unobserved.ms);
      baseCpu.push(unobserved.cpuMs);
    };
    // Runs come in pairs, baseline and observed back to back, in alternating order
    // (ABBA): this host's speed drifts by tens of percent over a minute, and a ratio
    // within a pair cancels most of that drift where medians of separate runs do not.
    for (let r = 0; r < reps; r++) {
      if (r % 2 === 0) await runBaseline();
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
        observedCpu.push(run.cpuMs);
        o.drain();
        dropped += o.stats().droppedTotal;
      } finally {
        o.stop();
      }
      await Bun.sleep(500); // the kernel frees the last observer's programs and maps in the background
      rss = Math.max(rss, peakRssMiB());
      execs = myExecs;
      shellOpens = myOpens;
      if (r % 2 === 1) await runBaseline();
    }
    const b = median(base);
    const ob = median(observed);
    const pairs = (obs: number[], bas: number[]): number[] => obs.map((o, i) => (o / bas[i]! - 1) * 100);
    const wallPairs = pairs(observed, base);
    const cpuPairs = pairs(observedCpu, baseCpu);
    const overheadPct = median(wallPairs);
    const cpuOverheadPct = median(cpuPairs);
    const spread = (xs: number[]): string => `${quantile(xs, 0.25).toFixed(1)} .. ${quantile(xs, 0.75).toFixed(1)}%`;
    const expectedExecs = 3 * iterations + 1; // + the sh exec'd by runIn's wrapper
    const expectedShellOpens = 5 * iterations;
    console.log(`\n## exec/open workload: ${iterations} iterations (${3 * iterations} tool execs, ${expectedShellOpens} shell opens + the tools' own), ${reps} pairs of runs (baseline and observed back to back, order alternating); overheads are the median of the pairs' ratios, with the middle half of them\n`);
    console.log(
      table(
        ["setup", "wall ms", "overhead", "middle half", "workload CPU ms", "CPU overhead", "middle half", "execs captured/caused", "shell opens captured/caused", "dropped", "peak RSS MiB"],
        [
          ["baseline (unobserved)", b, "-", "-", median(baseCpu), "-", "-", "-", "-", "-", "-"],
          ["vigil (aggregate, full pipeline)", ob, `${overheadPct.toFixed(1)}%`, spread(wallPairs), median(observedCpu), `${cpuOverheadPct.toFixed(1)}%`, spread(cpuPairs), `${execs}/${expectedExecs}`, `${shellOpens}/${expectedShellOpens}`, dropped, rss],
        ],
      ),
    );
    const attribution = await attributeKernelTime(cg, script, median(baseCpu));
    const result = {
      iterations,
      reps,
      baselineMs: base,
      observedMs: observed,
      overheadPct,
      wallPairsPct: wallPairs,
      cpuPairsPct: cpuPairs,
      baselineCpuMs: baseCpu,
      observedCpuMs: observedCpu,
      cpuOverheadPct,
      execs,
      expectedExecs,
      shellOpens,
      expectedShellOpens,
      dropped,
      peakRssMiB: rss,
      attribution,
    };
    writeReport("workload", result);
    return result;
  } finally {
    await cg.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Where the kernel-side cost goes: one more observed run, untimed, with the
 * kernel's per-program run-time accounting on (it adds two clock reads per
 * run, so it is never on during the timed runs). Time in the programs only:
 * the tracepoint machinery around them and the syscall slow path are not in it.
 */
async function attributeKernelTime(cg: OwnedCgroup, script: string, baseCpuMs: number): Promise<{ program: string; runs: number; nsPerRun: number; ms: number }[]> {
  const o = new Observer({ syscalls: "aggregate", cgroupIds: [cg.id], onEvent: () => {} });
  o.start();
  let rows: { program: string; runs: number; nsPerRun: number; ms: number }[] = [];
  try {
    const before = o.programRunStats();
    const stats = enableRunTimeStats();
    try {
      await runIn(cg, ["/bin/sh", "-c", script]);
    } finally {
      stats.close();
    }
    const after = o.programRunStats();
    rows = Object.entries(after)
      .map(([program, a]) => {
        const runs = a.runs - (before[program]?.runs ?? 0);
        const ns = a.runTimeNs - (before[program]?.runTimeNs ?? 0);
        return { program, runs, nsPerRun: runs ? ns / runs : 0, ms: ns / 1e6 };
      })
      .filter((r) => r.runs > 0);
  } finally {
    o.stop();
  }
  const total = rows.reduce((a, r) => a + r.ms, 0);
  console.log(`\nKernel time in Vigil's programs during one more observed run (run-time stats on, untimed; programs run for every process on the machine, the out-of-scope ones return early):\n`);
  console.log(
    table(
      ["program", "runs", "ns/run", "ms", "of the baseline workload CPU"],
      [...rows.map((r) => [r.program, r.runs, r.nsPerRun, r.ms, `${((r.ms / baseCpuMs) * 100).toFixed(1)}%`]), ["all", "-", "-", total, `${((total / baseCpuMs) * 100).toFixed(1)}%`]],
    ),
  );
  return rows;
}
