/**
 * getppid() storm: ns per syscall unobserved (baseline) and observed by Vigil
 * in each syscall mode, and by peers (libbpf-tools syscount, bpftrace) when
 * installed. Baseline runs before and after, interleaved with the observed
 * runs, on the same machine in the same run: read the ratios, not the ns.
 */
import { OwnedCgroup } from "../src/cgroup/cgroup";
import { Observer, type FirehoseClockName, type SyscallModeName } from "../src/observer/observer";
import { FIREHOSE_RING_DEFAULT } from "../src/sensor/sensor";
import { syscallNumber } from "../src/events/syscall-names";
import { buildStorm, median, peakRssMiB, quantile, resetPeakRss, STORM, table, writeReport } from "./lib";

export interface StormRow {
  setup: string;
  nsPerSyscall: number;
  ratio: number;
  /** The middle half of the per-run ratios (Vigil setups; each run against the baselines on either side of it). */
  ratioSpread: [number, number] | null;
  captured: number | null;
  expected: number | null;
  dropped: number | null;
  peakRssMiB: number | null;
}

/**
 * The storm runs pinned to the last CPU, in every setup alike (baseline, Vigil, peers): this VM's
 * scheduler otherwise moves it between the two CPUs and the ratios swing by ±0.2x run to run.
 * The consumers stay free to run on the other CPU, as they would on a machine with spare cores.
 */
export const STORM_CPU = navigator.hardwareConcurrency - 1;
function stormArgv(n: number): string[] {
  return Bun.which("taskset") ? ["taskset", "-c", String(STORM_CPU), STORM, String(n)] : [STORM, String(n)];
}

/**
 * Runs the storm `reps` times inside the cgroup; median ns/syscall. Each storm's pid is added to
 * `pids` (when given) before it makes a single syscall, so a sink can count exactly its records.
 */
