/**
 * The daemon's components and their lifecycle: observer → pipeline (process
 * tree, agents) → store → streams and metrics. Readiness reflects them all;
 * stop() flips readiness, flushes the store, detaches every BPF link.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BPFFS, PinDir } from "../kernel/bpffs";
import type { ContainedRecord } from "../enforce/containment";
import { AgentError, type AgentRegistry, type Agent } from "../agents/agent-registry";
import { emptyPolicySet } from "../policy/compile";
import type { SpanTracker } from "../agents/spans";
import { OwnedCgroup, resolveCgroup } from "../cgroup/cgroup";
import { Containment } from "../enforce/containment";
import { probeCapabilities } from "../sensor/capabilities";
import { Interventions } from "../enforce/interventions";
import { PolicyGuard } from "../policy/policy-guard";
import { PolicyDirectory } from "../policy/policy-directory";
import { formatProblem } from "../policy/loader";
import { ProfileBook } from "../profiles/profile-book";
import { syscallName } from "../events/syscall-names";
import type { GapEvent } from "../events/types";
import { lockDataDir, type DataDirLock } from "./data-dir";
import { LIBBPF_VERSION } from "../kernel/libbpf";
import type { Observer } from "../observer/observer";
import { Runtime } from "../runtime/runtime";
import { kernelRelease } from "../kernel/release";
import type { EventPipeline } from "../pipeline/event-pipeline";
import type { ProcessTree } from "../proc/process-tree";
import { EventStore } from "../store/event-store";
import { StoreSink } from "../sinks/store-sink";
import { StreamSink } from "../sinks/stream-sink";
import { EventStreamHub } from "../sinks/event-stream-hub";
import type { Config } from "./config";
import { actionLog, log } from "./log";
import { ServiceMetrics } from "./metrics";
import { IngestWindow, lossCounts } from "./readiness";

export const VERSION: string = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;

export class VigilService {
  /** The observation pipeline, built by the composition root (src/runtime). */
  readonly runtime: Runtime;
  readonly tree: ProcessTree;
  readonly agents: AgentRegistry;
  readonly spans: SpanTracker;
  readonly pipeline: EventPipeline;
  readonly interventions: Interventions;
  readonly guard: PolicyGuard;
  readonly profiles: ProfileBook;
  readonly policies: PolicyDirectory | null;
  /** Cgroups Vigil made for adopted agents, and where their processes came from. */
  private readonly containment = new Containment();
  /** Fail-closed: where this daemon's enforcement is pinned (one directory per data directory); null when off. */
  readonly pins: PinDir | null;
  readonly store: EventStore;
  readonly hub: EventStreamHub;
  readonly metrics: ServiceMetrics;
  readonly observer: Observer;
  readonly startedAt = Date.now();
  private stopping = false;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  /** Rates and losses over the last seconds (readiness.ts). */
  readonly ingestWindow: IngestWindow;
  private storeWasWritable = true;

  /** The data directory, held by this daemon alone until stop(). */
  private readonly dataDir: DataDirLock;
  /** Outages recorded at start (a gap event each): how many, and the seconds nothing was observed. */
  readonly gaps = { count: 0, seconds: 0, last: null as GapEvent | null };

  constructor(readonly config: Config) {
    this.ingestWindow = new IngestWindow(config.readiness);
    this.dataDir = lockDataDir(config.dataDir);
    try {
      this.store = this.openStore(config);
    } catch (e) {
      this.dataDir.release();
      throw e;
    }
    this.pins = config.failClosed ? new PinDir(pinDirFor(config.dataDir)) : null;
    this.runtime = new Runtime({
      observer: {
        syscalls: config.syscalls,
        ringBytes: config.ringBytes,
        firehoseRingBytes: config.firehoseRingBytes,
        capture: config.capture,
        tlsCallBytes: config.tlsCallBytes,
        drainIntervalMs: config.drainIntervalMs,
        cgroupIds: config.cgroups.length ? config.cgroups.map((p) => this.resolveCgroup(p)) : undefined,
        pins: this.pins ?? undefined,
        onError: (e) => log("warn", "event handler failed", { error: e.message }),
      },
      redaction: config.redaction,
      llmBodies: config.llmBodies,
      spans: true,
    });
    ({ tree: this.tree, agents: this.agents, pipeline: this.pipeline, observer: this.observer } = this.runtime);
    this.spans = this.runtime.spans!;
    this.hub = new EventStreamHub(config.streams.subscriberBuffer, config.streams.maxSubscribers, config.streams.heartbeatMs);
    this.metrics = new ServiceMetrics(
      {
        dropsByStage: () => this.dropsByStage(),
        ringFill: () => this.observer.fill().ring,
        storeSizeBytes: () => this.store.sizeBytes(),
        intent: () => (this.runtime.intent ? { ...this.runtime.intent.counters } : null),
        dns: () => this.runtime.enforcer.dnsStats(),
        storeQueued: () => this.store.stats().queued,
        storeQueriesRefused: () => this.store.stats().queriesRefused,
        streamSubscribers: () => this.hub.size,
        processTree: () => this.tree.stats(),
        policy: () => {
          const set = this.guard.active;
          return {
            rules: set.rules.length,
            kernelExecEntries: set.kernel.exec.reduce((n, r) => n + r.targets.length, 0),
            kernelConnectEntries: set.kernel.connect.length,
            generation: this.runtime.enforcer.generation ?? 0,
            evaluatedEvents: this.guard.evaluated.events,
          };
        },
      },
      { version: VERSION, kernel: kernelRelease(), libbpf: LIBBPF_VERSION },
    );
    this.interventions = new Interventions(this.agents, (record) => this.pipeline.record({ kind: "audit", record }));
    this.guard = new PolicyGuard({
      agents: this.agents,
      tree: this.tree,
      interventions: this.interventions,
      enforcer: this.runtime.enforcer,
      onFinding: (record) => this.pipeline.record({ kind: "finding", record }),
    });
    this.profiles = new ProfileBook({ sensitivePaths: config.profiles.sensitivePaths, onFinding: (record) => this.pipeline.record({ kind: "finding", record }) });
    if (config.profiles.learnSeconds > 0) this.agents.onChange((c) => c.kind === "added" && this.profiles.baseline(c.agent.name, config.profiles.learnSeconds));
    this.agents.onChange((c) => {
      if (c.kind === "removed") this.spans.forgetAgent(c.agent.name);
    });
    this.policies = config.policies.dir
      ? new PolicyDirectory(
          config.policies.dir,
          probeCapabilities,
          config.capture,
          (set) => this.guard.apply(set),
          (r) => {
            this.metrics.policyReloads.inc({ result: r.ok ? "applied" : "rejected" });
            if (r.ok) log("info", "policies in force", { dir: config.policies.dir, policies: this.guard.active.policies, warnings: r.warnings.map(formatProblem) });
            else log("error", "policy change rejected; the previous policies stay in force", { problems: r.problems.map(formatProblem) });
          },
          config.policies.reloadDebounceMs,
        )
      : null;
    // Every event and record goes the same way: the guard and the profile book (which make findings),
    // then metrics, the store, live streams (events once stored) and the operator's log.
    this.store.onCommitted((events) => this.metrics.committed(events));
    for (const sink of [this.guard, this.profiles, this.metrics, new StoreSink(this.store), new StreamSink(this.hub, this.store), actionLog]) this.pipeline.addSink(sink);
  }

  private openStore(config: Config): EventStore {
    return new EventStore({
      dir: config.dataDir,
      queueLimit: config.store.queueLimit,
      flushIntervalMs: config.store.flushIntervalMs,
      maxAgeMs: config.retention.maxAgeHours * 3_600_000,
      maxBytes: config.retention.maxBytes,
      onRecordError: (kind, id, error) => log("error", `${kind} not stored (counted in store_record_write_error)`, { id, error }),
    });
  }

  private resolveCgroup(path: string): number {
    try {
      return resolveCgroup(path).id;
    } catch (e) {
      throw new Error(`cgroups: ${(e as Error).message}`);
    }
  }

  /**
   * Adopt an agent: a running process and its subtree (`pid`), or an existing
   * cgroup (`cgroupPath`). With `contain`, the subtree is moved into a cgroup
   * of Vigil's own, so that freeze, kill-tree and connect refusal apply.
   */
  adoptAgent(req: { name: string; pid?: number; cgroupPath?: string; contain?: boolean }): Agent {
    if ((req.pid === undefined) === (req.cgroupPath === undefined)) throw new AgentError("give exactly one of pid and cgroupPath");
    if (this.agents.get(req.name)) throw new AgentError(`agent ${req.name} already exists`);
    if (req.cgroupPath !== undefined) {
      let cg: ReturnType<typeof resolveCgroup>;
      try {
        cg = resolveCgroup(req.cgroupPath);
      } catch (e) {
        throw new AgentError(`cgroupPath: ${(e as Error).message}`);
      }
      if (this.config.cgroups.length) this.observer.addCgroup(cg.id);
      return this.agents.register({ name: req.name, cgroupId: cg.id, cgroupPath: cg.relPath, cgroupOwned: false });
    }
    const pid = req.pid!;
    if (!existsSync(`/proc/${pid}`)) throw new AgentError(`no process ${pid}`);
    if (pid === process.pid || pid === 1) throw new AgentError(`pid ${pid} cannot be an agent`);
    if (!this.tree.get(pid)) this.tree.seedFromProc();
    if (!req.contain) return this.agents.register({ name: req.name, rootPid: pid });
    const agent = this.containAgent(req.name, pid);
    this.writeContained();
    return agent;
  }

  private containAgent(name: string, pid: number): Agent {
    let cgroup: OwnedCgroup;
    try {
      cgroup = this.containment.contain(name, pid, this.tree.descendants(pid).filter((p) => p.exitTime === null).map((p) => p.pid));
    } catch (e) {
      throw new AgentError(`cannot contain pid ${pid}: ${(e as Error).message}`);
    }
    if (this.config.cgroups.length) this.observer.addCgroup(cgroup.id);
    return this.agents.register({ name, rootPid: pid, cgroupId: cgroup.id, cgroupPath: cgroup.relPath, cgroupOwned: true });
  }

  /** The contained agents, written down: a daemon that dies leaves their cgroups, and the next takes them back. */
  private writeContained(): void {
    const records = this.containment.records((a) => this.agents.get(a)?.kernelId);
    writeFileSync(join(this.config.dataDir, CONTAINED_FILE), `${JSON.stringify(records)}\n`, { mode: 0o600 });
  }

  /**
   * After a daemon died: its contained agents (still in their cgroups, still guarded by its pinned links) are
   * agents again, with the kernel identity they had; their guards are switched to this daemon's programs in
   * place. Pins no agent claims are let go.
   */
  private readoptContained(): void {
    let records: ContainedRecord[] = [];
    try {
      records = JSON.parse(readFileSync(join(this.config.dataDir, CONTAINED_FILE), "utf8")) as ContainedRecord[];
    } catch {
      /* none written, or unreadable: nothing to take back */
    }
    for (const r of Array.isArray(records) ? records : []) {
      if (typeof r?.agent !== "string" || typeof r.cgroup !== "string" || this.agents.get(r.agent)) continue;
      const cgroup = this.containment.adopt(r);
      if (!cgroup) continue;
      if (this.config.cgroups.length) this.observer.addCgroup(cgroup.id);
      this.agents.register({ name: r.agent, cgroupId: cgroup.id, cgroupPath: cgroup.relPath, cgroupOwned: true }, r.kernelId);
      log("info", "contained agent taken back", { agent: r.agent, cgroup: r.cgroup });
    }
    const stale = this.runtime.enforcer.releaseUnclaimedGuards();
    if (stale.length) log("info", "pinned guards of agents gone let go", { pins: stale });
    this.writeContained();
  }

  /** Forget an agent; processes Vigil contained go back to the cgroup they came from. */
  async removeAgent(name: string): Promise<boolean> {
    if (!this.agents.remove(name)) return false;
    this.profiles.forget(name);
    this.runtime.tls.forgetAgent(name);
    this.runtime.intent?.toolCalls.forgetSession(name);
    await this.containment.release(name).catch((e: Error) => log("warn", "agent cgroup not removed", { agent: name, error: e.message }));
    this.writeContained();
    return true;
  }

  /** Kernel syscall counts (aggregate mode) of an agent's processes, into its profile. */
  profileOf(name: string) {
    const counts = this.observer.running ? this.observer.syscallCounts() : new Map<number, Map<number, number>>();
    const fresh = new Map<string, number>();
    for (const [pid, per] of counts) {
      if (this.tree.get(pid)?.agent !== name) continue;
      for (const [nr, n] of per) fresh.set(syscallName(nr), (fresh.get(syscallName(nr)) ?? 0) + n);
    }
    const p = this.profiles.get(name);
    if (!p && fresh.size === 0) return undefined;
    return { ...(p ?? this.profiles.getOrCreate(name)), syscalls: Object.fromEntries([...fresh].sort((a, b) => b[1] - a[1])) };
  }

  start(): void {
    const seeded = this.runtime.start();
    this.readoptContained();
    if (this.policies) {
      const r = this.policies.load();
      if (!r.ok) throw new Error(`policies in ${this.policies.dir} refused:\n${r.problems.map(formatProblem).join("\n")}`);
      if (this.config.policies.watch) this.policies.watch();
    } else if (this.pins) this.guard.apply(emptyPolicySet()); // rules an earlier daemon pinned end here: this one has none
    this.timers.push(
      setInterval(() => {
        this.tree.sweep();
        this.tree.reconcile((pid) => existsSync(`/proc/${pid}`));
      }, 5_000),
      setInterval(() => {
        this.sampleRates();
        this.watchStore();
      }, 1_000),
    );
    this.recordGap();
    this.watchStore();
    this.sampleRates(); // the baseline, so a loss in the first second is judged too
    log("info", "observing", { seededProcesses: seeded, syscalls: this.config.syscalls, programs: this.observer.stats().attachedPrograms, exitHook: this.observer.stats().exitHook, scope: this.config.cgroups.length ? this.config.cgroups : "machine" });
  }

  /**
   * What the previous daemon did not see: from its clean stop (or, after a crash, its last stored event)
   * until this one observes. Stored as a `gap` event and counted, so a reader of the store knows.
   */
  private recordGap(): void {
    let from: number | null;
    try {
      from = this.dataDir.cleanStopAt ?? this.store.lastEventTs();
    } catch {
      return; // the store is broken: readiness says so
    }
    if (from === null) return;
    const to = Date.now();
    const gap: GapEvent = { type: "gap", ts: to, pid: 0, from, to, durationMs: Math.max(0, to - from), reason: this.dataDir.cleanStopAt !== null ? "stopped" : "crashed" };
    this.gaps.count++;
    this.gaps.seconds += gap.durationMs / 1000;
    this.gaps.last = gap;
    this.metrics.observationGaps.inc({ reason: gap.reason });
    this.metrics.observationGapSeconds.inc({ reason: gap.reason }, gap.durationMs / 1000);
    this.store.add(gap);
    log(gap.reason === "crashed" ? "warn" : "info", "not observed while the daemon was down", { from: new Date(from).toISOString(), seconds: gap.durationMs / 1000, reason: gap.reason });
  }

  /** Every place an event can be lost, with its cumulative count. */
  dropsByStage(o = this.observer.stats().dropped): Record<string, number> {
    const s = this.store.stats();
    return {
      ...this.runtime.drops(o),
      store_queue_full: s.droppedQueueFull,
      store_write_error: s.droppedWriteError,
      store_record_write_error: this.store.recordWriteErrors,
      stream_subscriber: this.hub.dropped,
    };
  }

  /** Probes the store's writer, and logs when the store stops or starts accepting writes (readiness says the same). */
  private watchStore(): void {
    void this.store.probe();
    const w = this.store.checkWritable();
    if (w.ok !== this.storeWasWritable) {
      if (w.ok) log("info", "store writable again", { stats: this.store.stats() });
      else log("error", "store not writable: events are being lost (counted)", { reason: w.reason });
      this.storeWasWritable = w.ok;
    }
  }

  private sampleRates(): void {
    const o = this.observer.stats();
    const { caused, lost } = lossCounts(this.dropsByStage(o.dropped), o.received);
    let events = 0;
    for (const n of this.pipeline.counts.values()) events += n;
    this.ingestWindow.sample({ t: Date.now(), events, stored: this.store.stats().written, caused, lost });
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.stopping) reasons.push("shutting down");
    if (!this.observer.running) reasons.push("BPF programs not attached or consumer not running");
    const w = this.store.checkWritable();
    if (!w.ok) reasons.push(w.reason!);
    const loss = this.ingestWindow.lossReason();
    if (loss) reasons.push(loss);
    return { ready: reasons.length === 0, reasons };
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Readiness off, streams closed, store flushed, BPF detached. Returns problems met on the way. */
  async stop(): Promise<string[]> {
    if (this.stopping) return [];
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    const problems: string[] = [];
    this.hub.closeAll();
    this.policies?.close();
    problems.push(...this.containment.releaseAll()); // released, not killed: Vigil stopping must not end them
    try {
      this.writeContained();
    } catch (e) {
      problems.push(`contained agents not written down: ${(e as Error).message}`);
    }
    for (const e of this.runtime.stop()) problems.push(e.message); // final drain happens inside
    try {
      const problem = await this.store.close();
      if (problem) problems.push(`store: ${problem}`);
    } catch (e) {
      problems.push(`store: ${(e as Error).message}`);
    }
    this.dataDir.release(Date.now());
    return problems;
  }
}

/** Where the contained agents are written down, in the data directory. */
const CONTAINED_FILE = "contained.json";

/** The pin directory of the daemon of `dataDir`: one per data directory, as one daemon holds it. */
export function pinDirFor(dataDir: string): string {
  return `${BPFFS}/vigil/${createHash("sha256").update(dataDir).digest("hex").slice(0, 16)}`;
}
