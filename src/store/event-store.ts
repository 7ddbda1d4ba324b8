/**
 * The embedded event store (bun:sqlite, WAL). Events are queued in memory and
 * handed in batches to a writer Worker (store-writer.ts) that writes each in
 * one transaction, so neither the ring consumer nor the API ever waits on the
 * disk. A full queue (events waiting plus the batch being written) drops
 * events and counts them; a failing write counts them and marks the store
 * unhealthy; a batch the disk holds up too long makes it "stalled". Queries
 * read on this thread through a connection of their own (WAL readers never
 * wait for the writer). A row a query returns was committed, so it survives
 * kill -9 of the service.
 */
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import type { StorableEvent } from "../events/types";
import type { EventColumns, FromWriter, RetentionCounts, ToWriter } from "./store-protocol";
import { countByType, eventPage, recordPage, withId, type EventQuery, type RecordKind, type RecordQuery } from "./queries";
import { StoreReader } from "./store-reader";

export interface StoreOptions {
  dir: string;
  queueLimit?: number;
  flushIntervalMs?: number;
  maxAgeMs?: number;
  maxBytes?: number;
  retentionIntervalMs?: number;
  /** A batch the disk has held up this long makes the store not writable (stalled). */
  stallMs?: number;
  /** Reader Workers answering the API's queries (default 2). */
  readers?: number;
  /** Ids one event query may cover (see queries.ts). */
  maxScan?: number;
  /** Called when a finding or audit entry could not be written (it is also counted). */
  onRecordError?: (kind: RecordKind, id: string, error: string) => void;
}

export type StoredEvent = StorableEvent & { id: number };

/** A committed event with its JSON (as stored, with the id), serialized once for every consumer. */
export interface CommittedEvent {
  event: StoredEvent;
  json: string;
}


export interface StoreStats {
  queued: number;
  written: number;
  droppedQueueFull: number;
  droppedWriteError: number;
  deletedByAge: number;
  deletedBySize: number;
  sizeBytes: number;
  lastError: string | null;
  writable: boolean;
  /** API queries refused because every reader Worker was busy. */
  queriesRefused: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts REAL NOT NULL,
  type TEXT NOT NULL,
  pid INTEGER NOT NULL,
  agent TEXT,
  data TEXT NOT NULL,
  tool_call TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS events_type ON events(type, id);
CREATE INDEX IF NOT EXISTS events_pid ON events(pid, id);
CREATE INDEX IF NOT EXISTS events_agent ON events(agent, id);
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  id TEXT NOT NULL UNIQUE,
  ts REAL NOT NULL,
  agent TEXT,
  label TEXT,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_kind ON records(kind, seq);
CREATE INDEX IF NOT EXISTS records_agent ON records(kind, agent, seq);
`;

/** Findings and audit entries: rare, written at once (not queued), kept apart from event retention. */
export type { EventQuery, RecordKind, RecordQuery } from "./queries";

export class StoreUnavailable extends Error {
  override readonly name = "StoreUnavailable";
}

interface Batch {
  seq: number;
  events: StorableEvent[];
  json: string[];
  sentAt: number;
  done: Promise<number>;
  resolve: (written: number) => void;
}

/**
 * The directory 0700 and the database files 0600, whatever they were: they hold every command line of the
 * machine. SQLite gives the -wal and -shm files it creates the database file's mode, so the database is
 * made 0600 before SQLite first opens it.
 */
function privateFiles(dir: string, db: string): void {
  chmodSync(dir, 0o700);
  if (!existsSync(db)) closeSync(openSync(db, "a", 0o600));
  for (const f of [db, `${db}-wal`, `${db}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

/** Within the service's shutdown grace (4.5 s), with room for the rest of shutdown. */
const CLOSE_TIMEOUT_MS = 3000;

export class EventStore {
  /** This thread's connection, for queries. Null when the database could not be opened (corrupt, unreadable): the store is then broken, not absent. */
  private readonly db: Database | null;
  private readonly writer: Worker | null = null;
  /** Reader Workers for the API's queries; null when the database could not be opened. */
  private readonly readers: StoreReader | null = null;
  private queue: StorableEvent[] = [];
  private readonly commitListeners: ((events: CommittedEvent[]) => void)[] = [];
  /** The batch the writer has and has not answered yet (at most one: the queue absorbs the rest). */
  private inflight: Batch | null = null;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private readonly queueLimit: number;
  private readonly stallMs: number;
  private closed = false;
  private seq = 0;
  private readonly waiting = new Map<number, (m: FromWriter) => void>();
  readonly path: string;
  private readonly counters: Omit<StoreStats, "queued" | "sizeBytes" | "writable" | "queriesRefused"> = {
    written: 0,
    droppedQueueFull: 0,
    droppedWriteError: 0,
    deletedByAge: 0,
    deletedBySize: 0,
    lastError: null,
  };
  /** Findings or audit entries that could not be written. */
  recordWriteErrors = 0;
  /** The last write or probe failed (cleared by the next that succeeds). */
  private failing = false;

