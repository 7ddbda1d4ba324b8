/**
 * The embedded event store (bun:sqlite, WAL). Events are queued in memory and
 * written in batches inside transactions on a timer, so the ring consumer
 * never waits on the disk; a full queue drops events and counts them, a
 * failing write counts them and marks the store unhealthy. A row a query
 * returns was committed, so it survives kill -9 of the service.
 */
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { VigilEvent } from "../events/types";

export interface StoreOptions {
  dir: string;
  queueLimit?: number;
  flushIntervalMs?: number;
  maxAgeMs?: number;
  maxBytes?: number;
  retentionIntervalMs?: number;
  /** Called with each batch once it is committed (ids assigned). */
  onCommitted?: (events: CommittedEvent[]) => void;
}

export type StoredEvent = VigilEvent & { id: number };

/** A committed event with its JSON (as stored, with the id), serialized once for every consumer. */
export interface CommittedEvent {
  event: StoredEvent;
  json: string;
}

export interface EventQuery {
  types?: string[];
  pid?: number;
  agent?: string;
  /** Wall-clock ms, inclusive. */
  since?: number;
  /** Wall-clock ms, exclusive. */
  until?: number;
  limit: number;
  /** The last id of the previous page. */
  cursor?: number;
  order: "asc" | "desc";
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
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts REAL NOT NULL,
  type TEXT NOT NULL,
  pid INTEGER NOT NULL,
  agent TEXT,
  data TEXT NOT NULL
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
export type RecordKind = "finding" | "audit";

export interface RecordQuery {
  agent?: string;
  /** findings: the rule; audit: the action */
  label?: string;
  since?: number;
  limit: number;
  /** seq of the last record of the previous page */
  cursor?: number;
}

export class StoreUnavailable extends Error {
  override readonly name = "StoreUnavailable";
}

export class EventStore {
  /** Null when the database could not be opened (corrupt, unreadable): the store is then broken, not absent. */
  private readonly db: Database | null;
  private readonly insert: Statement | null;
  private queue: VigilEvent[] = [];
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private readonly queueLimit: number;
  private closed = false;
  readonly path: string;
  private readonly s: Omit<StoreStats, "queued" | "sizeBytes" | "writable"> = {
    written: 0,
    droppedQueueFull: 0,
    droppedWriteError: 0,
    deletedByAge: 0,
    deletedBySize: 0,
    lastError: null,
  };
  /** Findings or audit entries that could not be written (also logged by the caller). */
  recordWriteErrors = 0;
  private failing = false;

  constructor(private readonly options: StoreOptions) {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.path = join(options.dir, "events.db");
    let db: Database | null = null;
    let insert: Statement | null = null;
    try {
      db = new Database(this.path, { create: true, strict: true });
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 1000;");
      db.exec(SCHEMA);
      insert = db.prepare("INSERT INTO events (ts, type, pid, agent, data) VALUES (?, ?, ?, ?, ?)");
    } catch (e) {
      // A corrupt or unreadable file is left as it is (never deleted): reported, not fatal.
      db?.close();
      db = null;
      insert = null;
      this.s.lastError = `cannot open ${this.path}: ${(e as Error).message}`;
      this.failing = true;
    }
    this.db = db;
    this.insert = insert;
    this.queueLimit = options.queueLimit ?? 100_000;
    this.timers.push(setInterval(() => this.flush(), options.flushIntervalMs ?? 50));
    this.timers.push(setInterval(() => this.applyRetention(), options.retentionIntervalMs ?? 10_000));
  }

