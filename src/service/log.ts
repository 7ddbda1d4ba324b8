/** Structured JSON logs, one object per line on stderr: level, time, msg, context. */
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
