/**
 * `vigil run [options] -- CMD [ARGS...]`: run CMD in a fresh cgroup of
 * Vigil's own, observe it and all its descendants, print a summary, and exit
 * with CMD's exit code (128 + signal when it was killed).
 */
import { accessSync, constants, existsSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { basename, dirname, resolve as resolvePath } from "node:path";
import { JOIN_FAILED_EXIT, OwnedCgroup } from "../cgroup/cgroup";
import { syscallName } from "../events/syscall-names";
import { parseCaptureList, type CaptureKind } from "../sensor/capture";
import type { FirehoseClockName, SyscallModeName } from "../observer/observer";
import { DEFAULT_OBJECT_PATH, FIREHOSE_RING_MAX } from "../sensor/sensor";
import { checkRequirements, missing } from "../sensor/requirements";
import { ProcPoller, subtreePids } from "../proc/proc-poller";
import { JsonlFileSink } from "../sinks/jsonl-file-sink";
import { Redactor } from "../events/redact";
import { Runtime } from "../runtime/runtime";
import { renderReport, ReportCollector } from "../report/report";
import type { LlmBodies } from "../intent/intent-tracker";
import { parseArgs, parseSize, UsageError } from "./args";
import { formatSummary, RunSummaryBuilder, type RunSummary } from "./run-summary";
import { compilePolicies, type PolicySet } from "../policy/compile";
import { formatProblem, PolicyError, readPolicyFile } from "../policy/loader";
import { probeCapabilities } from "../sensor/capabilities";
import { Interventions } from "../enforce/interventions";
import { PolicyGuard } from "../policy/policy-guard";
import { globMatcher } from "../policy/match";
import { launcherArgs } from "../kernel/landlock";

export const RUN_USAGE = `usage: vigil run [--name N] [--events FILE] [--summary-json FILE]
                 [--syscalls off|aggregate|firehose] [--firehose-clock tick|exact]
                 [--firehose-ring SIZE] [--capture open,connect,cred,exec_failed,tls|none]
                 [--backend auto|ebpf|proc] [--llm-bodies full|metadata|off]
                 [--ring-size SIZE] [--policy FILE]... [--workspace DIR]
                 [--no-redact] [--redact-pattern RE]...
                 [--report FILE.html]
                 [--quiet] -- CMD [ARGS...]`;

const SPEC = {
  name: { value: true },
  events: { value: true },
  "summary-json": { value: true },
  syscalls: { value: true, choices: ["off", "aggregate", "firehose"] },
  "firehose-clock": { value: true, choices: ["tick", "exact"] },
  "firehose-ring": { value: true },
  capture: { value: true },
  backend: { value: true, choices: ["auto", "ebpf", "proc"] },
  "ring-size": { value: true },
  policy: { value: true, repeat: true },
  workspace: { value: true },
  "no-redact": {},
  "llm-bodies": { value: true, choices: ["full", "metadata", "off"] },
  report: { value: true },
  "redact-pattern": { value: true, repeat: true },
  quiet: {},
  help: {},
} as const;

/** Thrown for conditions that end the run with a one-line message. */
export class RunError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The file CMD names (a path, or a name searched in PATH), or why it cannot run. */
function resolveExecutable(cmd: string): { path: string } | { error: string; exitCode: number } {
  const path = cmd.includes("/") ? cmd : Bun.which(cmd);
  if (!path) return { error: `command not found: ${cmd}`, exitCode: 127 };
  let st;
  try {
    st = statSync(path);
  } catch {
    return { error: `${cmd}: no such file`, exitCode: 127 };
  }
  if (!st.isFile()) return { error: `${cmd}: not an executable file${st.isDirectory() ? " (a directory)" : ""}`, exitCode: 126 };
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return { error: `${cmd}: not an executable file (no execute permission)`, exitCode: 126 };
  }
  return { path };
}

