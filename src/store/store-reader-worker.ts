/**
 * One reader of the store, in a Worker of its own: the API's queries run
 * here, on a read-only connection (WAL readers never wait for the writer),
 * so a query that takes long holds up this thread and never the one that
 * drains the kernel rings and answers /healthz.
 */
import { Database } from "bun:sqlite";
import { countByType, eventPage, idRange, recordPage } from "./queries";
import type { FromReader, ToReader } from "./store-protocol";

declare const self: Worker;

let db: Database | null = null;

function answer(m: ToReader): FromReader {
  if (m.op === "open") {
    try {
      db = new Database(m.path, { readonly: true, strict: true });
      db.exec("PRAGMA busy_timeout = 1000; PRAGMA query_only = 1;");
      return { seq: m.seq, ok: true, result: null };
    } catch (e) {
      return { seq: m.seq, ok: false, error: `cannot open ${m.path} for reading: ${(e as Error).message}` };
    }
  }
  if (!db) return { seq: m.seq, ok: false, error: "store reader not open" };
  try {
    switch (m.op) {
      case "events":
        return { seq: m.seq, ok: true, result: eventPage(db, m.query, m.maxScan) };
      case "records":
        return { seq: m.seq, ok: true, result: recordPage(db, m.kind, m.query) };
      case "count":
        return { seq: m.seq, ok: true, result: countByType(db, m.agent) };
      case "range":
        return { seq: m.seq, ok: true, result: idRange(db) };
      case "close":
        db.close();
        db = null;
        return { seq: m.seq, ok: true, result: null };
    }
  } catch (e) {
    return { seq: m.seq, ok: false, error: (e as Error).message };
  }
}

self.onmessage = (e: MessageEvent<ToReader>) => self.postMessage(answer(e.data));
