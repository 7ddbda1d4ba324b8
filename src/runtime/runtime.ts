/**
 * The composition root: the one place that builds the observation pipeline
 * from options. Process tree, agents (their identity kept in the kernel),
 * tool-call spans, the event pipeline (redaction first), the observer feeding
 * it. The CLI, the service and the benches build theirs here and plug their
 * sinks in; none wires the parts together itself.
 *
 *   const rt = new Runtime({ observer: { cgroupIds: [id] } });
 *   rt.pipeline.addSink(summary);
 *   rt.start();                                  // seeds the tree, loads and attaches
 *   rt.agents.register({ name, cgroupId: id });  // into the kernel too (now, or at start)
 *   ...
 *   rt.stop();
 */
import { AgentRegistry } from "../agents/agent-registry";
import { SpanTracker } from "../agents/spans";
import { syncAgentsToKernel } from "../enforce/agent-sync";
import { KernelEnforcer } from "../enforce/kernel-enforcer";
import { DEFAULT_REDACTION, Redactor, type RedactionOptions } from "../events/redact";
import type { ProcessEvent } from "../events/types";
import { OBSERVER_DROP_STAGES, Observer, type DropCounts, type ObserverOptions } from "../observer/observer";
import { EventPipeline } from "../pipeline/event-pipeline";
import { ProcessTree } from "../proc/process-tree";
import { absoluteOpenPath } from "../proc/open-path";
import { IntentTracker, type LlmBodies } from "../intent/intent-tracker";
import { TlsProbes } from "../sensor/tls-probes";
import { CAPTURE_KINDS } from "../sensor/capture";
import { TlsFileSink } from "../sinks/tls-file-sink";

export interface RuntimeOptions {
  /** The observer's options; its events go to the pipeline (`onEvent`, when given, sees each one after it). */
  observer: Omit<ObserverOptions, "onEvent"> & { onEvent?: (event: ProcessEvent) => void };
  /** Cut secrets from command lines before any sink (default: on). */
  redaction?: RedactionOptions;
  /** Tool-call spans opened through an API (the service). */
  spans?: boolean;
  /** The agent every in-scope event belongs to, when the observer's scope is one agent's cgroup (vigil run). */
  scopeAgent?: string;
  /** What of a model exchange is kept (default full: bounded and redacted); `off` reads no TLS at all. */
  llmBodies?: LlmBodies;
}

/** How often learned DNS names past their TTL are removed from the kernel's map. */
const LEARNED_NAMES_SWEEP_MS = 60_000;

export class Runtime {
  private sweep: ReturnType<typeof setInterval> | undefined;
  readonly tree = new ProcessTree();
  readonly agents = new AgentRegistry(this.tree);
  readonly spans: SpanTracker | undefined;
  readonly pipeline: EventPipeline;
  readonly observer: Observer;
  /** Agent identities and policy rules in the kernel: bound to the sensor's maps while it runs. */
  readonly enforcer = new KernelEnforcer();
  /** Where TLS plaintext is read (uprobes per file): bound to the sensor's TLS programs while it runs. */
  readonly tls = new TlsProbes();
  /** LLM calls and tool calls from TLS plaintext; null when TLS is not captured. */
  readonly intent: IntentTracker | null;

  constructor(options: RuntimeOptions) {
    this.spans = options.spans ? new SpanTracker(this.tree) : undefined;
    const redactor = new Redactor(options.redaction ?? DEFAULT_REDACTION);
    const capture = options.observer.capture ?? CAPTURE_KINDS;
    const readTls = capture.includes("tls") && options.llmBodies !== "off";
    this.intent = readTls ? new IntentTracker({ llmBodies: options.llmBodies, redact: (t) => redactor.redactString(t).text }) : null;
    this.pipeline = new EventPipeline(this.tree, this.agents, this.spans, redactor, this.intent ?? undefined);
    if (options.scopeAgent) this.pipeline.scopeAgent = options.scopeAgent;
    const after = options.observer.onEvent;
    const handle = (e: ProcessEvent) => {
      if (e.type === "connect" || (e.type === "enforce" && e.op === "connect")) this.enforcer.nameDestination(e);
      else if (e.type === "open" && !e.path.startsWith("/")) {
        const abs = absoluteOpenPath(e.pid, e.dfd, e.path, this.tree);
        if (abs) e.absolutePath = abs;
      }
      this.pipeline.handle(e);
    };
    this.observer = new Observer({
      ...options.observer,
      capture: readTls ? capture : capture.filter((k) => k !== "tls"),
      enforcer: this.enforcer,
      tls: this.tls,
      onTls: (chunk) => this.pipeline.handleTls(chunk),
      onEvent: after
        ? (e) => {
            handle(e);
            after(e);
          }
        : handle,
    });
    // Every agent has its identity in the kernel, and every owned cgroup its guard, whenever a sensor is bound.
    syncAgentsToKernel(this.agents, this.tree, this.enforcer);
    if (readTls) this.pipeline.addSink(new TlsFileSink(this.tls));
  }

  /** Seeds the process tree from /proc, then loads and attaches. Returns how many processes were seeded. */
  start(): number {
    const seeded = this.tree.seedFromProc();
    this.observer.start();
    this.sweep = setInterval(() => this.enforcer.sweepLearnedNames(), LEARNED_NAMES_SWEEP_MS);
    this.sweep.unref();
    return seeded;
  }

  /**
   * Every place the observer or a sink lost an event, keyed by the metrics' stage names or by the keys of
   * `vigil run --summary-json` (the service adds its store and streams). A sink that threw counts as a
   * handler error.
   */
  drops(dropped: DropCounts = this.observer.stats().dropped, keyBy: "stage" | "summaryKey" = "stage"): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(OBSERVER_DROP_STAGES.map((d) => [d[keyBy], d.count(dropped)]));
    const handlerErrors = OBSERVER_DROP_STAGES.find((d) => d.stage === "handler_error")![keyBy];
    for (const n of this.pipeline.sinkErrors.values()) out[handlerErrors]! += n;
    // Model exchanges whose bytes were lost (the chunks themselves are counted in the kernel's ring drops).
    if (this.intent) out[keyBy === "stage" ? "tls_exchange_lost" : "tlsExchangesLost"] = this.intent.counters.exchangesLost;
    return out;
  }

  /** Detaches and stops; returns the problems met. */
  stop(): Error[] {
    clearInterval(this.sweep);
    return this.observer.stop();
  }
}
