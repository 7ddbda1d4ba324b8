/** Structured JSON logs, one object per line on stderr: level, time, msg, context. */
import type { VigilRecord } from "../events/records";
import type { RecordSink } from "../pipeline/event-pipeline";

export type Level = "debug" | "info" | "warn" | "error";

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold = RANK.info;

export function setLogLevel(level: Level): void {
  threshold = RANK[level];
}

export function log(level: Level, msg: string, context: Record<string, unknown> = {}): void {
  if (RANK[level] < threshold) return;
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...context })}\n`);
}

/** What Vigil did, in the operator's log: rules that acted (alerts only in the store and streams) and every intervention. */
export const actionLog: RecordSink = {
  name: "log",
  writeRecord(r: VigilRecord): void {
    if (r.kind === "audit") {
      const a = r.record;
      log(a.ok ? "info" : "error", "intervention", { ...a });
      return;
    }
    const f = r.record;
    if (f.kind === "rule" && f.action !== "alert") log("warn", "policy enforced", { rule: f.rule, action: f.action, agent: f.agent, pid: f.pid, outcome: f.outcome });
  },
};
