/**
 * The store's read queries, one copy of the SQL for every reader: the
 * EventStore's own connection (tests, benches) and the reader Workers that
 * answer the API (store-reader.ts).
 *
 * An event query scans a bounded window of ids: at most `maxScan` ids from
 * the cursor, whatever the filters. A page is full (`limit` events), or the
 * window was exhausted, in which case `nextCursor` is the window's edge and
 * the client goes on from there: a page may hold fewer events than `limit`,
 * even none, while `nextCursor` is not null. So no filter, however rare its
 * match (`until=0` on a million rows), makes one query read the whole table.
 */
import type { RecordKind } from "../events/records";
import type { Database } from "bun:sqlite";

export interface EventQuery {
  types?: string[];
  pid?: number;
  agent?: string;
  /** Wall-clock ms, inclusive. */
  since?: number;
  /** Wall-clock ms, exclusive. */
  until?: number;
  /** Events a tool call caused, and its own tool_call events. */
  toolCall?: string;
  limit: number;
  /** The last id of the previous page (or its window's edge). */
  cursor?: number;
  order: "asc" | "desc";
}

/** What an event query filters on, beside its page. */
export type EventFilter = Pick<EventQuery, "types" | "pid" | "agent" | "since" | "until" | "toolCall">;

/** The same filter as eventPage's SQL, for events that are not in the store yet (the live stream). */
export function matchesFilter(f: EventFilter, e: { type: string; pid: number; agent?: string | null; ts: number; toolCallId?: unknown; toolCall?: unknown }): boolean {
  return (
    (f.toolCall === undefined || (e.type === "tool_call" ? e.toolCallId === f.toolCall : typeof e.toolCall === "object" && e.toolCall !== null && (e.toolCall as { id?: string }).id === f.toolCall)) &&
    (!f.types?.length || f.types.includes(e.type)) &&
    (f.pid === undefined || e.pid === f.pid) &&
    (f.agent === undefined || e.agent === f.agent) &&
    (f.since === undefined || e.ts >= f.since) &&
    (f.until === undefined || e.ts < f.until)
  );
}

/** Rows as stored: the event's JSON without its id (the caller adds it without parsing). */
export interface EventRows {
  rows: { id: number; type: string; data: string }[];
  nextCursor: number | null;
  /** The ids the window covered. */
  scanned: number;
}

/** Ids one event query may cover. */
export const DEFAULT_MAX_SCAN = 50_000;

export function idRange(db: Database): { min: number; max: number } | null {
  const r = db.query("SELECT min(id) AS min, max(id) AS max FROM events").get() as { min: number | null; max: number | null };
  return r.min === null || r.max === null ? null : { min: r.min, max: r.max };
}

export function eventPage(db: Database, q: EventQuery, maxScan = DEFAULT_MAX_SCAN): EventRows {
  const range = idRange(db);
  if (!range) return { rows: [], nextCursor: null, scanned: 0 };
  const desc = q.order === "desc";
  // The window [lo, hi) of ids this query may look at.
  let lo: number;
  let hi: number;
  if (desc) {
    hi = Math.min(q.cursor ?? range.max + 1, range.max + 1);
    lo = Math.max(hi - maxScan, range.min);
  } else {
    lo = Math.max(q.cursor !== undefined ? q.cursor + 1 : range.min, range.min);
    hi = Math.min(lo + maxScan, range.max + 1);
  }
  // A tool call's events are found through their own index, whatever their number: no window needed.
  if (q.toolCall !== undefined) {
    if (desc) lo = range.min;
    else hi = range.max + 1;
  }
  if (hi <= lo) return { rows: [], nextCursor: null, scanned: 0 };
  const where = ["id >= ?", "id < ?"];
  const args: (string | number)[] = [lo, hi];
  if (q.types?.length) {
    where.push(`type IN (${q.types.map(() => "?").join(",")})`);
    args.push(...q.types);
  }
  if (q.pid !== undefined) where.push("pid = ?"), args.push(q.pid);
  if (q.agent !== undefined) where.push("agent = ?"), args.push(q.agent);
  if (q.toolCall !== undefined) where.push("tool_call = ?"), args.push(q.toolCall);
  // Unary + keeps the planner off the ts index: a time range would otherwise be walked whole, outside the window.
  if (q.since !== undefined) where.push("+ts >= ?"), args.push(q.since);
  if (q.until !== undefined) where.push("+ts < ?"), args.push(q.until);
  const sql = `SELECT id, type, data FROM events WHERE ${where.join(" AND ")} ORDER BY id ${desc ? "DESC" : "ASC"} LIMIT ?`;
  const rows = db.query(sql).all(...args, q.limit + 1) as { id: number; type: string; data: string }[];
  if (rows.length > q.limit) {
    rows.length = q.limit;
    return { rows, nextCursor: rows.at(-1)!.id, scanned: hi - lo };
  }
  const more = desc ? lo > range.min : hi <= range.max;
  return { rows, nextCursor: more ? (desc ? lo : hi - 1) : null, scanned: hi - lo };
}

/** A stored row as the API returns it: the event's JSON with its id, without parsing it. */
export function withId(row: { id: number; data: string }): string {
  return `${row.data.slice(0, -1)},"id":${row.id}}`;
}

export type { RecordKind };

export interface RecordQuery {
  agent?: string;
  /** findings: the rule; audit: the action */
  label?: string;
  since?: number;
  limit: number;
  /** seq of the last record of the previous page */
  cursor?: number;
}

export function recordPage(db: Database, kind: RecordKind, q: RecordQuery): { rows: string[]; nextCursor: number | null } {
  const where = ["kind = ?"];
  const args: (string | number)[] = [kind];
  if (q.agent !== undefined) where.push("agent = ?"), args.push(q.agent);
  if (q.label !== undefined) where.push("label = ?"), args.push(q.label);
  if (q.since !== undefined) where.push("ts >= ?"), args.push(q.since);
  if (q.cursor !== undefined) where.push("seq < ?"), args.push(q.cursor);
  const rows = db.query(`SELECT seq, data FROM records WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT ?`).all(...args, q.limit + 1) as { seq: number; data: string }[];
  const more = rows.length > q.limit;
  if (more) rows.length = q.limit;
  return { rows: rows.map((r) => r.data), nextCursor: more ? rows.at(-1)!.seq : null };
}

/** Stored events per type, optionally for one agent. */
export function countByType(db: Database, agent?: string): Record<string, number> {
  const rows = (
    agent === undefined ? db.query("SELECT type, count(*) AS n FROM events GROUP BY type").all() : db.query("SELECT type, count(*) AS n FROM events WHERE agent = ? GROUP BY type").all(agent)
  ) as { type: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.type, r.n]));
}
