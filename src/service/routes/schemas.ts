/** Request schemas shared by routes: they validate and they generate the OpenAPI document. */
import { t } from "elysia";

export const EVENT_TYPES = ["exec", "fork", "exit", "open", "connect", "cred", "syscall", "enforce"] as const;
/** Streams also carry these records (GET /v1/findings, /v1/audit). */
export const STREAM_TYPES = [...EVENT_TYPES, "finding", "audit"] as const;
const typeList = (types: readonly string[]) => `^(${types.join("|")})(,(${types.join("|")}))*$`;

export const EventFilterQuery = {
  type: t.Optional(t.String({ pattern: typeList(EVENT_TYPES), description: `Comma-separated event types: ${EVENT_TYPES.join(", ")}` })),
  pid: t.Optional(t.Numeric({ minimum: 1, maximum: 4194304, description: "Process id" })),
  agent: t.Optional(t.String({ minLength: 1, maxLength: 64, description: "Agent name" })),
  since: t.Optional(t.String({ description: "Inclusive lower bound: epoch milliseconds or an ISO 8601 time" })),
  until: t.Optional(t.String({ description: "Exclusive upper bound: epoch milliseconds or an ISO 8601 time" })),
};

export const StreamFilterQuery = {
  ...EventFilterQuery,
  type: t.Optional(t.String({ pattern: typeList(STREAM_TYPES), description: `Comma-separated types: ${STREAM_TYPES.join(", ")} (finding and audit are records, not events)` })),
};

export const PageQuery = {
  limit: t.Optional(t.Numeric({ minimum: 1, maximum: 1000, default: 100, description: "Page size (1-1000, default 100)" })),
  cursor: t.Optional(t.Numeric({ minimum: 0, description: "nextCursor of the previous page" })),
  order: t.Optional(t.Union([t.Literal("desc"), t.Literal("asc")], { description: "desc (newest first, default) or asc" })),
};

export const ErrorBody = t.Object({ error: t.String(), message: t.String() });

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

/** Epoch ms or ISO 8601 -> epoch ms; throws BadRequest naming the parameter. */
export function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n)) throw new BadRequest("invalid_query", `${name}: ${JSON.stringify(value)} is neither epoch milliseconds nor an ISO 8601 time`);
  return n;
}

/** Elysia drops unknown query keys before validation; a typo must be an error, not a silent no-op. */
export function rejectUnknownQuery(allowed: Record<string, unknown>) {
  const names = new Set(Object.keys(allowed));
  return ({ request }: { request: Request }): void => {
    for (const key of new URL(request.url).searchParams.keys())
      if (!names.has(key)) throw new BadRequest("invalid_query", `unknown query parameter ${JSON.stringify(key)} (allowed: ${[...names].join(", ") || "none"})`);
  };
}

/** For routes that take no query parameters: any is a mistake worth a 400. */
export const noQuery = { beforeHandle: rejectUnknownQuery({}) };
