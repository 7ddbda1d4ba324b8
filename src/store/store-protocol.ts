/** Messages between the EventStore (the service's thread) and its writer Worker (store-writer.ts). */
import type { EventQuery, RecordKind, RecordQuery } from "./queries";

export interface WriterOptions {
  path: string;
  maxAgeMs?: number;
  maxBytes?: number;
  retentionIntervalMs: number;
}

/** A batch of events, by column: fewer objects to clone across threads than one per event. */
export interface EventColumns {
  ts: Float64Array;
  pid: Float64Array;
  type: string[];
  agent: (string | null)[];
  /** The id of the tool call that caused each event (null: none). */
  toolCall: (string | null)[];
  /** Each event's JSON, made once on the service thread (streams send the same text). */
  data: string[];
}

export type ToWriter =
  | { op: "open"; options: WriterOptions }
  | { op: "write"; seq: number; rows: EventColumns }
  | { op: "record"; seq: number; kind: string; id: string; ts: number; agent: string | null; label: string; data: string }
  | { op: "probe"; seq: number }
  | { op: "retention"; seq: number; now: number }
  | { op: "close"; seq: number };

export interface RetentionCounts {
  byAge: number;
  bySize: number;
}

export type FromWriter =
  | { op: "opened"; error: string | null }
  | { op: "written"; seq: number; ids: Float64Array | null; error: string | null }
  | { op: "record"; seq: number; error: string | null }
  | { op: "probed"; seq: number; error: string | null }
  | { op: "retained"; seq: number; counts: RetentionCounts; error: string | null }
  | { op: "closed"; seq: number };

/** Requests to a reader Worker (store-reader-worker.ts); each is answered by one FromReader with its seq. */
export type ToReader =
  | { op: "open"; seq: number; path: string }
  | { op: "events"; seq: number; query: EventQuery; maxScan: number }
  | { op: "records"; seq: number; kind: RecordKind; query: RecordQuery }
  | { op: "count"; seq: number; agent?: string }
  | { op: "range"; seq: number }
  | { op: "close"; seq: number };

export type FromReader = { seq: number; ok: true; result: unknown } | { seq: number; ok: false; error: string };
