/**
 * Prometheus metrics (prom-client): one registry, values pulled from the live components at scrape time.
 * A sink of the pipeline too: events counted by type, findings and interventions as they come.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { VigilRecord } from "../events/records";
import type { VigilEvent } from "../events/types";
import type { EventSink, RecordSink } from "../pipeline/event-pipeline";
import type { CommittedEvent } from "../store/event-store";

export interface MetricsSources {
  dropsByStage: () => Record<string, number>;
  ringFill: () => number;
  storeSizeBytes: () => number;
  storeQueued: () => number;
  /** Store queries refused because every reader was busy (cumulative). */
  storeQueriesRefused: () => number;
  streamSubscribers: () => number;
  processTree: () => { live: number; exited: number };
  policy: () => { rules: number; kernelExecEntries: number; kernelConnectEntries: number; generation: number; evaluatedEvents: number };
  /** Cumulative intent counters (null: TLS not read). */
  intent: () => Record<string, number> | null;
  /** The kernel's DNS learner counters (null: no sensor bound). */
  dns: () => Record<string, number> | null;
}

/** A counter by `what` that follows cumulative counts read at scrape time (a source that restarts from 0 adds nothing until it passes its old count). */
function cumulativeCounter(r: Registry, name: string, help: string, source: () => Record<string, number> | null): void {
  let seen: Record<string, number> = {};
  new Counter({
    name,
    help,
    labelNames: ["what"],
    registers: [r],
    collect() {
      const c = source();
      if (!c) return;
      for (const [what, n] of Object.entries(c)) {
        const delta = n - (seen[what] ?? 0);
        if (delta > 0 || !(what in seen)) this.inc({ what }, Math.max(0, delta));
      }
      seen = { ...c };
    },
  });
}

const MAX_MODEL_LABELS = 50;

export class ServiceMetrics implements EventSink, RecordSink {
  readonly name = "metrics";
  readonly registry = new Registry();
  readonly eventsTotal: Counter<"type">;
  readonly ingestLag: Histogram;
  readonly httpDuration: Histogram<"method" | "route" | "status">;
  readonly authFailures: Counter<"reason">;
  readonly observationGaps: Counter<"reason">;
  readonly observationGapSeconds: Counter<"reason">;
  readonly httpRejected: Counter<"reason">;
  readonly findings: Counter<"rule" | "action" | "severity" | "enforcement">;
  readonly interventions: Counter<"action" | "result">;
  readonly policyReloads: Counter<"result">;
  readonly llmCalls: Counter<"provider" | "model">;
  readonly llmTokens: Counter<"direction">;
  /** Model names seen as label values; beyond MAX_MODEL_LABELS, "other" (a model name comes from the wire). */
  private readonly modelLabels = new Set<string>();
  private readonly dropsSeen = new Map<string, number>();

