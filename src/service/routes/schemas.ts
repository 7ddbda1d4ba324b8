/** Request schemas shared by routes: they validate and they generate the OpenAPI document. */
import { t } from "elysia";
import { REPORTED_EVENT_TYPES } from "../../abi/layout";
import { INTENT_EVENT_TYPES } from "../../events/types";

/**
 * Kernel events (from the ABI's list), the events made from agents' TLS traffic (llm_call, http, tool_call),
 * and `gap`: the service's record of a time nothing was observed (a restart).
 */
export const EVENT_TYPES = [...REPORTED_EVENT_TYPES, ...INTENT_EVENT_TYPES, "gap"] as const;
/** Streams also carry these records (GET /v1/findings, /v1/audit). */
export const STREAM_TYPES = [...EVENT_TYPES, "finding", "audit"] as const;
const typeList = (types: readonly string[]) => `^(${types.join("|")})(,(${types.join("|")}))*$`;

/**
 * Query values a raw-string check must see before Elysia coerces them: `Number()` takes "1.5", "0x10",
 * "1e3" and " 10", and `Date.parse` takes "-1" or "abc 12". The schema says which kind a value is
 * (`x-vigil-kind`), and checkQuery holds the raw string to the one documented form.
 */
const KIND = "x-vigil-kind";
type QueryKind = "integer" | "time";

/** A decimal integer query value (no sign, exponent, fraction or hex), within [minimum, maximum]. */
export const IntegerQuery = (o: { minimum: number; maximum: number; default?: number; description?: string }) =>
  t.Numeric({ ...o, [KIND]: "integer" satisfies QueryKind, description: `${o.description ? `${o.description}; ` : ""}a decimal integer from ${o.minimum} to ${o.maximum}` });

/** A time query value: epoch milliseconds or an RFC 3339 time. */
export const TimeQuery = (description: string) =>
  t.String({ maxLength: 40, [KIND]: "time" satisfies QueryKind, description: `${description}: epoch milliseconds (a decimal integer) or an RFC 3339 time (2026-01-02T03:04:05Z, 2026-01-02T03:04:05.123+01:00)` });

export const EventFilterQuery = {
  type: t.Optional(t.String({ pattern: typeList(EVENT_TYPES), description: `Comma-separated event types: ${EVENT_TYPES.join(", ")}` })),
  pid: t.Optional(IntegerQuery({ minimum: 1, maximum: 4194304, description: "Process id" })),
  agent: t.Optional(t.String({ minLength: 1, maxLength: 64, description: "Agent name" })),
  since: t.Optional(TimeQuery("Inclusive lower bound")),
  until: t.Optional(TimeQuery("Exclusive upper bound")),
  toolCall: t.Optional(t.String({ minLength: 1, maxLength: 256, description: "Only what this tool call caused, and its own tool_call events" })),
};

export const StreamFilterQuery = {
  ...EventFilterQuery,
  type: t.Optional(t.String({ pattern: typeList(STREAM_TYPES), description: `Comma-separated types: ${STREAM_TYPES.join(", ")} (finding and audit are records, not events)` })),
};

export const PageQuery = {
  limit: t.Optional(IntegerQuery({ minimum: 1, maximum: 1000, default: 100, description: "Page size" })),
  cursor: t.Optional(IntegerQuery({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "nextCursor of the previous page" })),
  order: t.Optional(t.Union([t.Literal("desc"), t.Literal("asc")], { description: "desc (newest first, default) or asc" })),
};

export const ErrorBody = t.Object({ error: t.String(), message: t.String() });

/** A route's success response for the OpenAPI document (routes that declare no `response` schema). */
export function documented(status: number, description: string, contentType = "application/json", schema: Record<string, unknown> = { type: "object" }) {
  return { [status]: { description, content: { [contentType]: { schema } } } };
}

/** A JSON body already serialized (stored rows go out as they are). */
export const jsonResponse = (text: string) => new Response(text, { headers: { "content-type": "application/json" } });

/** An error answered as { error: code, message, ...details } with its status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export class BadRequest extends ApiError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(400, code, message, details);
  }
}

export const notFound = (what: string) => new ApiError(404, "not_found", what);

/** How much of a bad value an error message repeats: enough to recognise it, never a body's worth. */
export const ECHO_LIMIT = 200;

/** A value quoted for an error message, cut to ECHO_LIMIT characters. */
export function quoted(value: string): string {
  return value.length > ECHO_LIMIT ? `${JSON.stringify(value.slice(0, ECHO_LIMIT))}… (${value.length} characters)` : JSON.stringify(value);
}

const EPOCH_MS = /^(0|[1-9][0-9]{0,14})$/;
const RFC3339 = /^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$/;

/** Epoch ms or RFC 3339 -> epoch ms; anything else throws BadRequest naming the parameter. */
export function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let ms = Number.NaN;
  if (EPOCH_MS.test(value)) ms = Number(value);
  else {
    const m = RFC3339.exec(value);
    // The day must exist in its month (Date.parse would roll 2026-02-30 over to March).
    if (m && Number(m[3]) <= new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate()) ms = Date.parse(value.replace("t", "T").replace("z", "Z"));
  }
  if (!Number.isFinite(ms)) throw new BadRequest("invalid_query", `${name}: ${quoted(value)} is neither epoch milliseconds (a decimal integer) nor an RFC 3339 time (2026-01-02T03:04:05Z)`);
  return ms;
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/**
 * The query's raw strings, before Elysia coerces or drops them: an unknown key is a 400 (a typo must not
 * be a silent no-op), and an integer or time value must have its one documented form.
 */
export function checkQuery(allowed: Record<string, unknown>) {
  const names = new Set(Object.keys(allowed));
  const kinds = new Map<string, QueryKind>();
  for (const [k, schema] of Object.entries(allowed)) {
    const kind = (schema as Record<string, unknown>)[KIND] as QueryKind | undefined;
    if (kind) kinds.set(k, kind);
  }
  return ({ request }: { request: Request }): void => {
    const q = request.url.indexOf("?");
    if (q < 0) return;
    for (const [key, value] of new URLSearchParams(request.url.slice(q + 1))) {
      if (!names.has(key)) throw new BadRequest("invalid_query", `unknown query parameter ${quoted(key)} (allowed: ${[...names].join(", ") || "none"})`);
      const kind = kinds.get(key);
      if (kind === "integer" && !DECIMAL.test(value)) throw new BadRequest("invalid_query", `${key}: ${quoted(value)} is not a decimal integer`);
      if (kind === "time") parseTime(key, value);
    }
  };
}

/** For routes that take no query parameters: any is a mistake worth a 400. */
export const noQuery = { beforeHandle: checkQuery({}) };
