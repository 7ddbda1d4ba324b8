/**
 * The HTTP API, assembled from route modules. Health, readiness and metrics
 * are open; everything under /v1 needs the bearer token. Every error is a
 * 4xx/5xx JSON body { error, message }.
 */
import { Elysia } from "elysia";
import { openapi } from "@elysiajs/openapi";
import { agentRoutes } from "./routes/agents";
import { eventRoutes } from "./routes/events";
import { processRoutes } from "./routes/processes";
import { statsRoutes } from "./routes/stats";
import { ApiError, documented, noQuery } from "./routes/schemas";
import { DOCS_PATH, SPEC_PATH, swaggerUi, withCommonResponses } from "./api-docs";
import { dashboard } from "./dashboard";
import { AgentError } from "../agents/agent-registry";
import { SpanError } from "../agents/spans";
import { policyRoutes } from "./routes/policies";
import { findingRoutes } from "./routes/findings";
import { StoreUnavailable } from "../store/event-store";
import { StoreBusy, StoreReadError } from "../store/store-reader";
import { bearerScope, type ApiTokens } from "./token";
import type { Config } from "./config";
import { VERSION, type VigilService } from "./vigil-service";
import { log } from "./log";
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from "./limits";

export { MAX_BODY_BYTES } from "./limits";

function validationMessage(error: unknown): string {
  const e = error as { all?: { path?: string; message?: string; summary?: string }[]; message?: string };
  const first = e.all?.[0];
  const text = first ? `${(first.path ?? "").replace(/^\//, "").replace(/\//g, ".") || "request"}: ${first.summary ?? first.message}` : (e.message ?? "invalid request");
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Logs a kind of refusal at most once per interval, with how many were not logged in between. */
class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(private readonly intervalMs: number) {}
  note(kind: string, context: Record<string, unknown>, now = Date.now()): void {
    const l = this.last.get(kind);
    if (l && now - l.at < this.intervalMs) {
      l.suppressed++;
      return;
    }
    log("warn", "request refused", { reason: kind, ...context, ...(l?.suppressed ? { suppressedSince: l.suppressed } : {}) });
    this.last.set(kind, { at: now, suppressed: 0 });
  }
}