/** Fails before the command starts when an output file cannot be written: the command's exit code must stay its own. */
function checkWritable(option: string, path: string): void {
  const dir = dirname(resolvePath(path));
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    accessSync(dir, constants.W_OK);
    if (existsSync(path)) accessSync(path, constants.W_OK);
  } catch (e) {
    throw new RunError(`vigil run: --${option} ${path}: cannot write there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 2);
  }
}

function signalNumber(name: string | null): number | null {
  if (!name) return null;
  return (osConstants.signals as Record<string, number>)[name] ?? null;
}

/** Everything a run needs, decided and checked before anything starts. */
interface RunPlan {
  command: string[];
  executable: string;
  name: string;
  backend: "ebpf" | "proc";
  syscallMode: SyscallModeName;
  firehoseClock: FirehoseClockName | undefined;
  ringBytes: number | undefined;
  firehoseRingBytes: number | undefined;
  capture: CaptureKind[] | undefined;
  redaction: { enabled: boolean; patterns: string[] };
  llmBodies: LlmBodies;
  policySet: PolicySet | null;
  eventsPath: string | undefined;
  summaryPath: string | undefined;
  reportPath: string | undefined;
  quiet: boolean;
}

/** Parses and checks the options, the command, the backend and the policies; null for --help. Throws UsageError or RunError. */
function planRun(argv: readonly string[]): RunPlan | null {
  const { options, rest } = parseArgs("vigil run", argv, SPEC);
  if (options.help) return null;
  if (rest.length === 0) throw new UsageError(`vigil run: no command given\n${RUN_USAGE}`);
  const resolved = resolveExecutable(rest[0]!);
  if ("error" in resolved) throw new RunError(`vigil run: ${resolved.error}`, resolved.exitCode);
  const executable = resolved.path;
  for (const option of ["events", "summary-json", "report"] as const) if (typeof options[option] === "string") checkWritable(option, options[option] as string);
  const name = (options.name as string | undefined) ?? basename(rest[0]!).replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
  const syscallMode = (options.syscalls as SyscallModeName | undefined) ?? "aggregate";
  const ringBytes = options["ring-size"] ? parseSize("vigil run", "ring-size", options["ring-size"] as string) : undefined;
  const firehoseRingBytes = options["firehose-ring"] ? parseSize("vigil run", "firehose-ring", options["firehose-ring"] as string) : undefined;
  if (firehoseRingBytes !== undefined && !(firehoseRingBytes >= 1 && firehoseRingBytes <= FIREHOSE_RING_MAX))
    throw new UsageError(`vigil run: --firehose-ring is per CPU, from 1 to ${FIREHOSE_RING_MAX >> 20}M (got "${options["firehose-ring"] as string}")`);
  let capture: CaptureKind[] | undefined;
  try {
    capture = options.capture === undefined ? undefined : parseCaptureList("vigil run: --capture", options.capture as string);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const quiet = options.quiet === true;
  const redactPatterns = (options["redact-pattern"] as string[] | undefined) ?? [];
  const badPatterns = Redactor.compile(redactPatterns);
  if (badPatterns.length) throw new UsageError(`vigil run: --redact-pattern: not a regular expression: ${badPatterns[0]}`);

  // Pick the backend and say plainly what is missing.
  let backend = (options.backend as "auto" | "ebpf" | "proc" | undefined) ?? "auto";
  const lacking = missing(checkRequirements(DEFAULT_OBJECT_PATH));
  if (backend !== "proc" && lacking.length) {
    const what = lacking.map((r) => `${r.name}: ${r.detail}`).join("; ");
    if (backend === "ebpf" || lacking.some((r) => r.privilege))
      throw new RunError(`vigil run: eBPF unavailable (${what})${backend === "auto" ? "; run as root, or pass --backend proc for the lower-fidelity /proc poller" : ""}`, 2);
    process.stderr.write(`vigil run: eBPF unavailable (${what}); falling back to the /proc poller (exec and exit only, lower fidelity)\n`);
    backend = "proc";
  }
  if (backend === "auto") backend = "ebpf";
  if (backend === "proc" && syscallMode !== "aggregate" && options.syscalls) process.stderr.write("vigil run: --syscalls needs eBPF; ignored with the /proc poller\n");
  if (backend === "proc" && capture?.length) process.stderr.write("vigil run: --capture needs eBPF; the /proc poller sees execs and exits only\n");

  // Policies are compiled (and refused, with every problem) before anything runs.
  const policyFiles = (options.policy as string[] | undefined) ?? [];
  let policySet: PolicySet | null = null;
  // ${WORKSPACE} in policies: the directory the command may write to, by default where it starts.
  const workspace = resolvePath((options.workspace as string | undefined) ?? process.cwd());
  if (!existsSync(workspace) || !statSync(workspace).isDirectory()) throw new UsageError(`vigil run: --workspace: ${workspace} is not a directory`);
  if (policyFiles.length) {
    if (backend !== "ebpf") throw new RunError("vigil run: --policy needs eBPF (policies are enforced in the kernel)", 2);
    try {
      policySet = compilePolicies(policyFiles.map(readPolicyFile), probeCapabilities(), capture, { launch: { workspace: realpathSync(workspace) } });
    } catch (e) {
      if (e instanceof PolicyError) throw new RunError(`vigil run: policy refused:\n${e.message}`, 2);
      throw e;
    }
    for (const w of policySet.warnings) process.stderr.write(`vigil run: warning: ${formatProblem(w)}\n`);
  }

  return {
    command: rest,
    executable,
    name,
    backend,
    syscallMode,
    firehoseClock: options["firehose-clock"] as FirehoseClockName | undefined,
    ringBytes,
    firehoseRingBytes,
    capture,
    redaction: { enabled: options["no-redact"] !== true, patterns: redactPatterns },
    llmBodies: (options["llm-bodies"] as LlmBodies | undefined) ?? "full",
    policySet,
    eventsPath: options.events as string | undefined,
    summaryPath: options["summary-json"] as string | undefined,
    reportPath: options.report as string | undefined,
    quiet,
  };
}

export async function runCommand(argv: readonly string[]): Promise<number> {
  const plan = planRun(argv);
  if (!plan) {
    console.log(RUN_USAGE);
    return 0;
  }
  const started = Date.now();
  const summary = new RunSummaryBuilder();
  const eventsFile = plan.eventsPath ? new JsonlFileSink(plan.eventsPath) : null;
  const report = plan.reportPath ? new ReportCollector() : null;
  let cgroup: OwnedCgroup | null = null;
  let rt: Runtime | null = null;
  let poller: ProcPoller | null = null;
  let guard: { release(): Promise<void> } | null = null;
  try {
    if (plan.backend === "ebpf") {
      try {
        cgroup = OwnedCgroup.create(`run-${process.pid}-${Date.now().toString(36)}`);
      } catch (e) {
        throw new RunError(`vigil run: ${(e as Error).message}`, 2);
      }
    }
    rt = buildRuntime(plan, cgroup, summary, eventsFile);
    if (report) rt.pipeline.addSink(report);
    if (cgroup) {
      try {
        rt.start(); // the agent's identity, its cgroup's connect guard and the rules go in before any program attaches
      } catch (e) {
        throw new RunError(`vigil run: cannot start the eBPF observer: ${(e as Error).message}`, 2);
      }
    } else rt.tree.seedFromProc();

    // In the eBPF case the launcher moves itself into the cgroup, then execs
    // CMD: CMD's first instruction already runs inside the observed scope.
    // If Vigil dies, the guard ends the command's tree with its cgroup: it never goes on unobserved.
    guard = cgroup?.spawnGuard() ?? null;
    const layers = (plan.policySet?.landlock ?? []).filter((l) => l.agents === null || globMatcher(l.agents)(plan.name));
    const spawnArgv = cgroup ? cgroup.execArgv(plan.executable, plan.command, launcherArgs(layers)) : [plan.executable, ...plan.command.slice(1)];
    const child = Bun.spawn(spawnArgv, { stdin: "inherit", stdout: "inherit", stderr: "inherit", argv0: cgroup ? undefined : plan.command[0] });
    const rootPid = child.pid;
    let childStatus: { exitCode: number | null; signal: number | null } | undefined;
    if (!cgroup) {
      // The proc backend feeds the same pipeline from a poller; the observer never starts.
      rt.agents.register({ name: plan.name, rootPid });
      const pipeline = rt.pipeline;
      poller = new ProcPoller({
        scope: () => subtreePids(rootPid),
        root: { pid: rootPid, filename: realpathSync(plan.executable), argv: plan.command },
        onEvent: (e) => pipeline.handle(e),
        exitStatus: (pid) => (pid === rootPid ? childStatus : undefined),
      });
      poller.start();
    }
    childStatus = await superviseChild(child);
    const leftoversKilled = cgroup ? await endLeftovers(cgroup) : 0;
    if (cgroup) await drainUntilExited(rt, rootPid);
    poller?.stop();

    const exitCode = childStatus.signal !== null ? 128 + childStatus.signal : (childStatus.exitCode ?? 1);
    if (cgroup && exitCode === JOIN_FAILED_EXIT && !rt.tree.get(rootPid)?.execs)
      throw new RunError(`vigil run: could not move the command into cgroup ${cgroup.dir}`, 125);

    const observer = cgroup ? rt.observer : null;
    if (observer && plan.syscallMode === "aggregate") for (const per of observer.syscallCounts().values()) for (const [nr, c] of per) summary.addSyscalls(nr, c);
    const stats = observer?.stats();
    const dns = rt.enforcer.dnsStats(); // read before the sensor closes
    if (observer) rt.stop();
    const dropped = stats ? rt.drops(stats.dropped, "summaryKey") : {};
    const events: Record<string, number> = Object.fromEntries(rt.pipeline.counts);
    if (stats?.received.syscall !== undefined) events.syscall = stats.received.syscall;
    const result: RunSummary = summary.build({
      command: [...plan.command],
      agent: plan.name,
      backend: plan.backend,
      syscallMode: plan.backend === "proc" ? "off" : plan.syscallMode,
      captured: stats ? stats.capture : [],
      exitCode,
      signal: childStatus.signal,
      durationMs: Date.now() - started,
      events,
      dropped,
      droppedTotal: Object.values(dropped).reduce((a, b) => a + b, 0),
      leftoversKilled,
      tls: rt.tls.agentSupport(plan.name),
      ...(dns ? { dns } : {}),
    });
    await eventsFile?.close();
    if (!plan.quiet) process.stderr.write(`${formatSummary(result)}\n`);
    if (plan.summaryPath) writeFileSync(plan.summaryPath, `${JSON.stringify(result, null, 2)}\n`);
    if (report && plan.reportPath) writeFileSync(plan.reportPath, renderReport(report.session(plan.name, rt.tree.allProcesses(), result)));
    return exitCode;
  } finally {
    if (cgroup) rt?.stop(); // idempotent: after a normal end it has stopped already
    poller?.stop();
    if (cgroup) {
      cgroup.killAll();
      await cgroup.remove().catch((e: Error) => process.stderr.write(`vigil run: ${e.message}\n`));
    }
    await guard?.release();
  }
}

/**
 * The run's pipeline: the summary, the events file, and the policy guard (kernel rules only with a cgroup of
 * the run's own), with the agent registered. Nothing is loaded until start.
 */
function buildRuntime(plan: RunPlan, cgroup: OwnedCgroup | null, summary: RunSummaryBuilder, eventsFile: JsonlFileSink | null): Runtime {
  const wantFirehoseEvents = plan.syscallMode === "firehose" && eventsFile !== null;
  const rt: Runtime = new Runtime({
    observer: {
      syscalls: plan.syscallMode,
      firehoseClock: plan.firehoseClock,
      firehoseRingBytes: plan.firehoseRingBytes,
      capture: plan.capture,
      ringBytes: plan.ringBytes,
      cgroupIds: cgroup ? [cgroup.id] : undefined,
      syscallSink: {
        onSyscall: wantFirehoseEvents
          ? (pid, tid, nr, ktimeNs, tsExact) => rt.pipeline.handleSyscall({ type: "syscall", ts: rt.observer.eventDecoder.wallMs(ktimeNs), ktimeNs, tsExact, pid, tid, nr, name: syscallName(nr) })
          : (_pid, _tid, nr) => summary.addSyscalls(nr, 1),
      },
    },
    redaction: plan.redaction,
    llmBodies: plan.llmBodies,
    scopeAgent: cgroup ? plan.name : undefined, // the observer's scope is this agent's cgroup
  });
  const { tree, agents, pipeline } = rt;
  pipeline.addSink(summary);
  if (eventsFile) pipeline.addSink(eventsFile);
  if (plan.policySet) {
    const guard = new PolicyGuard({
      agents,
      tree,
      interventions: new Interventions(agents, (record) => pipeline.record({ kind: "audit", record })),
      enforcer: cgroup ? rt.enforcer : null,
      onFinding: (record) => pipeline.record({ kind: "finding", record }),
    });
    pipeline.addSink(guard);
    guard.apply(plan.policySet);
  }
  if (cgroup) agents.register({ name: plan.name, cgroupId: cgroup.id, cgroupPath: cgroup.relPath, cgroupOwned: true });
  return rt;
}

/** Waits for the command, passing on the signals that would stop Vigil; returns how it ended. */
async function superviseChild(child: Bun.Subprocess): Promise<{ exitCode: number | null; signal: number | null }> {
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((s) => [s, () => child.kill(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  await child.exited;
  for (const [s, h] of handlers) process.off(s, h);
  const signal = typeof child.signalCode === "number" ? child.signalCode : signalNumber(child.signalCode ?? null);
  return { exitCode: signal === null ? child.exitCode : null, signal };
}

/** Leftovers (daemonized descendants) are part of the run: ended, so the cgroup can go. Returns how many. */
async function endLeftovers(cgroup: OwnedCgroup): Promise<number> {
  const killed = cgroup.killAll();
  const deadline = Date.now() + 2000;
  while (cgroup.isPopulated() && Date.now() < deadline) await Bun.sleep(5);
  return killed;
}

/** Drains until the root's exit event has come through the ring (bounded), then flushes the firehose's held records. */
async function drainUntilExited(rt: Runtime, rootPid: number): Promise<void> {
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline) {
    rt.observer.drain();
    if (rt.tree.get(rootPid)?.exitTime != null) break;
    await Bun.sleep(2);
  }
  rt.observer.drain(true); // the tree is gone: the firehose records held back for ordering are all in
}
