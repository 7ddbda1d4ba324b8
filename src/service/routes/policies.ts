import { Elysia, t } from "elysia";
import { probeCapabilities } from "../../sensor/capabilities";
import type { CaptureKind } from "../../sensor/capture";
import { compilePolicies } from "../../policy/compile";
import { dryRun, parseEventLines, PolicyReplay, type DryRunReport } from "../../policy/dry-run";
import type { StorableEvent } from "../../events/types";
import { PolicyError } from "../../policy/loader";
import type { VigilService } from "../vigil-service";
import { ApiError, documented, ErrorBody, noQuery, parseTime } from "./schemas";

const PolicyText = t.String({ minLength: 1, maxLength: 512 * 1024, description: "One or more YAML policy documents" });

function compileOrReject(yaml: string, file: string, capture: readonly CaptureKind[]) {
  try {
    return compilePolicies([{ file, text: yaml }], probeCapabilities(), capture);
  } catch (e) {
    if (e instanceof PolicyError) throw new ApiError(422, "invalid_policy", "the policy was refused; see problems", { problems: e.problems });
    throw e;
  }
}

export function policyRoutes(service: VigilService) {
  let storeReplayRunning = false;
  return new Elysia({ name: "vigil-policies" })
    .get(
      "/policies",
      () => {
        const set = service.guard.active;
        return {
          directory: service.policies?.status() ?? null,
          policies: set.policies,
          rules: set.rules.map((r) => ({ policy: r.policy, name: r.name, event: r.event, action: r.action, severity: r.severity, enforcement: r.enforcement, agents: r.agents, file: r.file })),
          warnings: set.warnings,
          capabilities: probeCapabilities(),
          kernelGeneration: service.runtime.enforcer.generation,
        };
      },
      { ...noQuery, detail: { summary: "Policies and rules in force, where each is enforced, and what this machine can enforce", tags: ["policies"], responses: documented(200, "{ directory, policies, rules, warnings, capabilities, kernelGeneration }") } },
    )
    .post(
      "/policies/validate",
      ({ body }) => {
        try {
          const set = compilePolicies([{ file: body.file ?? "request", text: body.yaml }], probeCapabilities(), service.config.capture);
          return { valid: true, problems: [], warnings: set.warnings, policies: set.policies, rules: set.rules.map((r) => ({ policy: r.policy, name: r.name, action: r.action, enforcement: r.enforcement })) };
        } catch (e) {
          if (e instanceof PolicyError) return { valid: false, problems: e.problems, warnings: [], policies: [], rules: [] };
          throw e;
        }
      },
      {
        body: t.Object({ yaml: PolicyText, file: t.Optional(t.String({ maxLength: 256, description: "Name used in problem locations" })) }, { additionalProperties: false }),
        detail: { summary: "Validate policy YAML: every problem with line, column and field; nothing is applied", tags: ["policies"], responses: documented(200, "{ valid, problems, warnings, policies, rules }") },
      },
    )
    .post(
      "/policies/dry-run",
      async ({ body }) => {
        const set = compileOrReject(body.yaml, "request", service.config.capture);
        if ((body.events === undefined) === (body.store === undefined)) throw new ApiError(400, "invalid_request", "give exactly one of events (JSON lines) and store (a query of stored events)");
        let report: DryRunReport;
        if (body.events !== undefined) {
          const skipped: DryRunReport["skipped"] = [];
          report = dryRun(set, parseEventLines(body.events, skipped), { defaultAgent: body.agent });
          report.skipped = skipped;
        } else {
          const q = body.store!;
          const since = parseTime("store.since", q.since);
          const until = parseTime("store.until", q.until);
          const limit = q.limit ?? 100_000;
          // One replay of the store at a time: each reads up to `limit` events and evaluates them on this thread.
          if (storeReplayRunning) throw new ApiError(429, "busy", "a dry-run over the store is already running; try again when it is done", { retryAfterSeconds: 1 });
          storeReplayRunning = true;
          try {
            const replay = new PolicyReplay(set, { defaultAgent: body.agent });
            // Oldest first, page by page from the reader Workers; the event loop runs between pages.
            let cursor: number | undefined;
            for (let n = 0; n < limit; ) {
              const page = await service.store.reader.events({ agent: q.agent, since, until, limit: Math.min(1000, limit - n), cursor, order: "asc" });
              replay.feed(page.rows.map((r) => JSON.parse(r.data) as StorableEvent));
              n += page.rows.length;
              if (page.nextCursor === null) break;
              cursor = page.nextCursor;
            }
            report = replay.report;
          } finally {
            storeReplayRunning = false;
          }
        }
        return report;
      },
      {
        body: t.Object(
          {
            yaml: PolicyText,
            events: t.Optional(t.String({ maxLength: 768 * 1024, description: "Event log as JSON lines (vigil run --events)" })),
            store: t.Optional(
              t.Object(
                {
                  agent: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
                  since: t.Optional(t.String()),
                  until: t.Optional(t.String()),
                  limit: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000 })),
                },
                { additionalProperties: false },
              ),
            ),
            agent: t.Optional(t.String({ minLength: 1, maxLength: 64, description: "Agent to assume for events that name none" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: t.Unknown({ description: "{ events, evaluated, hits, byRule, samples, skipped }" }), 400: ErrorBody, 422: t.Object({ error: t.String(), message: t.String(), problems: t.Array(t.Unknown()) }), 429: ErrorBody },
        detail: { summary: "Replay an event log or stored events against a policy: what it would have done", tags: ["policies"] },
      },
    );
}
