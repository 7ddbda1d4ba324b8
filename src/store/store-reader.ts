/**
 * A small pool of reader Workers (store-reader-worker.ts) that answers the
 * API's store queries off the service's thread. Each query goes to the
 * reader with the fewest waiting; when `maxPending` are waiting in all, a
 * new query is refused at once (StoreBusy: the API answers 503 with
 * Retry-After) instead of queueing without bound.
 */
import type { EventQuery, EventRows, RecordKind, RecordQuery } from "./queries";
import { DEFAULT_MAX_SCAN } from "./queries";
import type { FromReader, ToReader } from "./store-protocol";

export class StoreBusy extends Error {
  override readonly name = "StoreBusy";
}

export class StoreReadError extends Error {
  override readonly name = "StoreReadError";
}

interface Reader {
  worker: Worker;
  waiting: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
}

/** Distributes the union of ToReader over its members, so each request keeps its own fields. */
type Request = ToReader extends infer T ? (T extends { seq: number } ? Omit<T, "seq"> : never) : never;

export interface StoreReaderOptions {
  path: string;
  readers?: number;
  maxPending?: number;
  maxScan?: number;
}

export class StoreReader {
  private readonly readers: Reader[] = [];
  private seq = 0;
  private closed = false;
  readonly maxScan: number;
  private readonly maxPending: number;
  /** Queries refused because every reader was busy. */
  refusedBusy = 0;

  constructor(options: StoreReaderOptions) {
    this.maxScan = options.maxScan ?? DEFAULT_MAX_SCAN;
    this.maxPending = options.maxPending ?? 32;
    for (let i = 0; i < (options.readers ?? 2); i++) {
      const worker = new Worker(new URL("./store-reader-worker.ts", import.meta.url).href);
      const reader: Reader = { worker, waiting: new Map() };
      worker.onmessage = (e: MessageEvent<FromReader>) => {
        const w = reader.waiting.get(e.data.seq);
        if (!w) return;
        reader.waiting.delete(e.data.seq);
        if (e.data.ok) w.resolve(e.data.result);
        else w.reject(new StoreReadError(e.data.error));
      };
      worker.onerror = (e) => {
        for (const w of reader.waiting.values()) w.reject(new StoreReadError(`store reader failed: ${e.message}`));
        reader.waiting.clear();
      };
      this.readers.push(reader);
      // Not awaited, and not counted as a waiting query: an open that failed is reported by each query that follows.
      worker.postMessage({ op: "open", path: options.path, seq: ++this.seq } satisfies ToReader);
    }
  }

  private pending(): number {
    let n = 0;
    for (const r of this.readers) n += r.waiting.size;
    return n;
  }

  private send<T>(reader: Reader, request: Request): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      reader.waiting.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      reader.worker.postMessage({ ...request, seq } as ToReader);
    });
  }

  private ask<T>(request: Request): Promise<T> {
    if (this.closed) return Promise.reject(new StoreReadError("store closed"));
    if (this.pending() >= this.maxPending) {
      this.refusedBusy++;
      return Promise.reject(new StoreBusy(`${this.maxPending} store queries are already waiting; try again shortly`));
    }
    let best = this.readers[0]!;
    for (const r of this.readers) if (r.waiting.size < best.waiting.size) best = r;
    return this.send<T>(best, request);
  }

  events(query: EventQuery, maxScan = this.maxScan): Promise<EventRows> {
    return this.ask({ op: "events", query, maxScan });
  }

  records(kind: RecordKind, query: RecordQuery): Promise<{ rows: string[]; nextCursor: number | null }> {
    return this.ask({ op: "records", kind, query });
  }

  countByType(agent?: string): Promise<Record<string, number>> {
    return this.ask({ op: "count", agent });
  }

  idRange(): Promise<{ min: number; max: number } | null> {
    return this.ask({ op: "range" });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.race([Promise.allSettled(this.readers.map((r) => this.send(r, { op: "close" }))), Bun.sleep(1000)]);
    for (const r of this.readers) r.worker.terminate();
  }
}
