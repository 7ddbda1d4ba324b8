/** Accumulates what a `vigil run` observed, for the printed summary and --summary-json. */
import type { DnsStatName } from "../abi/layout";
import type { ToolCallEffects, VigilEvent } from "../events/types";
import type { AuditEntry, Finding, VigilRecord } from "../events/records";
import type { EventSink, RecordSink } from "../pipeline/event-pipeline";
import { syscallName } from "../events/syscall-names";

export interface RunSummary {
  command: string[];
  agent: string;
  backend: "ebpf" | "proc";
  syscallMode: string;
  /** The optional event kinds reported (open, connect, cred, exec_failed): the others' counts below are not zero but unknown. */
  captured: string[];
  exitCode: number;
  signal: number | null;
  durationMs: number;
  events: Record<string, number>;
  dropped: Record<string, number>;
  droppedTotal: number;
  processes: { count: number; leftoversKilled: number };
  execs: { binary: string; count: number }[];
  /** Execs that failed (a program that does not exist, or may not run), by what was asked for and why. */
  failedExecs: { binary: string; error: string; count: number }[];
  files: { opens: number; unique: number; failed: number; top: { path: string; count: number }[] };
  connections: { address: string; port: number; count: number; failed: number; domain?: string }[];
  syscalls: { total: number; top: { name: string; nr: number; count: number }[] };
  credentialChanges: number;
  /** Every policy rule hit, with what was done about it. */
  findings: FindingSummary[];
  /** Every intervention Vigil carried out (audited). */
  interventions: AuditEntry[];
  /** The model calls read from the run's TLS traffic, and the tokens they reported. */
  llm: { calls: number; inputTokens: number; outputTokens: number; byModel: { model: string; calls: number }[]; otherHttp: number };
  /** Each tool call that ended, with what it caused; still open at the end, counted apart. */
  toolCalls: { id: string; name: string; llmCallId: string; durationMs: number; effects: ToolCallEffects }[];
  toolCallsOpen: number;
  /** TLS the run's programs used: the files read with uprobes, and stacks that cannot be read (with why). */
  tls: { hooked: string[]; unsupported: { file: string; why: string }[] };
  /** The DNS answers the run's programs received, as the kernel learned them (bpf/dns.bpf.c); eBPF backend only. */
  dns?: Record<DnsStatName, number>;
}

export interface FindingSummary {
  rule: string;
  action: string;
  severity: string;
  enforcement: string;
  mechanism?: string;
  domain?: string;
  outcome: string;
  agent: string | null;
  pid: number;
  comm: string;
  ts: number;
  event: { type: string; filename?: string; path?: string; address?: string; port?: number };
}

const TOP = 10;

function summarizeFinding(f: Finding): FindingSummary {
  const e = f.event;
  const event: FindingSummary["event"] = { type: e.type };
  if (e.type === "exec") event.filename = e.filename;
  if (e.type === "open") event.path = e.path;
  if (e.type === "connect" || (e.type === "enforce" && e.op === "connect")) Object.assign(event, { address: e.address, port: e.port });
  return { rule: f.rule, action: f.action, severity: f.severity, enforcement: f.enforcement, ...(f.mechanism ? { mechanism: f.mechanism } : {}), ...(f.domain ? { domain: f.domain } : {}), outcome: f.outcome, agent: f.agent, pid: f.pid, comm: f.comm, ts: f.ts, event };
}

/** The errno names a failed exec returns most (execve(2)); others by number. */
const ERRNO: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 7: "E2BIG", 8: "ENOEXEC", 12: "ENOMEM", 13: "EACCES", 20: "ENOTDIR", 21: "EISDIR", 26: "ETXTBSY", 36: "ENAMETOOLONG", 40: "ELOOP" };
function errnoName(errno: number): string {
  return ERRNO[errno] ?? `errno ${errno}`;
}

function top<K>(m: Map<K, number>, n = TOP): [K, number][] {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}

export class RunSummaryBuilder implements EventSink, RecordSink {
  readonly name = "summary";
  private readonly findings: FindingSummary[] = [];
  private readonly llm = { calls: 0, inputTokens: 0, outputTokens: 0, models: new Map<string, number>(), otherHttp: 0 };
  private readonly toolCalls: RunSummary["toolCalls"] = [];
  private readonly toolCallsStarted = new Set<string>();
  private readonly interventions: AuditEntry[] = [];
  private readonly pids = new Set<number>();
  private readonly execs = new Map<string, number>();
  private readonly failedExecs = new Map<string, { binary: string; error: string; count: number }>();
  private readonly files = new Map<string, number>();
  private opens = 0;
  private failedOpens = 0;
  private readonly conns = new Map<string, { address: string; port: number; count: number; failed: number; domain?: string }>();
  private readonly syscalls = new Map<number, number>();
  private creds = 0;

