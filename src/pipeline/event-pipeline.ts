/**
 * The one path every process event takes above the decoder: cut secrets
 * from it, update the process tree, attribute the agent, then hand the
 * event to each sink. Findings and audit entries, which sinks produce
 * (the policy guard, the profile book), come back through `record` and go
 * to the sinks that keep them, the same way.
 * Sinks are isolated: one that throws is counted and does not stop the others.
 */
import type { ProcessEvent, SyscallEvent, TlsChunk, VigilEvent } from "../events/types";
import type { IntentTracker } from "../intent/intent-tracker";
import type { VigilRecord } from "../events/records";
import type { ProcessTree } from "../proc/process-tree";
import type { AgentRegistry } from "../agents/agent-registry";
import type { SpanTracker } from "../agents/spans";
import { Redactor } from "../events/redact";

export interface EventSink {
  name: string;
  write(event: VigilEvent): void;
}

export interface RecordSink {
  name: string;
  writeRecord(record: VigilRecord): void;
}

export type Sink = EventSink | RecordSink | (EventSink & RecordSink);

export class EventPipeline {
  private readonly sinks: EventSink[] = [];
  private readonly recordSinks: RecordSink[] = [];
  readonly sinkErrors = new Map<string, number>();
  readonly counts = new Map<string, number>();

  constructor(
    readonly tree: ProcessTree,
    readonly agents: AgentRegistry,
    /** Tool-call spans, when an API can open them. */
    readonly spans?: SpanTracker,
    /** Cuts secrets from command lines before the tree or any sink sees them. */
    readonly redactor: Redactor = new Redactor(),
    /** LLM calls and tool calls from TLS plaintext, and the attribution of events to tool calls. */
    readonly intent?: IntentTracker,
  ) {}

  /**
   * The agent of every event in the observer's scope, when the scope is one agent's (`vigil run`: its
   * cgroup): a syscall record can come before its process's first exec has reached the tree (the launcher's
   * own execve), and it is still that agent's.
   */
  scopeAgent: string | null = null;

  /** A sink takes events (`write`), records (`writeRecord`), or both. */
  addSink(sink: Sink): void {
    if ("write" in sink) this.sinks.push(sink);
    if ("writeRecord" in sink) this.recordSinks.push(sink);
  }

  /** A finding or an audit entry, to every sink that keeps records. */
  record(record: VigilRecord): void {
    if (record.kind === "finding" && "toolCall" in record.record.event) this.intent?.finding(record.record.event.toolCall);
    for (const s of this.recordSinks) {
      try {
        s.writeRecord(record);
      } catch {
        this.countSinkError(s.name);
      }
    }
  }

  private countSinkError(name: string): void {
    this.sinkErrors.set(name, (this.sinkErrors.get(name) ?? 0) + 1);
  }

  handle(event: ProcessEvent): void {
    this.redactor.apply(event);
    const node = this.tree.apply(event);
    const agent = this.agents.resolve(node, event.agentId);
    if (agent) {
      event.agent = agent;
      this.spans?.attribute(event);
    }
    this.intent?.attribute(event);
    this.emit(event);
  }

  /** TLS plaintext: never passed on as such; the LLM calls, HTTP exchanges and tool calls it completes are. */
  handleTls(chunk: TlsChunk): void {
    if (!this.intent) return;
    const node = this.tree.get(chunk.pid);
    const agent = (node ? this.agents.resolve(node, chunk.agentId) : this.scopeAgent) ?? undefined;
    for (const e of this.intent.handleTls(chunk, agent)) {
      if (agent) this.spans?.attribute(e);
      this.emit(e);
    }
  }

  /** Syscall records (firehose) do not change the tree; they take the agent of their process. */
  handleSyscall(event: SyscallEvent): void {
    const node = this.tree.get(event.pid);
    const agent = node ? this.agents.resolve(node) : this.scopeAgent;
    if (agent) event.agent = agent;
    this.emit(event);
  }

  private emit(event: VigilEvent): void {
    this.counts.set(event.type, (this.counts.get(event.type) ?? 0) + 1);
    for (const s of this.sinks) {
      try {
        s.write(event);
      } catch {
        this.countSinkError(s.name);
      }
    }
  }
}
