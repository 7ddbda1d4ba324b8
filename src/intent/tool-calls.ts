/**
 * Tool calls, and the exact attribution of what they caused. A tool call
 * opens when the model's response asking for it arrives and closes when the
 * agent sends the request carrying its result. Both are read from the agent's
 * own TLS traffic, which comes through the same kernel ring as its process
 * events, in the order they happened: so an event is in a tool call's time by
 * that order, never by a guessed window.
 *
 * Within that time, a process forked for a tool call belongs to it, and so do
 * its descendants (lineage is exact), for as long as they live. With one call
 * open, every event of the agent's tree is that call's; with several, an
 * event goes to the one whose arguments name what it did (the command of an
 * exec, the path of an open, the address of a connect), or is marked
 * ambiguous with the candidates.
 */
import type { LlmCallEvent, ProcessEvent, ToolCallEffects, ToolCallEvent, ToolCallRef } from "../events/types";

/** Bounds on what a tool call's effects list (counts stay exact). */
const MAX_EXECS = 50;
const MAX_FILES = 100;
const MAX_CONNECTIONS = 50;
const SHELLS = new Set(["sh", "bash", "dash", "zsh"]);

interface ToolCallState {
  id: string;
  name: string;
  llmCallId: string;
  arguments: string;
  /** Every string value in the arguments: what content matching looks in. */
  values: string[];
  session: string;
  startedKtimeNs: number;
  open: boolean;
  effects: ToolCallEffects;
}

export interface ToolCallCounters {
  opened: number;
  closed: number;
  /** Events several open tool calls could have caused, marked ambiguous. */
  ambiguous: number;
}

export class ToolCallTracker {
  private readonly sessions = new Map<string, Map<string, ToolCallState>>();
  private readonly byId = new Map<string, ToolCallState>();
  /** Processes started by a tool call (and their descendants), by pid. */
  private readonly bound = new Map<number, ToolCallState>();
  /** Children forked while several calls were open: decided at their exec. */
  private readonly undecided = new Map<number, string>();
  readonly counters: ToolCallCounters = { opened: 0, closed: 0, ambiguous: 0 };

  /** The session of an agent (or, outside any agent, of the process that talks to the model). */
  static session(agent: string | undefined, pid: number): string {
    return agent ?? `pid:${pid}`;
  }

  /** The tool calls a response asks for are open from now on: their `started` events. */
  opened(call: LlmCallEvent, fullArguments: Map<string, string>): ToolCallEvent[] {
    const session = ToolCallTracker.session(call.agent, call.pid);
    let open = this.sessions.get(session);
    if (!open) this.sessions.set(session, (open = new Map()));
    const out: ToolCallEvent[] = [];
    for (const t of call.toolCalls) {
      if (!t.id || open.has(t.id)) continue; // asked again while open (a retried response): one call
      const args = fullArguments.get(t.id) ?? "";
      const state: ToolCallState = {
        id: t.id,
        name: t.name,
        llmCallId: call.llmCallId,
        arguments: args,
        values: stringValues(args),
        session,
        startedKtimeNs: call.ktimeNs,
        open: true,
        effects: { processes: 0, execs: [], filesRead: [], filesWritten: [], connections: [], findings: 0 },
      };
      open.set(t.id, state);
      this.byId.set(t.id, state);
      this.counters.opened++;
      out.push({ ...base(call), type: "tool_call", phase: "started", toolCallId: t.id, name: t.name, ...(t.arguments !== undefined ? { arguments: t.arguments } : {}), llmCallId: call.llmCallId });
    }
    return out;
  }

  /** A request carrying these results was sent: the open ones among them end (their `ended` events). */
  resultsSent(ids: readonly string[], at: { ts: number; ktimeNs: number; pid: number; tid: number; comm: string; agent?: string }): ToolCallEvent[] {
    const out: ToolCallEvent[] = [];
    for (const id of ids) {
      const s = this.byId.get(id);
      if (!s?.open || s.session !== ToolCallTracker.session(at.agent, at.pid)) continue;
      s.open = false;
      this.sessions.get(s.session)?.delete(id);
      this.counters.closed++;
      out.push({ ...at, type: "tool_call", phase: "ended", toolCallId: id, name: s.name, llmCallId: s.llmCallId, durationMs: (at.ktimeNs - s.startedKtimeNs) / 1e6, effects: s.effects });
    }
    return out;
  }