  constructor(private readonly options: StoreOptions) {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.path = join(options.dir, "events.db");
    privateFiles(options.dir, this.path);
    this.queueLimit = options.queueLimit ?? 100_000;
    this.stallMs = options.stallMs ?? 5000;
    let db: Database | null = null;
    try {
      db = new Database(this.path, { create: true, strict: true });
      db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 1000;");
      db.exec(SCHEMA);
      // Stores made before tool calls were attributed: the column is added (existing rows have none).
      if (!(db.query("PRAGMA table_info(events)").all() as { name: string }[]).some((c) => c.name === "tool_call")) db.exec("ALTER TABLE events ADD COLUMN tool_call TEXT");
      db.exec("CREATE INDEX IF NOT EXISTS events_tool_call ON events(tool_call, id) WHERE tool_call IS NOT NULL");
    } catch (e) {
      // A corrupt or unreadable file is left as it is (never deleted): reported, not fatal.
      db?.close();
      db = null;
      this.counters.lastError = `cannot open ${this.path}: ${(e as Error).message}`;
      this.failing = true;
    }
    this.db = db;
    if (db) {
      this.readers = new StoreReader({ path: this.path, readers: options.readers, maxScan: options.maxScan });
      this.writer = new Worker(new URL("./store-writer.ts", import.meta.url).href);
      this.writer.onmessage = (e: MessageEvent<FromWriter>) => this.fromWriter(e.data);
      this.writer.onerror = (e) => {
        this.counters.lastError = `store writer failed: ${e.message}`;
        this.failing = true;
      };
      this.post({ op: "open", options: { path: this.path, maxAgeMs: options.maxAgeMs, maxBytes: options.maxBytes, retentionIntervalMs: options.retentionIntervalMs ?? 10_000 } });
    }
    this.timers.push(setInterval(() => this.inflight === null && void this.flush(), options.flushIntervalMs ?? 50));
  }

  private post(m: ToWriter): void {
    this.writer?.postMessage(m);
  }

  /** Send a request and wait for the answer with the same seq. */
  private request(m: ToWriter & { seq: number }): Promise<FromWriter> {
    return new Promise((resolve) => {
      this.waiting.set(m.seq, resolve);
      this.post(m);
    });
  }

  private fromWriter(m: FromWriter): void {
    switch (m.op) {
      case "opened":
        if (m.error) {
          this.counters.lastError = m.error;
          this.failing = true;
        }
        return;
      case "written":
        return this.committed(m.seq, m.ids, m.error);
      case "record":
        break;
      case "probed":
        if (m.error) {
          this.counters.lastError = m.error;
          this.failing = true;
        } else if (this.inflight === null) this.failing = false;
        break;
      case "retained":
        this.counters.deletedByAge += m.counts.byAge;
        this.counters.deletedBySize += m.counts.bySize;
        if (m.error) this.counters.lastError = m.error;
        break;
      case "closed":
        break;
    }
    if ("seq" in m) {
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      w?.(m);
    }
  }

