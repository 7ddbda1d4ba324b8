/**
 * Server-Sent Events for committed events. Each subscriber has a bounded
 * buffer: a subscriber too slow to keep up loses events, never the service;
 * it gets an explicit `gap` message with how many it missed, and every
 * missed event is counted. Heartbeats keep idle streams alive.
 */
import type { CommittedEvent, StoredEvent } from "../store/event-store";

export type EventFilter = (e: StoredEvent) => boolean;

/** A run of events this subscriber missed, kept in order among the buffered chunks. */
interface Gap {
  missed: number;
}

interface Subscriber {
  filter: EventFilter;
  buffer: (string | Gap)[];
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** While the store is replayed to a resuming client: live chunks held back, with their event id (records: none). */
  held: ({ id: number | null; chunk: string } | Gap)[] | null;
  /** Resolved when the buffer has room again (the replay waits on it). */
  room: (() => void) | null;
}

/** Where a resuming client (Last-Event-ID) picks up: stored events after `afterId` that pass its filter. */
export interface Resume {
  afterId: number;
  /** The stored events after an id, oldest first, a page at a time. */
  page: (afterId: number, limit: number) => Promise<{ events: { id: number; type: string; json: string }[]; nextCursor: number | null }>;
  /** The oldest id the store still has (null: empty). */
  oldestId: () => Promise<number | null>;
  /** At most this many events are replayed; beyond, a gap says where to read on. */
  limit: number;
}

const sseEvent = (id: number, type: string, json: string) => `id: ${id}\nevent: ${type}\ndata: ${json}\n\n`;
const sseGap = (data: Record<string, unknown>) => `event: gap\ndata: ${JSON.stringify(data)}\n\n`;

const encoder = new TextEncoder();

export class EventStreamHub {
  private readonly subs = new Set<Subscriber>();
  private readonly heartbeat: ReturnType<typeof setInterval>;
  /** Events lost to slow subscribers, over all subscribers. */
  dropped = 0;

  constructor(
    private readonly bufferLimit: number,
    private readonly maxSubscribers: number,
    heartbeatMs: number,
  ) {
    this.heartbeat = setInterval(() => {
      for (const s of this.subs) this.offer(s, `: heartbeat ${Date.now()}\n\n`, false);
    }, heartbeatMs);
  }

  get size(): number {
    return this.subs.size;
  }

  get full(): boolean {
    return this.subs.size >= this.maxSubscribers;
  }