  /** Queue an event for writing; never blocks. Returns false when it was dropped (queue full). */
  add(event: VigilEvent): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.queueLimit) {
      this.s.droppedQueueFull++;
      return false;
    }
    this.queue.push(event);
    return true;
  }

  /** Write what is queued, in one transaction. Returns the number written. */
  flush(): number {
    if (this.queue.length === 0 || this.closed) return 0;
    const batch = this.queue;
    this.queue = [];
    const stored: CommittedEvent[] = [];
    const { db, insert } = this;
    if (!db || !insert) {
      this.s.droppedWriteError += batch.length;
      return 0;
    }
    try {
      db.transaction(() => {
        for (const e of batch) {
          const data = JSON.stringify(e);
          const id = Number(insert.run(e.ts, e.type, e.pid, e.agent ?? null, data).lastInsertRowid);
          const event = e as StoredEvent;
          event.id = id;
          stored.push({ event, json: `${data.slice(0, -1)},"id":${id}}` });
        }
      })();
      this.s.written += batch.length;
      this.failing = false;
    } catch (e) {
      // Disk full, read-only or corrupt: these events are lost, counted, and the store reports unhealthy.
      this.s.droppedWriteError += batch.length;
      this.s.lastError = (e as Error).message;
      this.failing = true;
      return 0;
    }
    this.options.onCommitted?.(stored);
    return batch.length;
  }

  private open(): Database {
    if (!this.db || this.closed) throw new StoreUnavailable(this.s.lastError ?? "store closed");
    return this.db;
  }

  query(q: EventQuery): { events: StoredEvent[]; nextCursor: number | null } {
    const db = this.open();
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.types?.length) {
      where.push(`type IN (${q.types.map(() => "?").join(",")})`);
      args.push(...q.types);
    }
    if (q.pid !== undefined) where.push("pid = ?"), args.push(q.pid);
    if (q.agent !== undefined) where.push("agent = ?"), args.push(q.agent);
    if (q.since !== undefined) where.push("ts >= ?"), args.push(q.since);
    if (q.until !== undefined) where.push("ts < ?"), args.push(q.until);
    if (q.cursor !== undefined) where.push(q.order === "desc" ? "id < ?" : "id > ?"), args.push(q.cursor);
    const sql = `SELECT id, data FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id ${q.order === "desc" ? "DESC" : "ASC"} LIMIT ?`;
    const rows = db.query(sql).all(...args, q.limit + 1) as { id: number; data: string }[];
    const page = rows.slice(0, q.limit);
    return {
      events: page.map((r) => ({ ...(JSON.parse(r.data) as VigilEvent), id: r.id })),
      nextCursor: rows.length > q.limit ? page.at(-1)!.id : null,
    };
  }

  /** Write a finding or an audit entry now. Returns false (counted) when the write failed. */
  addRecord(kind: RecordKind, rec: { id: string; ts: number; agent?: string | null }, label: string): boolean {
    try {
      this.open().run("INSERT INTO records (kind, id, ts, agent, label, data) VALUES (?, ?, ?, ?, ?, ?)", [kind, rec.id, rec.ts, rec.agent ?? null, label, JSON.stringify(rec)]);
      return true;
    } catch (e) {
      this.recordWriteErrors++;
      this.s.lastError = (e as Error).message;
      return false;
    }
  }

  queryRecords<T>(kind: RecordKind, q: RecordQuery): { records: T[]; nextCursor: number | null } {
    const db = this.open();
    const where = ["kind = ?"];
    const args: (string | number)[] = [kind];
    if (q.agent !== undefined) where.push("agent = ?"), args.push(q.agent);
    if (q.label !== undefined) where.push("label = ?"), args.push(q.label);
    if (q.since !== undefined) where.push("ts >= ?"), args.push(q.since);
    if (q.cursor !== undefined) where.push("seq < ?"), args.push(q.cursor);
    const rows = db.query(`SELECT seq, data FROM records WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT ?`).all(...args, q.limit + 1) as { seq: number; data: string }[];
    const page = rows.slice(0, q.limit);
    return { records: page.map((r) => JSON.parse(r.data) as T), nextCursor: rows.length > q.limit ? page.at(-1)!.seq : null };
  }

  /** Stored events per type, optionally for one agent. */
  countByType(agent?: string): Record<string, number> {
    const db = this.open();
    const rows = (
      agent === undefined
        ? db.query("SELECT type, count(*) AS n FROM events GROUP BY type").all()
        : db.query("SELECT type, count(*) AS n FROM events WHERE agent = ? GROUP BY type").all(agent)
    ) as { type: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.type, r.n]));
  }

  /** Delete events older than maxAge, then the oldest until the database is under maxBytes. */
  applyRetention(now = Date.now()): { byAge: number; bySize: number } {
    if (this.closed || !this.db) return { byAge: 0, bySize: 0 };
    const db = this.db;
    let byAge = 0;
    let bySize = 0;
    try {
      if (this.options.maxAgeMs) byAge = db.run("DELETE FROM events WHERE ts < ?", [now - this.options.maxAgeMs]).changes;
      const maxBytes = this.options.maxBytes;
      if (maxBytes) {
        for (let round = 0; round < 100 && this.usedBytes() > maxBytes; round++) {
          const total = (db.query("SELECT count(*) AS n FROM events").get() as { n: number }).n;
          if (total === 0) break;
          const n = Math.max(1, Math.ceil(total * 0.1));
          bySize += db.run("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id ASC LIMIT ?)", [n]).changes;
        }
      }
      if (byAge + bySize > 0) db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (e) {
      this.s.lastError = (e as Error).message;
    }
    this.s.deletedByAge += byAge;
    this.s.deletedBySize += bySize;
    return { byAge, bySize };
  }

  /** Bytes the rows occupy (pages in use, free pages excluded): what retention by size bounds. */
  private usedBytes(): number {
    const db = this.open();
    const q = (p: string) => Object.values(db.query(`PRAGMA ${p}`).get() as Record<string, number>)[0]!;
    return (q("page_count") - q("freelist_count")) * q("page_size");
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

  /** Whether a write works right now (readiness). */
  checkWritable(): { ok: boolean; reason?: string } {
    if (this.closed) return { ok: false, reason: "store closed" };
    if (!this.db) return { ok: false, reason: `store unavailable: ${this.s.lastError}` };
    if (this.failing) return { ok: false, reason: `store writes failing: ${this.s.lastError}` };
    try {
      this.db.exec("BEGIN IMMEDIATE; ROLLBACK;");
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: `store not writable: ${(e as Error).message}` };
    }
  }

  stats(): StoreStats {
    return { ...this.s, queued: this.queue.length, sizeBytes: this.sizeBytes(), writable: !this.failing && !this.closed };
  }

  /** Flush what is queued and close. */
  close(): void {
    if (this.closed) return;
    for (const t of this.timers) clearInterval(t);
    this.flush();
    this.closed = true;
    try {
      this.db?.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch {
      /* best effort */
    }
    this.db?.close();
  }
}
