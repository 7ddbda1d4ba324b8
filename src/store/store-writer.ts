/**
 * The store's writer, in a Worker of its own: every write to the database
 * (event batches, findings and audit entries, retention, the writability
 * probe) happens here, so a slow or failing disk stalls this thread and never
 * the one that drains the kernel rings and serves the API. One connection,
 * one message at a time, in the order sent.
 */
import { Database, type Statement } from "bun:sqlite";
import type { FromWriter, RetentionCounts, ToWriter, WriterOptions } from "./store-protocol";

declare const self: Worker;

let db: Database | null = null;
let insert: Statement | null = null;
let options: WriterOptions | null = null;
let retentionTimer: ReturnType<typeof setInterval> | null = null;

const reply = (m: FromWriter, transfer: ArrayBuffer[] = []) => self.postMessage(m, { transfer });
const message = (e: unknown) => (e as Error).message ?? String(e);

function open(o: WriterOptions): string | null {
  options = o;
  try {
    db = new Database(o.path, { strict: true });
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 1000;");
    insert = db.prepare("INSERT INTO events (ts, type, pid, agent, data, tool_call) VALUES (?, ?, ?, ?, ?, ?)");
  } catch (e) {
    db?.close();
    db = null;
    return `cannot open ${o.path} for writing: ${message(e)}`;
  }
  retentionTimer = setInterval(() => {
    const r = retention(Date.now());
    reply({ op: "retained", seq: 0, counts: r.counts, error: r.error }); // seq 0: the writer's own round
  }, o.retentionIntervalMs);
  return null;
}

/** Delete events older than maxAge, then the oldest until the rows fit in maxBytes. */
function retention(now: number): { counts: RetentionCounts; error: string | null } {
  const counts = { byAge: 0, bySize: 0 };
  if (!db || !options) return { counts, error: "store not open" };
  try {
    if (options.maxAgeMs) counts.byAge = db.run("DELETE FROM events WHERE ts < ?", [now - options.maxAgeMs]).changes;
    const maxBytes = options.maxBytes;
    if (maxBytes) {
      for (let round = 0; round < 100 && usedBytes(db) > maxBytes; round++) {
        const total = (db.query("SELECT count(*) AS n FROM events").get() as { n: number }).n;
        if (total === 0) break;
        const n = Math.max(1, Math.ceil(total * 0.1));
        counts.bySize += db.run("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id ASC LIMIT ?)", [n]).changes;
      }
    }
    if (counts.byAge + counts.bySize > 0) db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    return { counts, error: null };
  } catch (e) {
    return { counts, error: message(e) };
  }
}

/** Bytes the rows occupy (pages in use, free pages excluded): what retention by size bounds. */
function usedBytes(d: Database): number {
  const q = (p: string) => Object.values(d.query(`PRAGMA ${p}`).get() as Record<string, number>)[0]!;
  return (q("page_count") - q("freelist_count")) * q("page_size");
}

function handle(m: ToWriter): void {
  switch (m.op) {
    case "open":
      return reply({ op: "opened", error: open(m.options) });
    case "write": {
      if (!db || !insert) return reply({ op: "written", seq: m.seq, ids: null, error: "store not open" });
      const r = m.rows;
      const ids = new Float64Array(r.data.length);
      const stmt = insert;
      try {
        db.transaction(() => {
          for (let i = 0; i < ids.length; i++) ids[i] = Number(stmt.run(r.ts[i]!, r.type[i]!, r.pid[i]!, r.agent[i]!, r.data[i]!, r.toolCall[i]!).lastInsertRowid);
        })();
      } catch (e) {
        return reply({ op: "written", seq: m.seq, ids: null, error: message(e) });
      }
      return reply({ op: "written", seq: m.seq, ids, error: null }, [ids.buffer as ArrayBuffer]);
    }
    case "record":
      try {
        if (!db) throw new Error("store not open");
        db.run("INSERT INTO records (kind, id, ts, agent, label, data) VALUES (?, ?, ?, ?, ?, ?)", [m.kind, m.id, m.ts, m.agent, m.label, m.data]);
        return reply({ op: "record", seq: m.seq, error: null });
      } catch (e) {
        return reply({ op: "record", seq: m.seq, error: message(e) });
      }
    case "probe":
      try {
        if (!db) throw new Error("store not open");
        db.exec("BEGIN IMMEDIATE; ROLLBACK;");
        return reply({ op: "probed", seq: m.seq, error: null });
      } catch (e) {
        return reply({ op: "probed", seq: m.seq, error: message(e) });
      }
    case "retention": {
      const r = retention(m.now);
      return reply({ op: "retained", seq: m.seq, counts: r.counts, error: r.error });
    }
    case "close":
      if (retentionTimer) clearInterval(retentionTimer);
      try {
        db?.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      } catch {
        /* best effort */
      }
      db?.close();
      db = null;
      return reply({ op: "closed", seq: m.seq });
  }
}

self.onmessage = (e: MessageEvent<ToWriter>) => handle(e.data);
