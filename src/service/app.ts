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
import { ApiError } from "./routes/schemas";
import { AgentError } from "../agents/agent-registry";
import { SpanError } from "../agents/spans";
import { policyRoutes } from "./routes/policies";
import { findingRoutes } from "./routes/findings";
import { StoreUnavailable } from "../store/event-store";
import { bearerMatches } from "./token";
import { VERSION, type VigilService } from "./vigil-service";
import { log } from "./log";

export const MAX_BODY_BYTES = 1 << 20;

function validationMessage(error: unknown): string {
  const e = error as { all?: { path?: string; message?: string; summary?: string }[]; message?: string };
  const first = e.all?.[0];
  if (first) return `${(first.path ?? "").replace(/^\//, "").replace(/\//g, ".") || "request"}: ${first.summary ?? first.message}`;
  return e.message ?? "invalid request";
}

export function createApp(service: VigilService, token: string) {
  const started = new WeakMap<Request, number>();
  const v1 = new Elysia({ prefix: "/v1", name: "vigil-v1" })
    .use(eventRoutes(service))
    .use(processRoutes(service))
    .use(agentRoutes(service))
    .use(policyRoutes(service))
    .use(findingRoutes(service))
    .use(statsRoutes(service));

  // Bun's own limit answers 413 without a body, so it sits above ours: between the two, the JSON 413 below.
  return new Elysia({ precompile: true, serve: { maxRequestBodySize: 8 * MAX_BODY_BYTES } })
    .onRequest(({ request, set }) => {
      started.set(request, performance.now());
      if (service.isStopping) {
        set.status = 503;
        return { error: "shutting_down", message: "the service is shutting down" };
      }
      // Auth before anything else looks at the request (body parsing and validation come later):
      // an unauthenticated caller learns nothing, not even which fields a body needs.
      const path = request.url.slice(request.url.indexOf("/", request.url.indexOf("//") + 2));
      if ((path === "/v1" || path.startsWith("/v1/") || path.startsWith("/v1?")) && !bearerMatches(request.headers.get("authorization") ?? undefined, token)) {
        set.status = 401;
        set.headers["www-authenticate"] = 'Bearer realm="vigil"';
        return { error: "unauthorized", message: "missing or wrong bearer token (Authorization: Bearer <token>)" };
      }
      const len = Number(request.headers.get("content-length") ?? 0);
      if (len > MAX_BODY_BYTES) {
        set.status = 413;
        return { error: "body_too_large", message: `request body of ${len} bytes exceeds ${MAX_BODY_BYTES}` };
      }
    })
    .onAfterResponse(({ request, route, set }) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      service.metrics.httpDuration.observe({ method: request.method, route: route || "unmatched", status: String(set.status ?? 200) }, (performance.now() - t0) / 1000);
    })
    .onError(({ code, error, set }) => {
      if (error instanceof StoreUnavailable) {
        set.status = 503;
        return { error: "store_unavailable", message: error.message };
      }
      if (error instanceof ApiError) {
        set.status = error.status;
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
        case "NOT_FOUND":
          set.status = 404;
          return { error: "not_found", message: "no such route" };
        default:
          log("error", "request failed", { code: String(code), error: (error as Error).message });
          set.status = 500;
          return { error: "internal", message: "internal error (logged)" };
      }
    })
    .use(
      openapi({
        path: "/swagger",
        specPath: "/swagger/json",
        provider: "swagger-ui",
        documentation: {
          info: { title: "Vigil API", version: VERSION, description: "Kernel-level observer and guardrail for AI agents." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .get("/healthz", () => ({ status: "ok", version: VERSION, uptimeSeconds: (Date.now() - service.startedAt) / 1000 }), {
      detail: { summary: "Liveness: the process and its event loop answer", tags: ["health"], security: [] },
    })
    .get(
      "/readyz",
      ({ set }) => {
        const r = service.readiness();
        set.status = r.ready ? 200 : 503;
        return { status: r.ready ? "ready" : "not_ready", reasons: r.reasons };
      },
      { detail: { summary: "Readiness: programs attached, consumer running, store writable", tags: ["health"], security: [] } },
    )
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = service.metrics.registry.contentType;
        return await service.metrics.text();
      },
      { detail: { summary: "Prometheus metrics", tags: ["health"], security: [] } },
    )
    .use(v1);
}