  write(e: VigilEvent): void {
    this.pids.add(e.pid);
    switch (e.type) {
      case "exec":
        this.execs.set(e.filename, (this.execs.get(e.filename) ?? 0) + 1);
        break;
      case "exec_failed": {
        const error = errnoName(-e.ret);
        const key = `${e.filename}\0${error}`;
        const f = this.failedExecs.get(key) ?? { binary: e.filename, error, count: 0 };
        f.count++;
        this.failedExecs.set(key, f);
        break;
      }
      case "fork":
        this.pids.add(e.childPid);
        break;
      case "open":
        this.opens++;
        if (e.ret < 0) this.failedOpens++;
        this.files.set(e.path, (this.files.get(e.path) ?? 0) + 1);
        break;
      case "connect": {
        const key = `${e.address}|${e.port}`;
        const c = this.conns.get(key) ?? { address: e.address, port: e.port, count: 0, failed: 0 };
        c.count++;
        // EINPROGRESS (-115) is a non-blocking connect under way, not a failure.
        if (e.ret < 0 && e.ret !== -115) c.failed++;
        if (e.domain) c.domain = e.domain;
        this.conns.set(key, c);
        break;
      }
      case "cred":
        this.creds++;
        break;
      case "syscall":
        this.addSyscalls(e.nr, 1);
        break;
      case "llm_call": {
        this.llm.calls++;
        this.llm.inputTokens += e.usage?.inputTokens ?? 0;
        this.llm.outputTokens += e.usage?.outputTokens ?? 0;
        const model = e.model ?? "unknown";
        this.llm.models.set(model, (this.llm.models.get(model) ?? 0) + 1);
        break;
      }
      case "http":
        this.llm.otherHttp++;
        break;
      case "tool_call":
        if (e.phase === "started") this.toolCallsStarted.add(e.toolCallId);
        else {
          this.toolCallsStarted.delete(e.toolCallId);
          if (this.toolCalls.length < 200) this.toolCalls.push({ id: e.toolCallId, name: e.name, llmCallId: e.llmCallId, durationMs: e.durationMs ?? 0, effects: e.effects! });
        }
        break;
    }
  }

  writeRecord(r: VigilRecord): void {
    if (r.kind === "finding") this.findings.push(summarizeFinding(r.record));
    else this.interventions.push(r.record);
  }

  addSyscalls(nr: number, count: number): void {
    this.syscalls.set(nr, (this.syscalls.get(nr) ?? 0) + count);
  }

  build(base: Omit<RunSummary, "processes" | "execs" | "failedExecs" | "files" | "connections" | "syscalls" | "credentialChanges" | "findings" | "interventions" | "llm" | "toolCalls" | "toolCallsOpen"> & { leftoversKilled: number }): RunSummary {
    const { leftoversKilled, ...rest } = base;
    let total = 0;
    for (const c of this.syscalls.values()) total += c;
    return {
      ...rest,
      processes: { count: this.pids.size, leftoversKilled },
      execs: top(this.execs, 50).map(([binary, count]) => ({ binary, count })),
      failedExecs: [...this.failedExecs.values()].sort((a, b) => b.count - a.count).slice(0, 50),
      files: {
        opens: this.opens,
        unique: this.files.size,
        failed: this.failedOpens,
        top: top(this.files).map(([path, count]) => ({ path, count })),
      },
      connections: [...this.conns.values()].sort((a, b) => b.count - a.count),
      syscalls: { total, top: top(this.syscalls).map(([nr, count]) => ({ name: syscallName(nr), nr, count })) },
      credentialChanges: this.creds,
      findings: this.findings,
      interventions: this.interventions,
      llm: { calls: this.llm.calls, inputTokens: this.llm.inputTokens, outputTokens: this.llm.outputTokens, byModel: top(this.llm.models).map(([model, calls]) => ({ model, calls })), otherHttp: this.llm.otherHttp },
      toolCalls: this.toolCalls,
      toolCallsOpen: this.toolCallsStarted.size,
    };
  }
}

