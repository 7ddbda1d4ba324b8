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
}

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

  /** A response streaming the events that pass `filter`, from now on. */
  subscribe(filter: EventFilter, signal?: AbortSignal): Response {
    let sub: Subscriber | null = null;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          sub = { filter, buffer: [], controller };
          this.subs.add(sub);
          controller.enqueue(encoder.encode(`: connected ${Date.now()}\nretry: 1000\n\n`));
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
        this.offer(s, `id: ${event.id}\nevent: ${event.type}\ndata: ${json}\n\n`, true);
      }
    }
  }

  /**
   * A finding or an audit entry, as `event: finding` / `event: audit`. Stream
   * filters see it as an event of that type, with its agent, pid and time.
   */
  publishRecord(kind: "finding" | "audit", rec: { id: string; ts: number; agent: string | null; pid?: number }, json: string): void {
    if (this.subs.size === 0) return;
    const probe = { type: kind, ts: rec.ts, agent: rec.agent ?? undefined, pid: rec.pid ?? -1 } as unknown as StoredEvent;
    for (const s of this.subs) if (s.filter(probe)) this.offer(s, `id: ${rec.id}\nevent: ${kind}\ndata: ${json}\n\n`, true);
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
        const text = typeof next === "string" ? next : `event: gap\ndata: ${JSON.stringify({ missed: next.missed })}\n\n`;
        s.controller.enqueue(encoder.encode(text));
      }
    } catch {
      this.subs.delete(s); // the client went away
    }
  }

  private close(s: Subscriber): void {
    this.subs.delete(s);
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
