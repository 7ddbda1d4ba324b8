/** Structured JSON logs, one object per line on stderr: level, time, msg, context. */
export type Level = "debug" | "info" | "warn" | "error";

export function log(level: Level, msg: string, context: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...context })}\n`);
}