  private committed(seq: number, ids: Float64Array | null, error: string | null): void {
    const batch = this.inflight;
    if (!batch || batch.seq !== seq) return; // answered after a close that gave up on it
    this.inflight = null;
    if (!ids) {
      // Disk full, read-only or corrupt: these events are lost, counted, and the store reports unhealthy.
      this.counters.droppedWriteError += batch.events.length;
      this.counters.lastError = error;
      this.failing = true;
      batch.resolve(0);
      return;
    }
    this.counters.written += ids.length;
    this.failing = false;
    const stored: CommittedEvent[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const event = batch.events[i] as StoredEvent;
      event.id = ids[i]!;
      stored[i] = { event, json: withId({ id: ids[i]!, data: batch.json[i]! }) };
    }
    batch.resolve(ids.length);
    for (const listener of this.commitListeners) listener(stored);
  }

  /** `listener` gets each batch once it is committed (ids assigned), in commit order. */
  onCommitted(listener: (events: CommittedEvent[]) => void): void {
    this.commitListeners.push(listener);
  }

  /** Queue an event for writing; never blocks. Returns false when it was dropped (queue full). */
  add(event: StorableEvent): boolean {
    if (this.closed) return false;
    if (this.queue.length + (this.inflight?.events.length ?? 0) >= this.queueLimit) {
      this.counters.droppedQueueFull++;
      return false;
    }
    this.queue.push(event);
    return true;
  }

  /** Hand what is queued to the writer (after the batch in flight). Resolves with the number written. */
  async flush(): Promise<number> {
    if (this.inflight) await this.inflight.done;
    if (this.queue.length === 0) return 0;
    const events = this.queue;
    this.queue = [];
    if (!this.writer) {
      this.counters.droppedWriteError += events.length;
      return 0;
    }
    const n = events.length;
    const rows: EventColumns = { ts: new Float64Array(n), pid: new Float64Array(n), type: new Array(n), agent: new Array(n), toolCall: new Array(n), data: new Array(n) };
    for (let i = 0; i < n; i++) {
      const e = events[i]!;
      rows.ts[i] = e.ts;
      rows.pid[i] = e.pid;
      rows.type[i] = e.type;
      rows.agent[i] = e.agent ?? null;
      rows.toolCall[i] = toolCallOf(e);
      rows.data[i] = JSON.stringify(e);
    }
    let resolve!: (n: number) => void;
    const done = new Promise<number>((r) => (resolve = r));
    const seq = ++this.seq;
    this.inflight = { seq, events, json: rows.data, sentAt: Date.now(), done, resolve };
    this.writer.postMessage({ op: "write", seq, rows } satisfies ToWriter, { transfer: [rows.ts.buffer as ArrayBuffer, rows.pid.buffer as ArrayBuffer] });
    return done;
  }

  /** The reader pool; throws StoreUnavailable when the store could not be opened or is closed. */
  get reader(): StoreReader {
    if (!this.readers || this.closed) throw new StoreUnavailable(this.counters.lastError ?? "store closed");
    return this.readers;
  }

  private open(): Database {
    if (!this.db || this.closed) throw new StoreUnavailable(this.counters.lastError ?? "store closed");
    return this.db;
  }
  /** On this thread: for tests and benches. The API reads through `reader`, off this thread. */
  query(q: EventQuery): { events: StoredEvent[]; nextCursor: number | null } {
    const page = eventPage(this.open(), q, Number.MAX_SAFE_INTEGER);
    return { events: page.rows.map((r) => JSON.parse(withId(r)) as StoredEvent), nextCursor: page.nextCursor };
  }

  /** Write a finding or an audit entry (soon, by the writer); a failure is counted and reported to onRecordError. */
  addRecord(kind: RecordKind, rec: { id: string; ts: number; agent?: string | null }, label: string): void {
    if (!this.writer || this.closed) {
      this.recordWriteErrors++;
      this.options.onRecordError?.(kind, rec.id, this.counters.lastError ?? "store closed");
      return;
    }
    const seq = ++this.seq;
    void this.request({ op: "record", seq, kind, id: rec.id, ts: rec.ts, agent: rec.agent ?? null, label, data: JSON.stringify(rec) }).then((m) => {
      if (m.op === "record" && m.error) {
        this.recordWriteErrors++;
        this.counters.lastError = m.error;
        this.options.onRecordError?.(kind, rec.id, m.error);
      }
    });
  }