export function formatSummary(s: RunSummary): string {
  const lines: string[] = [];
  const status = s.signal !== null ? `killed by signal ${s.signal} (exit ${s.exitCode})` : `exit ${s.exitCode}`;
  lines.push(`── vigil: ${s.agent} · ${status} · ${(s.durationMs / 1000).toFixed(2)}s · backend ${s.backend}${s.backend === "proc" ? " (low fidelity)" : ""}`);
  const ev = Object.entries(s.events)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  lines.push(`   events      ${ev || "none"}`);
  lines.push(`   processes   ${s.processes.count}${s.processes.leftoversKilled ? ` (${s.processes.leftoversKilled} left running, killed)` : ""}`);
  if (s.execs.length) lines.push(`   execs       ${s.execs.slice(0, 5).map((e) => `${e.binary}${e.count > 1 ? ` ×${e.count}` : ""}`).join(", ")}${s.execs.length > 5 ? `, … (${s.execs.length} binaries)` : ""}`);
  if (!s.captured.includes("exec_failed")) lines.push("   failed exec not captured");
  else if (s.failedExecs.length)
    lines.push(`   failed exec ${s.failedExecs.slice(0, 5).map((f) => `${f.binary} (${f.error})${f.count > 1 ? ` ×${f.count}` : ""}`).join(", ")}${s.failedExecs.length > 5 ? `, … (${s.failedExecs.length})` : ""}`);
  if (!s.captured.includes("open")) lines.push("   files       not captured");
  else lines.push(`   files       ${s.files.opens} opens of ${s.files.unique} paths, ${s.files.failed} failed`);
  if (!s.captured.includes("connect")) lines.push("   connections not captured");
  else if (s.connections.length)
    lines.push(`   connections ${s.connections.slice(0, 5).map((c) => `${c.domain ? `${c.domain} ` : ""}${c.address.includes(":") ? `[${c.address}]` : c.address}:${c.port}${c.count > 1 ? ` ×${c.count}` : ""}${c.failed ? ` (${c.failed} failed)` : ""}`).join(", ")}`);
  else lines.push("   connections none");
  if (s.syscalls.total) lines.push(`   syscalls    ${s.syscalls.total} total; top ${s.syscalls.top.slice(0, 5).map((t) => `${t.name} ${t.count}`).join(", ")}`);
  if (s.credentialChanges) lines.push(`   credentials ${s.credentialChanges} changes`);
  if (!s.captured.includes("tls")) lines.push("   llm calls   not captured (tls)");
  else if (s.llm.calls || s.tls.hooked.length) {
    const models = s.llm.byModel.map((m) => `${m.model}${m.calls > 1 ? ` ×${m.calls}` : ""}`).join(", ");
    lines.push(`   llm calls   ${s.llm.calls}${models ? ` (${models})` : ""}; tokens in ${s.llm.inputTokens}, out ${s.llm.outputTokens}${s.llm.otherHttp ? `; ${s.llm.otherHttp} other HTTPS exchanges` : ""}`);
  }
  for (const u of s.tls.unsupported) lines.push(`   tls         unsupported (${u.file}: ${u.why})`);
  if (s.toolCalls.length || s.toolCallsOpen) {
    lines.push(`   tool calls  ${s.toolCalls.length}${s.toolCallsOpen ? ` (+${s.toolCallsOpen} never ended)` : ""}`);
    for (const t of s.toolCalls.slice(0, 10)) {
      const fx = t.effects;
      const did = [
        fx.execs.length ? `ran ${fx.execs.slice(0, 3).map((x) => x.filename.split("/").pop()).join(", ")}` : "",
        fx.filesWritten.length ? `wrote ${fx.filesWritten.length}` : "",
        fx.filesRead.length ? `read ${fx.filesRead.length}` : "",
        fx.connections.length ? `connected ${fx.connections.length}` : "",
        fx.findings ? `${fx.findings} findings` : "",
      ].filter(Boolean);
      lines.push(`     ${t.name} ${t.id} ${t.durationMs.toFixed(0)}ms: ${did.join("; ") || "nothing observed"}`);
    }
    if (s.toolCalls.length > 10) lines.push(`     … ${s.toolCalls.length - 10} more in --summary-json`);
  }
  if (s.findings.length) {
    lines.push(`   findings    ${s.findings.length}`);
    for (const f of s.findings.slice(0, 10)) lines.push(`     ${f.severity.padEnd(8)} ${f.rule} (${f.action}) pid ${f.pid} ${f.comm}: ${f.outcome}`);
    if (s.findings.length > 10) lines.push(`     … ${s.findings.length - 10} more in --summary-json`);
  }
  const drops = Object.entries(s.dropped).filter(([, v]) => v > 0);
  lines.push(`   dropped     ${s.droppedTotal === 0 ? "0" : drops.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  return lines.join("\n");
}
