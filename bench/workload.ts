/**
 * An agent-like exec/open workload: thousands of short tool processes and
 * file opens. Wall and CPU time unobserved vs observed through the full
 * `vigil run` path (observer, process tree, agent attribution, summary), two
 * ways: in scope vs out of scope of one loaded observer (a daemon's cost,
 * finely interleaved), and a freshly loaded observer per run vs none (the
 * whole cost, coarse). Events captured against events caused, counted
 * independently by the workload itself.
 */
import { Runtime } from "../src/runtime/runtime";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OwnedCgroup } from "../src/cgroup/cgroup";
import { Observer } from "../src/observer/observer";
import { enableRunTimeStats } from "../src/kernel/bpf-object";
import { RunSummaryBuilder } from "../src/cli/run-summary";
import { median, peakRssMiB, quantile, resetPeakRss, ROOT, runIn, table, writeReport } from "./lib";

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

/** Counts what an observer captured of the workload, independently of what it caused. */
interface Captured {
  execs: number;
  shellOpens: number;
}

/**
 * An observer scoped to `cg` feeding the full `vigil run` pipeline (process
 * tree, agent attribution, run summary), counting the workload's execs and the
 * shell's own opens of the workload files as they arrive. As in `vigil run`,
 * the agent is registered once the observer is up, so its identity goes into
 * the kernel too (by cgroup, inherited by every child at fork) and its cgroup
 * gets the connect guard.
 */
function observedPipeline(cg: OwnedCgroup, dir: string): { observer: Observer; captured: Captured; start: () => void } {
  const captured: Captured = { execs: 0, shellOpens: 0 };
  const rt = new Runtime({
    observer: {
      syscalls: "aggregate",
      cgroupIds: [cg.id],
      onEvent: (e) => {
        if (e.type === "exec") captured.execs++;
        if (e.type === "open" && e.path.startsWith(`${dir}/f`) && e.comm === "sh") captured.shellOpens++;
      },
    },
    scopeAgent: "bench",
  });
  rt.pipeline.addSink(new RunSummaryBuilder());
  const start = () => {
    rt.start();
    rt.agents.register({ name: "bench", cgroupId: cg.id, cgroupPath: cg.relPath, cgroupOwned: true });
  };
  return { observer: rt.observer, captured, start };
}

/**
 * Per-run figures of a series: wall ms, the workload's CPU ms, and this
 * process's own CPU ms meanwhile (the observer's decoding and pipeline, and
 * the spawn and wait that baseline runs pay too), so that the total CPU cost
 * of observing is the workload's extra plus the observer's.
 */
interface Run {
  ms: number;
  cpuMs: number;
  ownCpuMs: number;
  totalCpuMs: number;
}

/** One run of the workload script inside `cg`; `drain` (the observer's, when one is loaded) runs before this process's CPU is read, so the run's last records are its own. */
async function runScript(cg: OwnedCgroup, script: string, drain?: () => void): Promise<Run> {
  const before = process.cpuUsage();
  const r = await runIn(cg, ["/bin/sh", "-c", script]);
  drain?.();
  const own = process.cpuUsage(before);
  const ownCpuMs = (own.user + own.system) / 1000;
  return { ms: r.ms, cpuMs: r.cpuMs, ownCpuMs, totalCpuMs: r.cpuMs + ownCpuMs };
}

/** Each observed run's overhead (%) against the mean of the baseline runs either side of it. */
function neighbourOverheads(observed: Run[], baselines: Run[], of: keyof Run): number[] {
  return observed.map((o, i) => (o[of] / neighbourMean(baselines, i, of) - 1) * 100);
}

/** The mean of `of` over the baseline runs either side of observed run `i`. */
function neighbourMean(baselines: Run[], i: number, of: keyof Run): number {
  return (baselines[i]![of] + baselines[i + 1]![of]) / 2;
}

const spread = (xs: number[]): string => `${quantile(xs, 0.25).toFixed(1)} .. ${quantile(xs, 0.75).toFixed(1)}%`;

/** What every series reports of wall time. */
interface WallFigures {
  iterations: number;
  observedRuns: number;
  baselineMs: number;
  observedMs: number;
  wallOverheadPct: number;
  wallOverheadsPct: number[];
}

interface SeriesResult extends WallFigures {
  cpuBaselineMs: number;
  cpuObservedMs: number;
  cpuOverheadPct: number;
  cpuOverheadsPct: number[];
  /** This process's CPU during an observed run, above what it used during a baseline run (median of each against its neighbours). */
  observerCpuMs: number;
  /** Workload CPU plus this process's, observed against baseline: the whole CPU price of observing. */
  totalCpuOverheadPct: number;
  totalCpuOverheadsPct: number[];
  execs: number;
  expectedExecs: number;
  shellOpens: number;
  expectedShellOpens: number;
  dropped: number;
  peakRssMiB: number;
}

