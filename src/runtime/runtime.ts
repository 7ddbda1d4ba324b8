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
 *   rt.agents.register({ name, cgroupId: id });  // after start: into the kernel too
 *   ...
 *   rt.stop();
 */
import { AgentRegistry } from "../agents/agent-registry";
import { SpanTracker } from "../agents/spans";
import { syncAgentsToKernel } from "../enforce/agent-sync";
import { DEFAULT_REDACTION, Redactor, type RedactionOptions } from "../events/redact";
import type { ProcessEvent } from "../events/types";
import { OBSERVER_DROP_STAGES, Observer, type DropCounts, type ObserverOptions } from "../observer/observer";
import { EventPipeline } from "../pipeline/event-pipeline";
import { ProcessTree } from "../proc/process-tree";

export interface RuntimeOptions {
  /** The observer's options; its events go to the pipeline (`onEvent`, when given, sees each one after it). */
  observer: Omit<ObserverOptions, "onEvent"> & { onEvent?: (event: ProcessEvent) => void };
  /** Cut secrets from command lines before any sink (default: on). */
  redaction?: RedactionOptions;
  /** Tool-call spans opened through an API (the service). */
  spans?: boolean;
  /** The agent every in-scope event belongs to, when the observer's scope is one agent's cgroup (vigil run). */
  scopeAgent?: string;
}

export class Runtime {
  readonly tree = new ProcessTree();
  readonly agents = new AgentRegistry(this.tree);
  readonly spans: SpanTracker | undefined;
  readonly pipeline: EventPipeline;
  readonly observer: Observer;

  constructor(options: RuntimeOptions) {
    this.spans = options.spans ? new SpanTracker(this.tree) : undefined;
    this.pipeline = new EventPipeline(this.tree, this.agents, this.spans, new Redactor(options.redaction ?? DEFAULT_REDACTION));
    if (options.scopeAgent) this.pipeline.scopeAgent = options.scopeAgent;
    const after = options.observer.onEvent;
    this.observer = new Observer({
      ...options.observer,
      onEvent: after
        ? (e) => {
            this.pipeline.handle(e);
            after(e);
          }
        : (e) => this.pipeline.handle(e),
    });
    // Agents registered from now on (after start) get their identity in the kernel, and owned cgroups their guard.
    syncAgentsToKernel(this.agents, this.tree, () => this.observer.enforcer);
  }

  /** Seeds the process tree from /proc, then loads and attaches. Returns how many processes were seeded. */
  start(): number {
    const seeded = this.tree.seedFromProc();
    this.observer.start();
    return seeded;
  }

  /** Every place the observer or a sink lost an event, by stage (the service adds its store and streams). */
  drops(dropped: DropCounts = this.observer.stats().dropped): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(OBSERVER_DROP_STAGES.map((d) => [d.stage, d.count(dropped)]));
    for (const n of this.pipeline.sinkErrors.values()) out.handler_error! += n;
    return out;
  }

  /** Detaches and stops; returns the problems met. */
  stop(): Error[] {
    return this.observer.stop();
  }
}
