/**
 * Tool-call spans: an agent runtime opens a span (trace id, span id, name)
 * around a tool call and closes it after; every kernel event of that agent
 * (or of one process subtree of it) inside the span's time window carries
 * the span. Events are matched by their kernel timestamp, so an event that
 * is drained after the span closed is still attributed to it.
 */
import type { ProcessTree } from "../proc/process-tree";
import type { VigilEvent } from "../events/types";

export interface Span {
  traceId: string;
  spanId: string;
  name: string;
  agent: string;
  /** Only this process and its descendants (default: the whole agent). */
  pid?: number;
  /** Wall-clock ms. */
  start: number;
  end: number | null;
  events: number;
}

export class SpanError extends Error {
  override readonly name = "SpanError";
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** W3C trace context: version-traceid-parentid-flags; all-zero ids are invalid. */
export function parseTraceparent(header: string): { traceId: string; spanId: string } {
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m || m[1] === "ff") throw new SpanError(`traceparent ${JSON.stringify(header)} is not W3C trace context (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)`);
  if (/^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) throw new SpanError("traceparent: trace id and span id must not be all zeros");
  return { traceId: m[2]!, spanId: m[3]! };
}

/** Closed spans are kept this long for events still in flight, then forgotten (their record is in the store). */
const CLOSED_KEEP_MS = 10_000;
const MAX_OPEN_PER_AGENT = 1024;

export class SpanTracker {
  private readonly byAgent = new Map<string, Span[]>();

  constructor(private readonly tree: ProcessTree) {}

  open(span: Omit<Span, "start" | "end" | "events">, now = Date.now()): Span {
    const list = this.byAgent.get(span.agent) ?? [];
    this.prune(list, now);
    if (list.some((s) => s.spanId === span.spanId && s.end === null)) throw new SpanError(`span ${span.spanId} is already open for agent ${span.agent}`);
    if (list.filter((s) => s.end === null).length >= MAX_OPEN_PER_AGENT) throw new SpanError(`agent ${span.agent} has ${MAX_OPEN_PER_AGENT} open spans already`);
    const s: Span = { ...span, start: now, end: null, events: 0 };
    list.push(s);
    this.byAgent.set(span.agent, list);
    return s;
  }

  close(agent: string, spanId: string, now = Date.now()): Span {
    const s = this.byAgent.get(agent)?.find((x) => x.spanId === spanId && x.end === null);
    if (!s) throw new SpanError(`no open span ${spanId} for agent ${agent}`);
    s.end = now;
    return s;
  }

  list(agent: string): Span[] {
    return [...(this.byAgent.get(agent) ?? [])];
  }

  /** Give the event the innermost (latest opened) span it falls in. */
  attribute(e: VigilEvent): void {
    if (!e.agent) return;
    const list = this.byAgent.get(e.agent);
    if (!list || list.length === 0) return;
    let best: Span | undefined;
    for (const s of list) {
      if (e.ts < s.start || (s.end !== null && e.ts >= s.end)) continue;
      if (s.pid !== undefined && s.pid !== e.pid && !this.tree.ancestry(e.pid).some((a) => a.pid === s.pid)) continue;
      if (!best || s.start >= best.start) best = s;
    }
    if (best) {
      best.events++;
      e.span = { traceId: best.traceId, spanId: best.spanId, name: best.name };
    }
  }

  private prune(list: Span[], now: number): void {
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.end !== null && now - list[i]!.end! > CLOSED_KEEP_MS) list.splice(i, 1);
  }

  forgetAgent(agent: string): void {
    this.byAgent.delete(agent);
  }
}