/** The wall-time figures every series reports: medians, and each observed run's overhead against its neighbours. */
function wallFigures(iterations: number, observed: Run[], baselines: Run[]): WallFigures {
  const wall = neighbourOverheads(observed, baselines, "ms");
  return {
    iterations,
    observedRuns: observed.length,
    baselineMs: median(baselines.map((r) => r.ms)),
    observedMs: median(observed.map((r) => r.ms)),
    wallOverheadPct: median(wall),
    wallOverheadsPct: wall,
  };
}

function seriesResult(iterations: number, observed: Run[], baselines: Run[], captured: Captured, dropped: number, rss: number): SeriesResult {
  const cpu = neighbourOverheads(observed, baselines, "cpuMs");
  const total = neighbourOverheads(observed, baselines, "totalCpuMs");
  const ownExtra = observed.map((o, i) => o.ownCpuMs - neighbourMean(baselines, i, "ownCpuMs"));
  return {
    ...wallFigures(iterations, observed, baselines),
    cpuBaselineMs: median(baselines.map((r) => r.cpuMs)),
    cpuObservedMs: median(observed.map((r) => r.cpuMs)),
    cpuOverheadPct: median(cpu),
    cpuOverheadsPct: cpu,
    observerCpuMs: median(ownExtra),
    totalCpuOverheadPct: median(total),
    totalCpuOverheadsPct: total,
    execs: captured.execs,
    // + the sh exec'd by runIn's wrapper, per run
    expectedExecs: (3 * iterations + 1) * observed.length,
    shellOpens: captured.shellOpens,
    expectedShellOpens: 5 * iterations * observed.length,
    dropped,
    peakRssMiB: rss,
  };
}

function seriesRow(setup: string, r: SeriesResult): (string | number)[] {
  return [setup, r.observedRuns, r.baselineMs, r.observedMs, `${r.wallOverheadPct.toFixed(1)}%`, spread(r.wallOverheadsPct), `${r.cpuOverheadPct.toFixed(1)}%`, spread(r.cpuOverheadsPct), r.observerCpuMs, `${r.totalCpuOverheadPct.toFixed(1)}%`, spread(r.totalCpuOverheadsPct), `${r.execs}/${r.expectedExecs}`, `${r.shellOpens}/${r.expectedShellOpens}`, r.dropped, r.peakRssMiB];
}

/**
 * The cost of being observed, as a running daemon imposes it: one observer
 * stays loaded (warmed by one untimed run) and scoped to one cgroup; short
 * runs of the workload alternate between that cgroup and a sibling outside
 * the scope. Both kinds of run pay the hooks' dispatch (every process on the
 * machine does); only observed runs are reported, counted, decoded and fed
 * through the pipeline. Alternating every few hundred ms, with each observed
 * run against the baselines either side of it, cancels this host's drift far
 * better than runs minutes apart, and needs no load or unload between runs.
 */
async function inScopeSeries(quick: boolean, iterations: number, inCg: OwnedCgroup, outCg: OwnedCgroup, dir: string, script: string): Promise<SeriesResult> {
  const pairs = quick ? 30 : 120;
  const { observer, captured, start } = observedPipeline(inCg, dir);
  const baselines: Run[] = [];
  const observed: Run[] = [];
  resetPeakRss();
  start();
  let dropped = 0;
  try {
    await runScript(inCg, script); // warm-up: JIT of the decode and pipeline paths
    observer.drain();
    captured.execs = captured.shellOpens = 0;
    const drain = () => observer.drain();
    baselines.push(await runScript(outCg, script, drain));
    for (let i = 0; i < pairs; i++) {
      observed.push(await runScript(inCg, script, drain));
      baselines.push(await runScript(outCg, script, drain));
    }
    observer.drain();
    dropped = observer.stats().droppedTotal;
  } finally {
    observer.stop();
  }
  return seriesResult(iterations, observed, baselines, captured, dropped, peakRssMiB());
}

const PAUSE_MS = 500;

/**
 * The whole observer per run, as `vigil run` imposes it: load, attach, observe
 * one longer run, drain, detach; against runs with nothing loaded, one
 * between every two observed runs. Includes what the hooks cost every
 * process on the machine and what a freshly loaded observer costs while it
 * warms up. Both kinds of run follow a pause: after a stop the kernel frees
 * programs and maps in the background, and a run timed right after the CPU
 * burst of a load measured several points slower on this host. So it has far
 * fewer runs than the in-scope series, and a wider spread.
 */