/** The body, read up to MAX_BODY_BYTES whatever Content-Length said (a chunked body has none): 413 beyond. */
async function boundedBody(request: Request): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > MAX_BODY_BYTES) {
      void reader.cancel().catch(() => {});
      throw new ApiError(413, "body_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.byteLength);
  return out;
}

function headerBytes(headers: Headers): number {
  let n = 0;
  for (const [k, v] of headers) n += k.length + v.length + 4;
  return n;
}

/** Path templates of the app's routes (`:id` segments), by method: for 405 and its Allow header. */
function methodsByPath(routes: readonly { method: string; path: string }[]): (path: string) => string[] {
  const compiled = routes
    .filter((r) => r.method !== "ALL")
    .map((r) => ({ method: r.method, re: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+").replace(/\*/g, ".*")}/?$`) }));
  return (path) => [...new Set(compiled.filter((r) => r.re.test(path)).map((r) => r.method))];
}

/** Options for Bun.serve that every listener of the API uses: no port sharing, TLS when configured. */
export function listenOptions(config: Pick<Config, "host" | "port" | "tls">) {
  return {
    hostname: config.host,
    port: config.port,
    // Elysia asks for SO_REUSEPORT by default: a second daemon would bind the same port and take half the requests.
    reusePort: false,
    ...(config.tls ? { tls: { cert: Bun.file(config.tls.cert), key: Bun.file(config.tls.key) } } : {}),
  };
}

export function createApp(service: VigilService, tokens: ApiTokens) {
  const started = new WeakMap<Request, number>();
  const refusals = new RateLimitedLog(10_000);
  const refuse = (set: { status?: number | string; headers: Record<string, string | number> }, status: number, reason: string, message: string, request: Request, path: string) => {
    set.status = status;
    if (status === 401 || status === 403) service.metrics.authFailures.inc({ reason });
    else service.metrics.httpRejected.inc({ reason });
    refusals.note(reason, { method: request.method, path: path.slice(0, 200), status });
    return { error: reason, message };
  };
  /** The scope each /v1 request's token has (set by the auth check before any route runs). */
  const scopes = new WeakMap<Request, "admin" | "read">();
  const v1 = new Elysia({ prefix: "/v1", name: "vigil-v1" })
    .get("/whoami", ({ request }) => ({ scope: scopes.get(request) ?? "read" }), {
      ...noQuery,
      detail: { summary: "The scope of the token this request carries: admin, or read (GET only)", tags: ["auth"], responses: documented(200, "{ scope: admin | read }") },
    })
    .use(eventRoutes(service))
    .use(processRoutes(service))
    .use(agentRoutes(service))
    .use(policyRoutes(service))
    .use(findingRoutes(service))
    .use(statsRoutes(service));

  let allowed: ((path: string) => string[]) | null = null;
  // Bun's own body limit answers 413 without a body: it is set out of reach, and Vigil's limits below answer.
  const app = new Elysia({ precompile: true, serve: { maxRequestBodySize: Number.MAX_SAFE_INTEGER } })
    .onRequest(({ request, set }) => {
      started.set(request, performance.now());
      if (service.isStopping) {
        set.status = 503;
        return { error: "shutting_down", message: "the service is shutting down" };
      }
      const path = request.url.slice(request.url.indexOf("/", request.url.indexOf("//") + 2));
      if (headerBytes(request.headers) > MAX_HEADER_BYTES) return refuse(set, 431, "headers_too_large", `request headers exceed ${MAX_HEADER_BYTES} bytes`, request, path);
      // Auth before anything else looks at the request (body parsing and validation come later):
      // an unauthenticated caller learns nothing, not even which fields a body needs.
      if (path === "/v1" || path.startsWith("/v1/") || path.startsWith("/v1?")) {
        const scope = bearerScope(request.headers.get("authorization"), tokens);
        if (scope === null) {
          set.headers["www-authenticate"] = 'Bearer realm="vigil"';
          return refuse(set, 401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)", request, path);
        }
        scopes.set(request, scope);
        if (scope === "read" && request.method !== "GET" && request.method !== "HEAD")
          return refuse(set, 403, "forbidden", `the read-only token cannot ${request.method} ${path.split("?")[0]!.slice(0, 200)}: that needs the admin token`, request, path);
      }
      const len = Number(request.headers.get("content-length") ?? 0);
      if (len > MAX_BODY_BYTES) return refuse(set, 413, "body_too_large", `request body of ${len} bytes exceeds ${MAX_BODY_BYTES}`, request, path);
    })
    .onParse(async ({ request, contentType }) => {
      let bytes: Uint8Array;
      try {
        bytes = await boundedBody(request);
      } catch (e) {
        if (e instanceof ApiError && e.status === 413) {
          service.metrics.httpRejected.inc({ reason: "body_too_large" });
          refusals.note("body_too_large", { method: request.method, chunked: true });
        }
        throw e;
      }
      if (bytes.byteLength === 0) return undefined;
      const text = new TextDecoder().decode(bytes);
      if (!contentType || contentType.startsWith("application/json")) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new ApiError(400, "invalid_body", "the request body is not valid JSON");
        }
      }
      throw new ApiError(415, "unsupported_media_type", `request bodies are JSON (Content-Type: application/json), not ${contentType.slice(0, 100)}`);
    })
    .onAfterResponse(({ request, route, set }) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      service.metrics.httpDuration.observe({ method: request.method, route: route || "unmatched", status: String(set.status ?? 200) }, (performance.now() - t0) / 1000);
    })
    .onError(({ code, error: thrown, set, request }) => {
      // Elysia wraps what the body parser throws (413, 415, bad JSON) in a ParseError: answer the cause.
      const cause = (thrown as Error).cause;
      const error = code === "PARSE" && cause instanceof ApiError ? cause : thrown;
      if (error instanceof StoreBusy) {
        set.status = 503;
        set.headers["retry-after"] = "1";
        return { error: "store_busy", message: error.message };
      }
      if (error instanceof StoreUnavailable || error instanceof StoreReadError) {
        set.status = 503;
        return { error: "store_unavailable", message: error.message };
      }
      if (error instanceof ApiError) {
        set.status = error.status;
        if (error.status === 429) set.headers["retry-after"] = "1";
        return { error: error.code, message: error.message, ...error.details };
      }
      if (error instanceof AgentError || error instanceof SpanError) {
        set.status = /already|exists/.test(error.message) ? 409 : /^no (open span|agent|process)/.test(error.message) ? 404 : 400;
        return { error: error instanceof AgentError ? "agent_error" : "span_error", message: error.message };
      }
      switch (code) {
        case "VALIDATION":
          set.status = 400;
          return { error: "invalid_request", message: validationMessage(error) };
        case "PARSE":
          set.status = 400;
          return { error: "invalid_body", message: "the request body is not valid JSON (or not the declared content type)" };
        case "NOT_FOUND": {
          allowed ??= methodsByPath(app.routes);
          const path = new URL(request.url).pathname;
          const methods = allowed(path);
          if (methods.length) {
            set.status = 405;
            set.headers.allow = methods.join(", ");
            return { error: "method_not_allowed", message: `${request.method} is not allowed on ${path.slice(0, 200)} (allowed: ${methods.join(", ")})` };
          }
          set.status = 404;
          return { error: "not_found", message: "no such route" };
        }
        default:
          log("error", "request failed", { code: String(code), error: (error as Error).message });
          set.status = 500;
          return { error: "internal", message: "internal error (logged)" };
      }
    })
    // The generated document, completed with the errors every route can answer (api-docs.ts).
    // Registered before the plugin: a hook applies to the routes added after it.
    .onAfterHandle({ as: "global" }, ({ request, response }) => {
      if (request.url.endsWith(SPEC_PATH) && response && typeof response === "object" && "paths" in response) return withCommonResponses(response as Parameters<typeof withCommonResponses>[0]);
    })
    .use(
      openapi({
        path: DOCS_PATH,
        specPath: SPEC_PATH,
        provider: null, // the page is Vigil's own (api-docs.ts): pinned assets from this origin, not a CDN
        documentation: {
          info: { title: "Vigil API", version: VERSION, description: "Kernel-level observer and guardrail for AI agents." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .use(swaggerUi("Vigil API"))
    .use(dashboard())
    .get("/healthz", () => ({ status: "ok", version: VERSION, uptimeSeconds: (Date.now() - service.startedAt) / 1000 }), {
      detail: { summary: "Liveness: the process and its event loop answer", tags: ["health"], security: [], responses: documented(200, "{ status: ok, version, uptimeSeconds }") },
    })
    .get(
      "/readyz",
      ({ set }) => {
        const r = service.readiness();
        set.status = r.ready ? 200 : 503;
        return { status: r.ready ? "ready" : "not_ready", reasons: r.reasons };
      },
      { detail: { summary: "Readiness: programs attached, consumer running, store writable", tags: ["health"], security: [], responses: { ...documented(200, "{ status: ready, reasons: [] }"), ...documented(503, "{ status: not_ready, reasons: [...] }") } } },
    )
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = service.metrics.registry.contentType;
        return await service.metrics.text();
      },
      { detail: { summary: "Prometheus metrics", tags: ["health"], security: [], responses: documented(200, "Prometheus text exposition format", "text/plain; version=0.0.4", { type: "string" }) } },
    )
    .use(v1);
  return app;
}
