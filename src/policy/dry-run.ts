/**
 * Replays a recorded event log (from `vigil run --events` or the store)
 * against a policy and reports what it would have done, without acting.
 */
import type { StorableEvent, VigilEvent } from "../events/types";
import type { PolicySet } from "./compile";

export interface DryRunReport {
  events: number;
  evaluated: number;
  hits: number;
  byRule: Record<string, { action: string; enforcement: string; count: number }>;
  /** The first hits, in order. */
  samples: { rule: string; action: string; enforcement: string; agent: string | null; pid: number; comm: string; ts: number; event: string }[];
  /** Lines of the log that were not events. */
  skipped: { line: number; reason: string }[];
}

function describe(e: VigilEvent): string {
  switch (e.type) {
    case "exec":
      return `exec ${e.filename} ${e.argv.slice(1).join(" ")}`.trim();
    case "open":
      return `open ${e.path} → ${e.ret}`;
    case "connect":
      return `connect ${e.address}:${e.port} → ${e.ret}`;
    default:
      return e.type;
  }
}

/** Evaluates events one by one, as they come (a log, or store pages read asynchronously), into a report. */
export class PolicyReplay {
  readonly report: DryRunReport = { events: 0, evaluated: 0, hits: 0, byRule: {}, samples: [], skipped: [] };
  // The log is the only source of what each process runs: follow its execs.
  private readonly exe = new Map<number, string>();
  private readonly ctx = { exe: (pid: number) => this.exe.get(pid) };
  private readonly sampleLimit: number;

  constructor(
    private readonly set: PolicySet,
    private readonly options: { defaultAgent?: string; sampleLimit?: number } = {},
  ) {
    this.sampleLimit = options.sampleLimit ?? 100;
  }

  feed(events: Iterable<StorableEvent>): void {
    const report = this.report;
    for (const e of events) {
      report.events++;
      if (e.type === "syscall" || e.type === "enforce" || e.type === "gap") continue;
      if (e.type === "exec") this.exe.set(e.pid, e.filename);
      if (e.type === "fork" && this.exe.has(e.pid)) this.exe.set(e.childPid, this.exe.get(e.pid)!);
      const agent = e.agent ?? this.options.defaultAgent;
      const rules = this.set.byEvent.get(e.type);
      if (!rules) continue;
      report.evaluated++;
      for (const r of rules) {
        if (!r.matchesAgent(agent) || !r.matches(e, this.ctx)) continue;
        report.hits++;
        const key = `${r.policy}/${r.name}`;
        const b = (report.byRule[key] ??= { action: r.action, enforcement: r.enforcement, count: 0 });
        b.count++;
        if (report.samples.length < this.sampleLimit) report.samples.push({ rule: key, action: r.action, enforcement: r.enforcement, agent: agent ?? null, pid: e.pid, comm: e.comm, ts: e.ts, event: describe(e) });
      }
    }
  }
}

export function dryRun(set: PolicySet, events: Iterable<StorableEvent>, options: { defaultAgent?: string; sampleLimit?: number } = {}): DryRunReport {
  const replay = new PolicyReplay(set, options);
  replay.feed(events);
  return replay.report;
}

/** Events from JSON lines; lines that are not events are reported, not fatal. */
export function* parseEventLines(text: string, skipped: DryRunReport["skipped"]): Generator<VigilEvent> {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      skipped.push({ line: i + 1, reason: "not JSON" });
      continue;
    }
    const e = v as Partial<VigilEvent>;
    if (typeof e !== "object" || e === null || typeof e.type !== "string" || typeof e.pid !== "number") {
      skipped.push({ line: i + 1, reason: "not an event (needs type and pid)" });
      continue;
    }
    yield e as VigilEvent;
  }
}