async function wholeObserverSeries(quick: boolean, iterations: number, cg: OwnedCgroup, dir: string, script: string): Promise<SeriesResult> {
  const reps = quick ? 4 : 20;
  const baselines: Run[] = [await runScript(cg, script)];
  const observed: Run[] = [];
  const captured: Captured = { execs: 0, shellOpens: 0 };
  let dropped = 0;
  let rss = 0;
  for (let r = 0; r < reps; r++) {
    const p = observedPipeline(cg, dir);
    resetPeakRss();
    p.start();
    try {
      await Bun.sleep(PAUSE_MS);
      observed.push(await runScript(cg, script, () => p.observer.drain()));
      dropped += p.observer.stats().droppedTotal;
    } finally {
      p.observer.stop();
    }
    captured.execs += p.captured.execs;
    captured.shellOpens += p.captured.shellOpens;
    rss = Math.max(rss, peakRssMiB());
    await Bun.sleep(PAUSE_MS);
    baselines.push(await runScript(cg, script));
  }
  return seriesResult(iterations, observed, baselines, captured, dropped, rss);
}

interface VigilRunResult extends WallFigures {
  baselineCpuMs: number;
  /** vigil run's whole CPU (start, load, decoding, summary, stop) with the workload's. */
  vigilRunCpuMs: number;
  totalCpuOverheadPct: number;
  totalCpuOverheadsPct: number[];
  execs: number;
  expectedExecs: number;
  dropped: number;
}

/**
 * `bin/vigil run` as a user runs it: a fresh process per run (Bun start, BPF
 * load, a cgroup of its own, JIT warm-up of the event path, the summary),
 * against the same script run plainly. The script times itself (`date`
 * around the loop, written to a file), so the wall figure is what the
 * command paid while observed, not Vigil's start or stop; the CPU figure is
 * the whole price: `vigil run`'s own CPU with the workload's (rusage counts
 * the children it waited for) against the plain script's. Captured execs and
 * drops come from its --summary-json.
 */
async function vigilRunSeries(quick: boolean, iterations: number, cg: OwnedCgroup, dir: string, script: string): Promise<VigilRunResult> {
  const reps = quick ? 4 : 20;
  const elapsedFile = join(dir, "elapsed-ns");
  const summaryFile = join(dir, "summary.json");
  const timed = `t0=$(date +%s%N); ${script}
    t1=$(date +%s%N); echo $((t1 - t0)) > ${elapsedFile}`;
  const scriptMs = async (): Promise<number> => Number((await Bun.file(elapsedFile).text()).trim()) / 1e6;
  const base = async (): Promise<Run> => {
    await Bun.sleep(PAUSE_MS);
    const r = await runIn(cg, ["/bin/sh", "-c", timed]);
    return { ms: await scriptMs(), cpuMs: r.cpuMs, ownCpuMs: 0, totalCpuMs: r.cpuMs };
  };
  const baselines: Run[] = [await base()];
  const observed: Run[] = [];
  let execs = 0;
  let dropped = 0;
  for (let r = 0; r < reps; r++) {
    await Bun.sleep(PAUSE_MS);
    const p = Bun.spawn([`${ROOT}/bin/vigil`, "run", "--name", "bench", "--summary-json", summaryFile, "--", "/bin/sh", "-c", timed], { stdout: "ignore", stderr: "pipe" });
    const stderr = await new Response(p.stderr).text(); // the printed summary, or why it failed
    await p.exited;
    if (p.exitCode !== 0) throw new Error(`bench workload: vigil run exited ${p.exitCode}: ${stderr.trim()}`);
    const cpu = p.resourceUsage()?.cpuTime;
    const total = cpu ? Number(cpu.user + cpu.system) / 1000 : Number.NaN;
    const summary = (await Bun.file(summaryFile).json()) as { events: Record<string, number>; droppedTotal: number };
    execs += summary.events.exec ?? 0;
    dropped += summary.droppedTotal;
    observed.push({ ms: await scriptMs(), cpuMs: Number.NaN, ownCpuMs: Number.NaN, totalCpuMs: total });
    baselines.push(await base());
  }
  const total = neighbourOverheads(observed, baselines, "totalCpuMs");
  return {
    ...wallFigures(iterations, observed, baselines),
    baselineCpuMs: median(baselines.map((b) => b.totalCpuMs)),
    vigilRunCpuMs: median(observed.map((o) => o.totalCpuMs)),
    totalCpuOverheadPct: median(total),
    totalCpuOverheadsPct: total,
    execs,
    // the script's shell (exec'd by vigil's cgroup wrapper), its two `date`s, and 3 tools an iteration
    expectedExecs: (3 * iterations + 3) * reps,
    dropped,
  };
}