  /** Sets `event.toolCall` when a tool call caused it, and counts it into that call's effects. */
  attribute(event: ProcessEvent): void {
    let state = this.bound.get(event.pid);
    if (!state) {
      const open = this.sessions.get(ToolCallTracker.session(event.agent, event.pid)) ?? this.sessionOfUndecided(event.pid);
      if (!open || open.size === 0) return this.forgetIfExit(event);
      const candidates = [...open.values()];
      state = candidates.length === 1 ? candidates[0] : this.byContent(candidates, event);
      if (!state) {
        // A child forked now is decided at its exec (its command names its call); the event itself is ambiguous.
        if (event.type === "fork") this.undecided.set(event.childPid, ToolCallTracker.session(event.agent, event.pid));
        this.counters.ambiguous++;
        event.toolCall = { ambiguous: true, candidates: candidates.map(ref) } satisfies ToolCallRef;
        return this.forgetIfExit(event);
      }
      if (this.undecided.delete(event.pid)) this.bind(event.pid, state);
    }
    event.toolCall = ref(state);
    this.count(state, event);
    if (event.type === "fork") this.bind(event.childPid, state);
    this.forgetIfExit(event);
  }

  /** A finding about an event a tool call caused. */
  finding(toolCall: ToolCallRef | undefined): void {
    if (toolCall && "id" in toolCall) {
      const s = this.byId.get(toolCall.id);
      if (s) s.effects.findings++;
    }
  }

  /** Tool calls still open. */
  openCalls(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.size;
    return n;
  }

  /** An agent is gone: its open calls are dropped (never ended). */
  forgetSession(session: string): void {
    for (const id of this.sessions.get(session)?.keys() ?? []) this.byId.delete(id);
    this.sessions.delete(session);
  }

  private sessionOfUndecided(pid: number): Map<string, ToolCallState> | undefined {
    const session = this.undecided.get(pid);
    return session === undefined ? undefined : this.sessions.get(session);
  }

  private bind(pid: number, state: ToolCallState): void {
    if (this.bound.get(pid) === state) return;
    this.bound.set(pid, state);
    state.effects.processes++;
  }

  private forgetIfExit(event: ProcessEvent): void {
    if (event.type !== "exit") return;
    this.bound.delete(event.pid);
    this.undecided.delete(event.pid);
  }

  /** The one open call whose arguments name what the event did; undefined when none or several do. */
  private byContent(candidates: ToolCallState[], event: ProcessEvent): ToolCallState | undefined {
    let needle: ((v: string) => boolean) | null = null;
    if (event.type === "exec") {
      const argv = event.argv;
      const command = argv.length >= 3 && SHELLS.has(argv[0]!.split("/").pop()!) && argv[1] === "-c" ? argv[2]! : argv.join(" ");
      needle = (v) => v.includes(command);
    } else if (event.type === "open") {
      // The path as given, a relative form of it, or its file name as a word of a command.
      const path = event.path;
      const name = path.split("/").pop() ?? "";
      const word = name.length >= 3 ? new RegExp(`(^|[\\s/'"=])${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[\\s'";|&>)])`) : null;
      needle = (v) => v.length > 0 && (v === path || path.endsWith(`/${v}`) || v.includes(path) || (word !== null && word.test(v)));
    } else if (event.type === "connect") {
      const address = event.address;
      const port = `:${event.port}`;
      needle = (v) => v.includes(address) || v.includes(port);
    }
    if (!needle) return undefined;
    const hits = candidates.filter((c) => c.values.some(needle));
    return hits.length === 1 ? hits[0] : undefined;
  }

  private count(s: ToolCallState, e: ProcessEvent): void {
    const fx = s.effects;
    if (e.type === "exec" && fx.execs.length < MAX_EXECS) fx.execs.push({ filename: e.filename, argv: e.argv });
    else if (e.type === "open" && e.ret >= 0) {
      const written = (e.flags & 3) !== 0 || (e.flags & 0o100) !== 0; // O_WRONLY|O_RDWR, O_CREAT
      const list = written ? fx.filesWritten : fx.filesRead;
      if (list.length < MAX_FILES && !list.includes(e.path)) list.push(e.path);
    } else if (e.type === "connect" && fx.connections.length < MAX_CONNECTIONS && !fx.connections.some((c) => c.address === e.address && c.port === e.port)) {
      fx.connections.push({ address: e.address, port: e.port });
    }
  }
}

function ref(s: ToolCallState): { id: string; name: string; llmCallId: string } {
  return { id: s.id, name: s.name, llmCallId: s.llmCallId };
}

function base(e: { ts: number; ktimeNs: number; pid: number; tid: number; comm: string; agent?: string }) {
  return { ts: e.ts, ktimeNs: e.ktimeNs, pid: e.pid, tid: e.tid, comm: e.comm, ...(e.agent !== undefined ? { agent: e.agent } : {}) };
}

/** Every string value inside a JSON text (the arguments a model gave a tool), or the text itself when it is not JSON. */
function stringValues(json: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return json ? [json] : [];
  }
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(parsed);
  return out;
}
