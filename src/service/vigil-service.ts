/**
 * The daemon's components and their lifecycle: observer → pipeline (process
 * tree, agents) → store → streams and metrics. Readiness reflects them all;
 * stop() flips readiness, flushes the store, detaches every BPF link.
 */
import { existsSync, readFileSync } from "node:fs";
import { AgentRegistry } from "../agents/agent-registry";
import { cgroupIdOfPath } from "../cgroup/cgroup";
import type { VigilEvent } from "../events/types";
import { LIBBPF_VERSION } from "../kernel/libbpf";
import { Observer } from "../observer/observer";
import { kernelRelease } from "../observer/requirements";
import { EventPipeline } from "../pipeline/event-pipeline";
import { ProcessTree } from "../proc/process-tree";
import { EventStore, type CommittedEvent } from "../store/event-store";
import type { Config } from "./config";
import { EventStreamHub } from "./event-stream-hub";
import { log } from "./log";
import { ServiceMetrics } from "./metrics";

export const VERSION: string = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;

export interface IngestRates {
  windowSeconds: number;
  eventsPerSecond: number;
  storedPerSecond: number;
}

export class VigilService {
  readonly tree = new ProcessTree();
  readonly agents = new AgentRegistry(this.tree);
  readonly pipeline = new EventPipeline(this.tree, this.agents);
  readonly store: EventStore;
  readonly hub: EventStreamHub;
  readonly metrics: ServiceMetrics;
  readonly observer: Observer;
  readonly startedAt = Date.now();
  private stopping = false;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private rateSamples: { t: number; events: number; stored: number }[] = [];
  private storeWasWritable = true;

  constructor(readonly config: Config) {
    this.hub = new EventStreamHub(config.streams.subscriberBuffer, config.streams.maxSubscribers, config.streams.heartbeatMs);
    this.store = new EventStore({
      dir: config.dataDir,
      queueLimit: config.store.queueLimit,
      flushIntervalMs: config.store.flushIntervalMs,
      maxAgeMs: config.retention.maxAgeHours * 3_600_000,
      maxBytes: config.retention.maxBytes,
      onCommitted: (events) => this.committed(events),
    });
    this.metrics = new ServiceMetrics(
      {
        dropsByStage: () => this.dropsByStage(),
        ringFill: () => this.observer.fill().ring,
        storeSizeBytes: () => this.store.sizeBytes(),
        storeQueued: () => this.store.stats().queued,
        streamSubscribers: () => this.hub.size,
        processTree: () => this.tree.stats(),
      },
      { version: VERSION, kernel: kernelRelease(), libbpf: LIBBPF_VERSION },
    );
    this.pipeline.addSink({ name: "store", write: (e) => this.ingest(e) });
    const cgroupIds = config.cgroups.length ? config.cgroups.map((p) => this.resolveCgroup(p)) : undefined;
    this.observer = new Observer({
      syscalls: config.syscalls,
      ringBytes: config.ringBytes,
      // A whole machine creates (pid, syscall) keys far faster than one `vigil run` tree:
      // ~25 k/s under an exec storm here. Room for a few seconds of them, harvested often.
      aggregateEntries: 131_072,
      harvestIntervalMs: 100,
      cgroupIds,
      onEvent: (e) => this.pipeline.handle(e),
      onError: (e) => log("warn", "event handler failed", { error: e.message }),
    });
  }

  private resolveCgroup(path: string): number {
    const id = cgroupIdOfPath(path);
    if (id === null) throw new Error(`cgroups: ${path} does not exist under the cgroup2 mount`);
    return id;
  }

  private ingest(e: VigilEvent): void {
    this.metrics.eventsTotal.inc({ type: e.type });
    this.store.add(e);
  }

  private committed(events: CommittedEvent[]): void {
    const now = Date.now();
    for (const { event } of events) this.metrics.ingestLag.observe(Math.max(0, (now - event.ts) / 1000));
    this.hub.publish(events);
  }

  start(): void {
    const seeded = this.tree.seedFromProc();
    this.observer.start();
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
    this.watchStore();
    log("info", "observing", { seededProcesses: seeded, syscalls: this.config.syscalls, programs: this.observer.stats().attachedPrograms, scope: this.config.cgroups.length ? this.config.cgroups : "machine" });
  }

  /** Every place an event can be lost, with its cumulative count. */
  dropsByStage(o = this.observer.stats().dropped): Record<string, number> {
    const s = this.store.stats();
    let sinkErrors = 0;
    for (const n of this.pipeline.sinkErrors.values()) sinkErrors += n;
    return {
      kernel_ring_full: o.kernelRingFullTotal,
      kernel_firehose_full: o.firehoseFull,
      kernel_aggregate_full: o.aggregateFull,
      kernel_agent_full: o.agentFull,
      kernel_recursion_miss: o.recursionMisses,
      decode_error: o.decodeErrors,
      handler_error: o.handlerErrors + sinkErrors,
      store_queue_full: s.droppedQueueFull,
      store_write_error: s.droppedWriteError,
      stream_subscriber: this.hub.dropped,
    };
  }

  /** Logs when the store stops or starts accepting writes (readiness says the same). */
  private watchStore(): void {
    const w = this.store.checkWritable();
    if (w.ok !== this.storeWasWritable) {
      if (w.ok) log("info", "store writable again", { stats: this.store.stats() });
      else log("error", "store not writable: events are being lost (counted)", { reason: w.reason });
      this.storeWasWritable = w.ok;
    }
  }

  private sampleRates(): void {
    const events = [...this.pipeline.counts.values()].reduce((a, b) => a + b, 0);
    this.rateSamples.push({ t: Date.now(), events, stored: this.store.stats().written });
    if (this.rateSamples.length > 11) this.rateSamples.shift();
  }

  rates(): IngestRates {
    const a = this.rateSamples[0];
    const b = this.rateSamples.at(-1);
    if (!a || !b || b.t === a.t) return { windowSeconds: 0, eventsPerSecond: 0, storedPerSecond: 0 };
    const dt = (b.t - a.t) / 1000;
    return { windowSeconds: dt, eventsPerSecond: (b.events - a.events) / dt, storedPerSecond: (b.stored - a.stored) / dt };
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.stopping) reasons.push("shutting down");
    if (!this.observer.running) reasons.push("BPF programs not attached or consumer not running");
    const w = this.store.checkWritable();
    if (!w.ok) reasons.push(w.reason!);
    return { ready: reasons.length === 0, reasons };
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Readiness off, streams closed, store flushed, BPF detached. Returns problems met on the way. */
  stop(): string[] {
    if (this.stopping) return [];
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    const problems: string[] = [];
    this.hub.closeAll();
    for (const e of this.observer.stop()) problems.push(e.message); // final drain happens inside
    try {
      this.store.close();
    } catch (e) {
      problems.push(`store: ${(e as Error).message}`);
    }
    return problems;
  }
}