export async function benchWorkload(quick: boolean): Promise<Record<string, unknown>> {
  const shortIterations = 100;
  const longIterations = quick ? 300 : 600;
  const short = makeWorkload(shortIterations);
  const long = makeWorkload(longIterations);
  const inCg = OwnedCgroup.create(`bench-work-${process.pid}`);
  const outCg = OwnedCgroup.create(`bench-work-out-${process.pid}`);
  try {
    const inScope = await inScopeSeries(quick, shortIterations, inCg, outCg, short.dir, short.script);
    const whole = await wholeObserverSeries(quick, longIterations, inCg, long.dir, long.script);
    console.log(
      `\n## exec/open workload (per iteration: cat, grep and wc execs with their own opens, and 5 opens by the shell), observed through the full pipeline (aggregate mode, process tree, agents, run summary). Overheads are the median of each observed run's ratio to the baseline runs either side of it, with the middle half of those ratios; CPU is the workload's own (rusage, kernel time included); observer CPU is this process's CPU during an observed run above what it used during the baseline runs either side (decoding, pipeline), and the next column adds it to the workload's: the whole CPU price of observing\n`,
    );
    console.log(
      table(
        ["setup", "observed runs", "baseline ms", "observed ms", "wall overhead", "middle half", "CPU overhead", "middle half", "observer CPU ms", "CPU overhead with the observer's", "middle half", "execs captured/caused", "shell opens captured/caused", "dropped", "peak RSS MiB"],
        [
          seriesRow(`in scope vs out of scope, observer loaded (${shortIterations} iterations a run, alternating)`, inScope),
          seriesRow(`observer loaded for each run vs none (${longIterations} iterations a run)`, whole),
        ],
      ),
    );
    const vigilRun = await vigilRunSeries(quick, longIterations, inCg, long.dir, long.script);
    console.log(
      `\n## the same ${longIterations}-iteration workload under \`bin/vigil run\` (default options: aggregate mode), a fresh process per run, against the plain script, alternating; the script times itself, so wall is what the command paid while observed; CPU is vigil run's whole (start, BPF load, JIT warm-up, decoding, summary, stop) with the workload's, against the plain script's\n`,
    );
    console.log(
      table(
        ["setup", "runs", "baseline ms", "observed ms", "wall overhead", "middle half", "baseline CPU ms", "vigil run CPU ms (with the workload's)", "CPU overhead", "middle half", "execs captured/caused", "dropped"],
        [["bin/vigil run -- sh -c SCRIPT", vigilRun.observedRuns, vigilRun.baselineMs, vigilRun.observedMs, `${vigilRun.wallOverheadPct.toFixed(1)}%`, spread(vigilRun.wallOverheadsPct), vigilRun.baselineCpuMs, vigilRun.vigilRunCpuMs, `${vigilRun.totalCpuOverheadPct.toFixed(1)}%`, spread(vigilRun.totalCpuOverheadsPct), `${vigilRun.execs}/${vigilRun.expectedExecs}`, vigilRun.dropped]],
      ),
    );
    const attribution = await attributeKernelTime(inCg, long.dir, long.script, whole.cpuBaselineMs);
    const result = { inScope, wholeObserver: whole, vigilRun, attribution };
    writeReport("workload", result);
    return result;
  } finally {
    await inCg.remove();
    await outCg.remove();
    rmSync(short.dir, { recursive: true, force: true });
    rmSync(long.dir, { recursive: true, force: true });
  }
}

/**
 * Where the kernel-side cost goes: one more observed run, untimed, with the
 * kernel's per-program run-time accounting on (it adds two clock reads per
 * run, so it is never on during the timed runs). Time in the programs only:
 * the tracepoint machinery around them and the syscall slow path are not in it.
 */
async function attributeKernelTime(cg: OwnedCgroup, dir: string, script: string, baseCpuMs: number): Promise<{ program: string; runs: number; nsPerRun: number; ms: number }[]> {
  const { observer: o, start } = observedPipeline(cg, dir);
  start();
  let rows: { program: string; runs: number; nsPerRun: number; ms: number }[] = [];
  try {
    const before = o.programRunStats();
    const stats = enableRunTimeStats();
    try {
      await runScript(cg, script);
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
