/**
 * Replays a recorded event log (from `vigil run --events` or the store)
 * against a policy and reports what it would have done, without acting.
 */
import type { VigilEvent } from "../events/types";
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

export function dryRun(set: PolicySet, events: Iterable<VigilEvent>, options: { defaultAgent?: string; sampleLimit?: number } = {}): DryRunReport {
  const report: DryRunReport = { events: 0, evaluated: 0, hits: 0, byRule: {}, samples: [], skipped: [] };
  // The log is the only source of what each process runs: follow its execs.
  const exe = new Map<number, string>();
  const ctx = { exe: (pid: number) => exe.get(pid) };
  const limit = options.sampleLimit ?? 100;
  for (const e of events) {
    report.events++;
    if (e.type === "syscall" || e.type === "enforce") continue;
    if (e.type === "exec") exe.set(e.pid, e.filename);
    if (e.type === "fork" && exe.has(e.pid)) exe.set(e.childPid, exe.get(e.pid)!);
    const agent = e.agent ?? options.defaultAgent;
    const rules = set.byEvent.get(e.type);
    if (!rules) continue;
    report.evaluated++;
    for (const r of rules) {
      if (!r.matchesAgent(agent) || !r.matches(e, ctx)) continue;
      report.hits++;
      const key = `${r.policy}/${r.name}`;
      const b = (report.byRule[key] ??= { action: r.action, enforcement: r.enforcement, count: 0 });
      b.count++;
      if (report.samples.length < limit) report.samples.push({ rule: key, action: r.action, enforcement: r.enforcement, agent: agent ?? null, pid: e.pid, comm: e.comm, ts: e.ts, event: describe(e) });
    }
  }
  return report;
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