  /**
   * A response streaming the events that pass `filter`, from now on; with `resume`, first the stored ones
   * after the client's Last-Event-ID (live events meanwhile are held back, then sent without repeats).
   */
  subscribe(filter: EventFilter, signal?: AbortSignal, resume?: Resume): Response {
    let sub: Subscriber | null = null;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          sub = { filter, buffer: [], controller, held: resume ? [] : null, room: null };
          this.subs.add(sub);
          controller.enqueue(encoder.encode(`: connected ${Date.now()}\nretry: 1000\n\n`));
          if (resume) void this.replay(sub, resume);
        },
        pull: () => {
          if (sub) this.pump(sub);
        },
        cancel: () => {
          if (sub) this.subs.delete(sub);
        },
      },
      { highWaterMark: 16 },
    );
    signal?.addEventListener("abort", () => sub && this.close(sub));
    return new Response(stream, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" },
    });
  }

  publish(events: CommittedEvent[]): void {
    if (this.subs.size === 0) return;
    for (const s of this.subs) {
      for (const { event, json } of events) {
        if (!s.filter(event)) continue;
        const chunk = sseEvent(event.id, event.type, json);
        if (s.held) this.hold(s, event.id, chunk);
        else this.offer(s, chunk, true);
      }
    }
  }

  /** A live chunk for a subscriber still replaying: kept in order, bounded like its buffer (beyond: a counted gap). */
  private hold(s: Subscriber, id: number | null, chunk: string): void {
    if (s.held!.length >= this.bufferLimit) {
      this.dropped++;
      const last = s.held!.at(-1)!;
      if ("missed" in last) last.missed++;
      else s.held!.push({ missed: 1 });
      return;
    }
    s.held!.push({ id, chunk });
  }

  /**
   * Sends the stored events after the client's last id, page by page as the client reads them, then the
   * live ones held back meanwhile (those already replayed are skipped). Bounded by `resume.limit`; events
   * retention already deleted, or beyond the limit, are named in a gap.
   */
  private async replay(s: Subscriber, resume: Resume): Promise<void> {
    let last = resume.afterId;
    try {
      const oldest = await resume.oldestId();
      if (oldest !== null && oldest > last + 1) {
        this.offer(s, sseGap({ reason: "expired", message: `events after id ${last} up to ${oldest - 1} were deleted by retention`, fromId: last + 1, toId: oldest - 1 }), false);
        last = oldest - 1;
      }
      let sent = 0;
      for (;;) {
        if (!this.subs.has(s)) return;
        // A page fits the free half of the buffer, so a replay never overflows it.
        const page = await resume.page(last, Math.max(1, Math.floor(this.bufferLimit / 2)));
        for (const e of page.events) {
          this.offer(s, sseEvent(e.id, e.type, e.json), true);
          last = e.id;
        }
        sent += page.events.length;
        if (page.nextCursor === null) break;
        last = Math.max(last, page.nextCursor);
        if (sent >= resume.limit) {
          this.offer(s, sseGap({ reason: "resume_limit", message: `resumed ${sent} events (the most one reconnect replays); read on with GET /v1/events?order=asc&cursor=${last}`, afterId: last }), false);
          break;
        }
        // The client reads at its pace: wait until half the buffer is free before the next page.
        if (s.buffer.length > this.bufferLimit / 2) await new Promise<void>((r) => (s.room = r));
      }
    } catch (e) {
      this.offer(s, sseGap({ reason: "resume_failed", message: `could not replay the store: ${(e as Error).message}`, afterId: last }), false);
    }
    const held = s.held ?? [];
    s.held = null;
    for (const h of held) {
      if ("missed" in h) this.offer(s, sseGap({ missed: h.missed }), true);
      else if (h.id === null || h.id > last) this.offer(s, h.chunk, true);
    }
  }

  /**
   * A finding or an audit entry, as `event: finding` / `event: audit`. Stream
   * filters see it as an event of that type, with its agent, pid and time.
   */
  publishRecord(kind: "finding" | "audit", rec: { id: string; ts: number; agent: string | null; pid?: number }, json: string): void {
    if (this.subs.size === 0) return;
    const probe = { type: kind, ts: rec.ts, agent: rec.agent ?? undefined, pid: rec.pid ?? -1 } as unknown as StoredEvent;
    // No `id:` line: a client's Last-Event-ID stays the id of the last stored event it saw (the record's own id is in its data).
    const chunk = `event: ${kind}\ndata: ${json}\n\n`;
    for (const s of this.subs) {
      if (!s.filter(probe)) continue;
      if (s.held) this.hold(s, null, chunk);
      else this.offer(s, chunk, true);
    }
  }

  private offer(s: Subscriber, chunk: string, counted: boolean): void {
    const last = s.buffer.at(-1);
    const pendingGap = typeof last === "object";
    // Once a gap is open, later events join it until the buffer has drained, so order is kept.
    if (s.buffer.length >= this.bufferLimit || pendingGap) {
      if (!counted) return; // heartbeats are not events
      this.dropped++;
      if (pendingGap) last.missed++;
      else s.buffer.push({ missed: 1 });
      this.pump(s);
      return;
    }
    s.buffer.push(chunk);
    this.pump(s);
  }

  /** Move buffered chunks to the stream while it has room, a gap message where events were missed. */
  private pump(s: Subscriber): void {
    try {
      while ((s.controller.desiredSize ?? 0) > 0 && s.buffer.length > 0) {
        const next = s.buffer.shift()!;
        const text = typeof next === "string" ? next : sseGap({ missed: next.missed });
        s.controller.enqueue(encoder.encode(text));
      }
    } catch {
      this.subs.delete(s); // the client went away
    }
    if (s.room && s.buffer.length <= this.bufferLimit / 2) {
      const r = s.room;
      s.room = null;
      r();
    }
  }

  private close(s: Subscriber): void {
    this.subs.delete(s);
    s.room?.(); // a replay waiting for room ends
    try {
      s.controller.close();
    } catch {
      /* already closed */
    }
  }

  closeAll(): void {
    clearInterval(this.heartbeat);
    for (const s of [...this.subs]) this.close(s);
  }
}