export async function stormRuns(cg: OwnedCgroup, n: number, reps: number, pids?: Set<number>): Promise<{ ns: number; pids: number[] }> {
  const ns: number[] = [];
  const all: number[] = [];
  for (let i = 0; i < reps; i++) {
    // The shell joins the cgroup, then waits for a go line before exec'ing the storm.
    const p = Bun.spawn(cg.shellArgv('read go; exec "$@"', ...stormArgv(n)), { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    pids?.add(p.pid);
    p.stdin.write("go\n");
    p.stdin.end();
    const out = await new Response(p.stdout).text();
    await p.exited;
    ns.push(Number(out.trim()));
    all.push(p.pid);
  }
  return { ns: median(ns), pids: all };
}

async function withPeer(argv: string[], warmupMs: number, body: () => Promise<void>): Promise<boolean> {
  if (!Bun.which(argv[0]!)) return false;
  const p = Bun.spawn(argv, { stdout: "ignore", stderr: "ignore" });
  await Bun.sleep(warmupMs);
  if (p.exitCode !== null) return false;
  try {
    await body();
  } finally {
    p.kill("SIGINT");
    await Promise.race([p.exited, Bun.sleep(3000)]);
    p.kill("SIGKILL");
  }
  return true;
}

export async function benchStorm(quick: boolean): Promise<StormRow[]> {
  buildStorm();
  const n = quick ? 1_000_000 : 5_000_000;
  const reps = quick ? 3 : 5;
  const cg = OwnedCgroup.create(`bench-storm-${process.pid}`);
  const rows: StormRow[] = [];
  const getppid = syscallNumber("getppid")!;
  try {
    const baselines: number[] = [];
    const baseline = async (runs = reps): Promise<number> => {
      const ns = (await stormRuns(cg, n, runs)).ns;
      baselines.push(ns);
      return ns;
    };
    // [mode, every optional event kind captured (else `capture: []`), firehose clock]
    const setups: [SyscallModeName, boolean, FirehoseClockName?][] = [
      ["firehose", true],
      ["firehose", true, "exact"],
      ["firehose", false],
      ["aggregate", true],
      ["aggregate", false],
      ["off", true],
    ];
    // Round-robin: each round runs every setup once, starting one setup later each round, so slow
    // spells of this shared VM's host fall on all setups alike instead of on whichever block they
    // hit. A baseline run sits between every two observed runs, and each observed run's ratio is
    // taken against the baselines on either side of it: the host's speed drifts by tens of percent
    // within a minute, and a ratio to neighbours cancels most of that where a ratio of medians over
    // the whole run does not. After each stop the kernel frees the programs and maps in the
    // background (RCU): a pause keeps that work out of the next run.
    const acc = setups.map(() => ({ ns: [] as number[], ratios: [] as number[], captured: 0, dropped: 0, rss: 0 }));
    const settle = () => Bun.sleep(quick ? 300 : 1000);
    let before = await baseline(1);
    for (let round = 0; round < reps; round++) {
      for (let k = 0; k < setups.length; k++) {
        const i = (round + k) % setups.length;
        const [mode, allKinds, firehoseClock] = setups[i]!;
        const stormPids = new Set<number>();
        let observedNs: number | null = null;
        let captured = 0;
        const o = new Observer({
          syscalls: mode,
          capture: allKinds ? undefined : [],
          firehoseClock,
          cgroupIds: [cg.id],
          onEvent: () => {},
          syscallSink: { onSyscall: (pid, _tid, nr) => void (stormPids.has(pid) && nr === getppid && captured++) },
        });
        resetPeakRss();
        o.start();
        try {
          // Each storm pid is added to stormPids before it starts, so the sink counts exactly its getppid records.
          const res = await stormRuns(cg, n, 1, stormPids);
          o.drain(true); // the storm has exited: every record it caused is in the rings
          const a = acc[i]!;
          a.ns.push(res.ns);
          observedNs = res.ns;
          a.dropped += o.stats().droppedTotal;
          if (mode === "aggregate") {
            const counts = o.syscallCounts();
            for (const pid of res.pids) captured += counts.get(pid)?.get(getppid) ?? 0;
          }
          a.captured += captured;
          a.rss = Math.max(a.rss, peakRssMiB());
        } finally {
          o.stop();
        }
        await settle();
        const after = await baseline(1);
        if (observedNs !== null) acc[i]!.ratios.push(observedNs / ((before + after) / 2));
        before = after;
      }
    }
    for (const [i, [mode, allKinds, firehoseClock]] of setups.entries()) {
      const a = acc[i]!;
      const counted = mode !== "off";
      rows.push({
        setup: `vigil ${mode}${mode === "firehose" ? `, ${firehoseClock ?? "tick"} clock` : ""}${allKinds ? "" : ", no open/connect/cred (capture none)"}`,
        nsPerSyscall: median(a.ns),
        ratio: median(a.ratios),
        ratioSpread: [quantile(a.ratios, 0.25), quantile(a.ratios, 0.75)],
        captured: counted ? a.captured : null,
        expected: counted ? n * reps : null,
        dropped: a.dropped,
        peakRssMiB: a.rss,
      });
    }
    const cgPath = cg.dir;
    const peers: [string, string[]][] = [
      ["libbpf-tools syscount (in-kernel hash)", ["syscount", "-c", cgPath, "-d", "600"]],
      ["bpftrace @[pid] = count()", ["bpftrace", "-e", `tracepoint:raw_syscalls:sys_enter /cgroup == cgroupid("${cgPath}")/ { @[pid] = count(); }`]],
    ];
    // Peers stay attached for a block of runs, so their ratio is to the baseline blocks either side.
    for (const [name, argv] of peers) {
      let ns = Number.NaN;
      const ran = await withPeer(argv, 2500, async () => {
        ns = (await stormRuns(cg, n, reps)).ns;
      });
      if (ran) {
        const after = await baseline();
        rows.push({ setup: name, nsPerSyscall: ns, ratio: ns / ((before + after) / 2), ratioSpread: null, captured: null, expected: null, dropped: null, peakRssMiB: null });
        before = after;
      }
    }
    const base = median(baselines);
    rows.unshift({ setup: "baseline (unobserved)", nsPerSyscall: base, ratio: 1, ratioSpread: null, captured: null, expected: null, dropped: null, peakRssMiB: null });
    console.log(
      `\n## getppid() storm: ${n.toLocaleString()} syscalls x ${reps} runs per setup, storm pinned to CPU ${STORM_CPU}, firehose rings of ${FIREHOSE_RING_DEFAULT >> 20} MiB a CPU (the default). Vigil setups round-robin with a baseline run between every two runs; "vs baseline" is the median of each run's ratio to the baselines either side of it, with the middle half of those ratios; peers run in blocks, against the baseline blocks either side. Baselines ${baselines.map((b) => b.toFixed(0)).join(", ")} ns\n`,
    );
    console.log(
      table(
        ["setup", "ns/syscall", "vs baseline", "middle half", "getppid captured", "expected", "dropped", "peak RSS MiB"],
        rows.map((r) => [r.setup, r.nsPerSyscall, `${r.ratio.toFixed(2)}x`, r.ratioSpread ? `${r.ratioSpread[0].toFixed(2)} .. ${r.ratioSpread[1].toFixed(2)}x` : "-", r.captured ?? "-", r.expected ?? "-", r.dropped ?? "-", r.peakRssMiB ?? "-"]),
      ),
    );
    writeReport("storm", { n, reps, baselines, rows });
    return rows;
  } finally {
    await cg.remove();
  }
}
