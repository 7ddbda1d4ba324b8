import { Elysia, t } from "elysia";
import type { StoredEvent } from "../../store/event-store";
import { matchesFilter, withId } from "../../store/queries";
import type { VigilService } from "../vigil-service";
import type { Resume } from "../../sinks/event-stream-hub";
import { BadRequest, documented, ErrorBody, jsonResponse, quoted, EventFilterQuery, PageQuery, parseTime, checkQuery, StreamFilterQuery, notFound } from "./schemas";

/** GET /v1/llm-calls filters: those of /v1/events but the type. */
const { type: _type, ...LlmCallQuery } = EventFilterQuery;

interface Filters {
  type?: string;
  pid?: number;
  agent?: string;
  since?: string;
  until?: string;
  toolCall?: string;
}

function compile(q: Filters) {
  const types = q.type?.split(",");
  const since = parseTime("since", q.since);
  const until = parseTime("until", q.until);
  if (since !== undefined && until !== undefined && since >= until) throw new BadRequest("invalid_query", "since must be earlier than until");
  return { types, pid: q.pid, agent: q.agent, since, until, toolCall: q.toolCall };
}

/** The most stored events one reconnect replays (Last-Event-ID); beyond, a gap says where to read on. */
export const RESUME_LIMIT = 10_000;

export function eventRoutes(service: VigilService) {
  return new Elysia({ name: "vigil-events" })
    .get(
      "/events",
      async ({ query }) => {
        const f = compile(query);
        const page = await service.store.reader.events({ ...f, limit: query.limit ?? 100, cursor: query.cursor, order: query.order ?? "desc" });
        // The stored JSON goes out as it is, with its id: no parse and no stringify on the service's thread.
        return jsonResponse(`{"events":[${page.rows.map(withId).join(",")}],"nextCursor":${page.nextCursor}}`);
      },
      {
        query: t.Object({ ...EventFilterQuery, ...PageQuery }, { additionalProperties: false }),
        beforeHandle: checkQuery({ ...EventFilterQuery, ...PageQuery }),
        response: { 200: t.Object({ events: t.Array(t.Unknown({ description: "An event (see README: event fields) with its store id" })), nextCursor: t.Union([t.Number(), t.Null()]) }), 400: ErrorBody, 401: ErrorBody },
        detail: {
          summary: "Stored events, filtered, with stable cursor pagination",
          description:
            "Newest first by default (order=desc). Pass nextCursor as cursor for the next page; null means no more. One query looks at a bounded window of ids (store.maxScan), so a page may hold fewer events than limit, even none, while nextCursor is not null: go on until it is null.",
          tags: ["events"],
        },
      },
    )
    .get(
      "/llm-calls",
      async ({ query }) => {
        const f = compile(query);
        const page = await service.store.reader.events({ ...f, types: ["llm_call"], limit: query.limit ?? 100, cursor: query.cursor, order: query.order ?? "desc" });
        return jsonResponse(`{"llmCalls":[${page.rows.map(withId).join(",")}],"nextCursor":${page.nextCursor}}`);
      },
      {
        query: t.Object({ ...LlmCallQuery, ...PageQuery }, { additionalProperties: false }),
        beforeHandle: checkQuery({ ...LlmCallQuery, ...PageQuery }),
        response: { 200: t.Object({ llmCalls: t.Array(t.Unknown({ description: "An llm_call event (README: agent intent) with its store id" })), nextCursor: t.Union([t.Number(), t.Null()]) }), 400: ErrorBody, 401: ErrorBody },
        detail: { summary: "LLM calls read from agents' TLS traffic, newest first, paginated like /v1/events", tags: ["intent"] },
      },
    )
    .get(
      "/tool-calls/:id",
      async ({ params, query }) => {
        const page = await service.store.reader.events({ toolCall: params.id, limit: query.limit ?? 1000, cursor: query.cursor, order: "asc" });
        const own = page.rows.filter((r) => r.type === "tool_call");
        if (own.length === 0 && query.cursor === undefined) throw notFound(`no tool call ${quoted(params.id)} is stored`);
        const caused = page.rows.filter((r) => r.type !== "tool_call");
        // The call itself: its ended record (with its effects) when it has ended, else its start.
        const call = own.find((r) => r.data.includes('"phase":"ended"')) ?? own[0];
        return jsonResponse(`{"toolCall":${call ? withId(call) : "null"},"events":[${caused.map(withId).join(",")}],"nextCursor":${page.nextCursor}}`);
      },
      {
        params: t.Object({ id: t.String({ minLength: 1, maxLength: 256, description: "The id the model gave the tool call" }) }),
        query: t.Object(PageQuery, { additionalProperties: false }),
        beforeHandle: checkQuery(PageQuery),
        response: { 200: t.Object({ toolCall: t.Unknown({ description: "The tool_call event: ended (with effects) or, while open, started" }), events: t.Array(t.Unknown()), nextCursor: t.Union([t.Number(), t.Null()]) }), 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
        detail: { summary: "A tool call and the events it caused, oldest first", tags: ["intent"] },
      },
    )
    .get(
      "/events/stream",
      ({ query, request, set }) => {
        const f = compile(query);
        if (service.hub.full) {
          set.status = 503;
          return { error: "too_many_streams", message: `at most ${service.config.streams.maxSubscribers} streams may be open` };
        }
        const resumeFrom = request.headers.get("last-event-id");
        let resume: Resume | undefined;
        if (resumeFrom !== null && resumeFrom !== "") {
          if (!/^(0|[1-9][0-9]{0,15})$/.test(resumeFrom)) throw new BadRequest("invalid_header", `Last-Event-ID: ${quoted(resumeFrom)} is not an event id (a decimal integer)`);
          const reader = service.store.reader;
          resume = {
            afterId: Number(resumeFrom),
            limit: RESUME_LIMIT,
            oldestId: async () => (await reader.idRange())?.min ?? null,
            page: async (afterId, limit) => {
              const p = await reader.events({ ...f, cursor: afterId, limit, order: "asc" });
              return { events: p.rows.map((r) => ({ id: r.id, type: r.type, json: withId(r) })), nextCursor: p.nextCursor };
            },
          };
        }
        return service.hub.subscribe((e: StoredEvent) => matchesFilter(f, e), request.signal, resume);
      },
      {
        query: t.Object(StreamFilterQuery, { additionalProperties: false }),
        beforeHandle: checkQuery(StreamFilterQuery),
        detail: {
          summary: "Live events as Server-Sent Events",
          description:
            "Each committed event as `event: <type>` with `id: <store id>`; findings and audit entries as `event: finding` / `event: audit` (without an id line, so Last-Event-ID stays an event id). A client that reconnects with `Last-Event-ID` first gets the stored events after that id that pass its filters (at most 10000; older ones deleted by retention, or more than that, are named in an `event: gap` with a `reason`), then the live stream without repeats. A subscriber too slow to keep up receives `event: gap` with `{\"missed\": N}` (counted in vigil_events_dropped_total{stage=\"stream_subscriber\"}). Comment heartbeats keep idle streams open.",
          tags: ["events"],
          responses: { ...documented(200, "The event stream", "text/event-stream", { type: "string", description: "Server-Sent Events: `id`, `event`, `data` (JSON) per event; `event: gap`; comment heartbeats" }), ...documented(503, "Too many streams open") },
        },
      },
    );
}