  constructor(sources: MetricsSources, build: { version: string; kernel: string; libbpf: string }) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: "vigil_" });
    // prom-client names these gauges *_total, which promtool's lint refuses (a _total suffix means a counter);
    // their counts (handles, requests, resources by type) are kept in the *_active_* gauges below.
    for (const name of ["vigil_nodejs_active_handles_total", "vigil_nodejs_active_requests_total", "vigil_nodejs_active_resources_total"]) r.removeSingleMetric(name);
    // The per-space heap gauges call v8.getHeapSpaceStatistics(), which in Bun walks the whole JS heap on the
    // event loop: a stall of ingestion and of every request on each scrape, growing with the heap
    // (docs/benchmarks.md). The heap's size and use stay in vigil_nodejs_heap_size_{total,used}_bytes
    // (process.memoryUsage(), which costs microseconds).
    for (const kind of ["total", "used", "available"]) r.removeSingleMetric(`vigil_nodejs_heap_space_size_${kind}_bytes`);
    this.eventsTotal = new Counter({ name: "vigil_events_total", help: "Events ingested, by type.", labelNames: ["type"], registers: [r] });
    const drops = new Counter({
      name: "vigil_events_dropped_total",
      help: "Events lost, by the stage where they were lost.",
      labelNames: ["stage"],
      registers: [r],
      collect: () => {
        // Sources keep cumulative counts; a counter only moves forward by the difference.
        for (const [stage, n] of Object.entries(sources.dropsByStage())) {
          const delta = n - (this.dropsSeen.get(stage) ?? 0);
          if (delta > 0) drops.inc({ stage }, delta);
          else if (!this.dropsSeen.has(stage)) drops.inc({ stage }, 0);
          this.dropsSeen.set(stage, Math.max(n, this.dropsSeen.get(stage) ?? 0));
        }
      },
    });
    new Gauge({ name: "vigil_ring_fill_ratio", help: "Fill level of the kernel ring buffer (0-1).", registers: [r], collect() { this.set(sources.ringFill()); } });
    new Gauge({ name: "vigil_store_size_bytes", help: "Size of the event store on disk (database + WAL).", registers: [r], collect() { this.set(sources.storeSizeBytes()); } });
    let refusedSeen = 0;
    new Counter({
      name: "vigil_store_queries_refused_total",
      help: "API store queries refused (503 with Retry-After) because every reader Worker already had its queue full.",
      registers: [r],
      collect() {
        const n = sources.storeQueriesRefused();
        if (n > refusedSeen) this.inc(n - refusedSeen);
        refusedSeen = Math.max(n, refusedSeen);
      },
    });
    new Gauge({ name: "vigil_store_queue_events", help: "Events waiting to be written to the store.", registers: [r], collect() { this.set(sources.storeQueued()); } });
    new Gauge({ name: "vigil_stream_subscribers", help: "Open SSE subscriptions.", registers: [r], collect() { this.set(sources.streamSubscribers()); } });
    new Gauge({
      name: "vigil_process_tree_entries",
      help: "Entries in the process tree, by state.",
      labelNames: ["state"],
      registers: [r],
      collect() {
        const t = sources.processTree();
        this.set({ state: "live" }, t.live);
        this.set({ state: "exited" }, t.exited);
      },
    });
    this.ingestLag = new Histogram({
      name: "vigil_ingest_lag_seconds",
      help: "Time from the kernel event to its commit in the store.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    this.httpDuration = new Histogram({
      name: "vigil_http_request_duration_seconds",
      help: "HTTP request duration, by method, route and status.",
      labelNames: ["method", "route", "status"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [r],
    });
    this.authFailures = new Counter({ name: "vigil_http_auth_failures_total", help: "Requests to /v1 refused for a missing or wrong token (401), or a read-only token on an admin route (403).", labelNames: ["reason"], registers: [r] });
    this.observationGaps = new Counter({ name: "vigil_observation_gaps_total", help: "Restarts after which a time went unobserved (a gap event each), by how the previous daemon ended (stopped, crashed).", labelNames: ["reason"], registers: [r] });
    this.observationGapSeconds = new Counter({ name: "vigil_observation_gap_seconds_total", help: "Seconds nothing was observed between a daemon's end and the next one's start.", labelNames: ["reason"], registers: [r] });
    this.httpRejected = new Counter({ name: "vigil_http_rejected_total", help: "Requests refused before any route ran, by reason (body_too_large, headers_too_large).", labelNames: ["reason"], registers: [r] });
    this.findings = new Counter({ name: "vigil_findings_total", help: "Policy rule hits and baseline deviations, by rule, action, severity and where the action was enforced.", labelNames: ["rule", "action", "severity", "enforcement"], registers: [r] });
    this.interventions = new Counter({ name: "vigil_interventions_total", help: "Interventions carried out (freeze, thaw, kill, kill-tree), by result.", labelNames: ["action", "result"], registers: [r] });
    this.llmCalls = new Counter({ name: "vigil_llm_calls_total", help: "LLM calls read from agents' TLS traffic, by provider and model.", labelNames: ["provider", "model"], registers: [r] });
    this.llmTokens = new Counter({ name: "vigil_llm_tokens_total", help: "Tokens the LLM calls reported, by direction (input, output).", labelNames: ["direction"], registers: [r] });
    cumulativeCounter(r, "vigil_tls_total", "Agent intent from TLS plaintext, by what: chunks and bytes read, gaps (chunks lost), truncated calls, connections not HTTP/1.1 or HTTP/2 (not parsed), connections let go, exchanges truncated or lost.", sources.intent);
    cumulativeCounter(r, "vigil_dns_total", "DNS answers agents received, as the kernel learned them, by what: answers parsed, addresses learned, ambiguous (an address two names gave), unparsed, unsolicited (no query matched: ignored), queriesFull (a query not remembered).", sources.dns);
    this.policyReloads = new Counter({ name: "vigil_policy_reloads_total", help: "Policy directory loads, by result (applied, rejected).", labelNames: ["result"], registers: [r] });
    new Gauge({
      name: "vigil_policy_rules",
      help: "Rules in force: all of them, and the entries the kernel enforces.",
      labelNames: ["where"],
      registers: [r],
      collect() {
        const p = sources.policy();
        this.set({ where: "all" }, p.rules);
        this.set({ where: "kernel_exec" }, p.kernelExecEntries);
        this.set({ where: "kernel_connect" }, p.kernelConnectEntries);
      },
    });
    new Gauge({ name: "vigil_policy_generation", help: "Kernel rule generation in force (flips on each switch).", registers: [r], collect() { this.set(sources.policy().generation); } });
    let evaluatedSeen = 0;
    new Counter({
      name: "vigil_policy_evaluated_events_total",
      help: "Events evaluated against the rules in userspace.",
      registers: [r],
      collect() {
        const n = sources.policy().evaluatedEvents;
        if (n > evaluatedSeen) this.inc(n - evaluatedSeen);
        evaluatedSeen = Math.max(n, evaluatedSeen);
      },
    });
    new Gauge({ name: "vigil_build_info", help: "Build information.", labelNames: ["version", "kernel", "libbpf"], registers: [r] }).set(build, 1);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  write(event: VigilEvent): void {
    this.eventsTotal.inc({ type: event.type });
    if (event.type !== "llm_call") return;
    let model = event.model ?? "unknown";
    if (!this.modelLabels.has(model)) {
      if (this.modelLabels.size >= MAX_MODEL_LABELS) model = "other";
      else this.modelLabels.add(model);
    }
    this.llmCalls.inc({ provider: event.provider, model });
    if (event.usage) {
      this.llmTokens.inc({ direction: "input" }, event.usage.inputTokens);
      this.llmTokens.inc({ direction: "output" }, event.usage.outputTokens);
    }
  }

  writeRecord(r: VigilRecord): void {
    if (r.kind === "finding") {
      const f = r.record;
      this.findings.inc({ rule: f.rule, action: f.action, severity: f.severity, enforcement: f.enforcement });
    } else this.interventions.inc({ action: r.record.action, result: r.record.ok ? "ok" : "failed" });
  }

  /** Each committed batch: how long after the kernel saw them its events were stored. */
  committed(events: CommittedEvent[]): void {
    const now = Date.now();
    for (const { event } of events) this.ingestLag.observe(Math.max(0, (now - event.ts) / 1000));
  }
}