  queryRecords<T>(kind: RecordKind, q: RecordQuery): { records: T[]; nextCursor: number | null } {
    const page = recordPage(this.open(), kind, q);
    return { records: page.rows.map((r) => JSON.parse(r) as T), nextCursor: page.nextCursor };
  }

  /** The time of the newest stored event (epoch ms), or null when there is none. */
  lastEventTs(): number | null {
    const row = this.open().query("SELECT ts FROM events ORDER BY id DESC LIMIT 1").get() as { ts: number } | null;
    return row?.ts ?? null;
  }

  /** Stored events per type, optionally for one agent. */
  countByType(agent?: string): Record<string, number> {
    return countByType(this.open(), agent);
  }

  /** Run retention now (the writer also runs it on its own timer): events older than maxAge, then the oldest beyond maxBytes. */
  async applyRetention(now = Date.now()): Promise<RetentionCounts> {
    if (!this.writer || this.closed) return { byAge: 0, bySize: 0 };
    const m = await this.request({ op: "retention", seq: ++this.seq, now });
    return m.op === "retained" ? m.counts : { byAge: 0, bySize: 0 };
  }

  /** On-disk size: database plus WAL. */
  sizeBytes(): number {
    let n = 0;
    for (const f of [this.path, `${this.path}-wal`]) {
      try {
        n += statSync(f).size;
      } catch {
        /* absent */
      }
    }
    return n;
  }

  /** Ask the writer whether a write transaction can start (answers update checkWritable). */
  async probe(): Promise<void> {
    if (!this.writer || this.closed) return;
    await this.request({ op: "probe", seq: ++this.seq });
  }

  /** Whether writes work (readiness): the last write and probe succeeded and no batch is held up by the disk. */
  checkWritable(now = Date.now()): { ok: boolean; reason?: string } {
    if (this.closed) return { ok: false, reason: "store closed" };
    if (!this.db) return { ok: false, reason: `store unavailable: ${this.counters.lastError}` };
    if (this.inflight && now - this.inflight.sentAt > this.stallMs)
      return { ok: false, reason: `store writes stalled: a batch of ${this.inflight.events.length} events has waited ${((now - this.inflight.sentAt) / 1000).toFixed(1)} s for the disk` };
    if (this.failing) return { ok: false, reason: `store writes failing: ${this.counters.lastError}` };
    return { ok: true };
  }

  stats(): StoreStats {
    return { ...this.counters, queued: this.queue.length + (this.inflight?.events.length ?? 0), sizeBytes: this.sizeBytes(), writable: !this.failing && !this.closed, queriesRefused: this.readers?.refusedBusy ?? 0 };
  }

  /**
   * Write what is queued, then close the writer. Bounded: events the disk
   * holds up longer are counted lost, and the problem is returned.
   */
  async close(): Promise<string | null> {
    if (this.closed) return null;
    let problem: string | null = null;
    for (const t of this.timers) clearInterval(t);
    const writer = this.writer;
    if (writer) {
      const finished = (async () => {
        await this.flush();
        await this.request({ op: "close", seq: ++this.seq });
        return true;
      })();
      const inTime = await Promise.race([finished, Bun.sleep(CLOSE_TIMEOUT_MS).then(() => false)]);
      if (!inTime) {
        this.counters.droppedWriteError += this.queue.length + (this.inflight?.events.length ?? 0);
        problem = `store writer did not finish within ${CLOSE_TIMEOUT_MS} ms; ${this.queue.length + (this.inflight?.events.length ?? 0)} events lost (counted)`;
        this.counters.lastError = problem;
      }
      writer.terminate();
    }
    this.closed = true;
    await this.readers?.close();
    this.db?.close();
    return problem;
  }
}

/** The tool call an event belongs to (a tool_call event: its own), for GET /v1/tool-calls/:id. */
function toolCallOf(e: StorableEvent): string | null {
  if (e.type === "tool_call") return e.toolCallId;
  return "toolCall" in e && e.toolCall && "id" in e.toolCall ? e.toolCall.id : null;
}
