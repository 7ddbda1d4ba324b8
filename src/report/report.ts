/**
 * One self-contained HTML file telling an agent's session: the dashboard's
 * own session view (build/ui/app.js and app.css, inlined) over the session's
 * data, embedded in the page. Opens from disk with no network: the page's
 * policy allows nothing but its inline script and style.
 *
 * Bounded for a long session: LLM and tool calls are all kept; process
 * events up to MAX_EVENTS (the latest), findings and audit entries up to
 * MAX_RECORDS, processes up to MAX_PROCESSES; what was cut is said in the
 * page. The view collapses repeated lines.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Database } from "bun:sqlite";
import type { AuditEntry, Finding } from "../events/records";
import type { StorableEvent, VigilEvent } from "../events/types";
import type { ProcessNode } from "../proc/process-tree";
import { eventPage, recordPage } from "../store/queries";

export const UI_DIR = resolve(import.meta.dir, "../../build/ui");
const MAX_EVENTS = 20_000;
const MAX_RECORDS = 1000;
const MAX_PROCESSES = 5000;

/** What a report shows (ui/session.ts reads the same shape). */
export interface ReportSession {
  agent: string;
  takenAt: number;
  events: StorableEvent[];
  findings: Finding[];
  audits: AuditEntry[];
  processes: Pick<ProcessNode, "pid" | "ppid" | "comm" | "argv" | "startTime" | "exitTime" | "exitCode" | "signal">[];
  cut: string[];
  /** The run's summary (vigil run --report). */
  summary?: unknown;
}

/** Collects a session as it goes by (vigil run --report): a sink of the pipeline, bounded. */
export class ReportCollector {
  readonly name = "report";
  private readonly intent: VigilEvent[] = [];
  private readonly events: VigilEvent[] = [];
  private droppedEvents = 0;
  private readonly findings: Finding[] = [];
  private readonly audits: AuditEntry[] = [];

  write(e: VigilEvent): void {
    if (e.type === "syscall") return;
    if (e.type === "llm_call" || e.type === "tool_call" || e.type === "http") return void this.intent.push(e);
    this.events.push(e);
    // The latest are kept: a report of a long session ends where the session did.
    if (this.events.length > MAX_EVENTS * 1.25) this.droppedEvents += this.events.splice(0, this.events.length - MAX_EVENTS).length;
  }

  writeRecord(r: { kind: "finding"; record: Finding } | { kind: "audit"; record: AuditEntry }): void {
    if (r.kind === "finding") {
      if (this.findings.length < MAX_RECORDS) this.findings.push(r.record);
    } else if (this.audits.length < MAX_RECORDS) this.audits.push(r.record);
  }

  session(agent: string, processes: ProcessNode[], summary?: unknown): ReportSession {
    const kept = this.events.slice(-MAX_EVENTS);
    const dropped = this.droppedEvents + (this.events.length - kept.length);
    return {
      agent,
      takenAt: Date.now(),
      events: [...this.intent, ...kept],
      findings: this.findings,
      audits: this.audits,
      processes: processes.slice(0, MAX_PROCESSES).map(processFields),
      cut: [...(dropped ? [`the first ${dropped} process events (the latest ${MAX_EVENTS} are kept)`] : []), ...(processes.length > MAX_PROCESSES ? [`${processes.length - MAX_PROCESSES} processes`] : [])],
      summary,
    };
  }
}

function processFields(p: ProcessNode): ReportSession["processes"][number] {
  return { pid: p.pid, ppid: p.ppid, comm: p.comm, argv: p.argv, startTime: p.startTime, exitTime: p.exitTime, exitCode: p.exitCode, signal: p.signal };
}

/**
 * An agent's session from a data directory's store (read-only; a running daemon may keep writing): its
 * events since `since` (the latest MAX_EVENTS process events), findings and audit entries, and its
 * processes rebuilt from the exec, fork and exit events.
 */
export function sessionFromStore(dataDir: string, agent: string, since?: number): ReportSession {
  const db = new Database(join(dataDir, "events.db"), { readonly: true });
  try {
    const intent: StorableEvent[] = [];
    const events: StorableEvent[] = [];
    let total = 0;
    let cursor: number | undefined;
    // Newest first, a window at a time, until the store is read.
    for (;;) {
      const page = eventPage(db, { agent, since, limit: 1000, cursor, order: "desc" });
      for (const r of page.rows) {
        const e = JSON.parse(r.data) as StorableEvent;
        if (e.type === "llm_call" || e.type === "tool_call" || e.type === "http") intent.push(e);
        else if (e.type !== "syscall") {
          total++;
          if (events.length < MAX_EVENTS) events.push(e);
        }
      }
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    const records = <T>(kind: "finding" | "audit") => recordPage(db, kind, { agent, since, limit: MAX_RECORDS }).rows.map((r) => JSON.parse(r) as T).reverse();
    const all = [...intent, ...events].sort((a, b) => a.ts - b.ts);
    const processes = processesFrom(all);
    return {
      agent,
      takenAt: Date.now(),
      events: all,
      findings: records<Finding>("finding"),
      audits: records<AuditEntry>("audit"),
      processes: processes.slice(0, MAX_PROCESSES),
      cut: [...(total > events.length ? [`the first ${total - events.length} process events (the latest ${MAX_EVENTS} are kept)`] : []), ...(processes.length > MAX_PROCESSES ? [`${processes.length - MAX_PROCESSES} processes`] : [])],
    };
  } finally {
    db.close();
  }
}

/** Processes as exec, fork and exit events describe them. */
function processesFrom(events: StorableEvent[]): ReportSession["processes"] {
  const byPid = new Map<number, ReportSession["processes"][number]>();
  const get = (pid: number, ppid: number, comm: string, ts: number) => {
    let p = byPid.get(pid);
    if (!p) byPid.set(pid, (p = { pid, ppid, comm, argv: [], startTime: ts, exitTime: null, exitCode: null, signal: null }));
    return p;
  };
  for (const e of events) {
    if (e.type === "fork") get(e.childPid, e.pid, e.comm, e.ts);
    else if (e.type === "exec") Object.assign(get(e.pid, e.ppid, e.comm, e.ts), { comm: e.comm, argv: e.argv });
    else if (e.type === "exit") Object.assign(get(e.pid, e.ppid, e.comm, e.ts), { exitTime: e.ts, exitCode: e.exitCode, signal: e.signal });
  }
  return [...byPid.values()];
}

/** The report page: the session's JSON and the dashboard bundle, inline. Throws when the bundle is not built. */
export function renderReport(session: ReportSession): string {
  let js: string;
  let css: string;
  try {
    js = readFileSync(join(UI_DIR, "app.js"), "utf8");
    css = readFileSync(join(UI_DIR, "app.css"), "utf8");
  } catch {
    throw new Error(`the report needs the dashboard bundle in ${UI_DIR} (npm run setup builds it)`);
  }
  // Inside <script>, "</" would end it: every "<" of the data is escaped (JSON reads it back the same).
  const data = JSON.stringify(session).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  const title = `Vigil report: ${session.agent}`.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:" />
<title>${title}</title>
<style>${css}</style>
</head>
<body>
<div id="app"></div>
<script>window.VIGIL_REPORT = ${data};</script>
<script type="module">${js.replace(/<\/script/gi, "<\\/script")}</script>
</body>
</html>
`;
}
