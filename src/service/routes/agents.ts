import { Elysia, t } from "elysia";
import { parseTraceparent, SpanError } from "../../agents/spans";
import type { VigilService } from "../vigil-service";
import { suggestPolicy } from "../../profiles/suggest";
import { ApiError, documented, ErrorBody, noQuery, notFound } from "./schemas";

const AgentName = t.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description: "letters, digits, . _ -; 64 at most" });
const IdParams = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });
const Reason = t.Object({ reason: t.Optional(t.String({ maxLength: 1024 })) }, { additionalProperties: false });
const HEX = (n: number) => t.String({ pattern: `^[0-9a-f]{${n}}$` });

export function agentRoutes(service: VigilService) {
  const summary = async (name: string) => {
    const processes = service.tree.allProcesses().filter((p) => p.agent === name);
    return { liveProcesses: processes.filter((p) => p.exitTime === null).length, knownProcesses: processes.length, storedEvents: await service.store.reader.countByType(name) };
  };
  const agentOr404 = (id: string) => {
    const a = service.agents.get(id);
    if (!a) throw notFound(`no agent ${JSON.stringify(id)}`);
    return a;
  };
  const intervene = (kind: "freeze" | "thaw" | "kill-tree", id: string, reason: string | undefined) => {
    agentOr404(id);
    const why = reason ?? "requested through the API";
    const entry = kind === "freeze" ? service.interventions.freeze(id, "api", why) : kind === "thaw" ? service.interventions.thaw(id, "api", why) : service.interventions.killTree(id, "api", why);
    if (!entry.ok) throw new ApiError(409, "intervention_failed", entry.detail, { audit: entry });
    return { audit: entry };
  };
  return new Elysia({ name: "vigil-agents" })
    .get("/agents", () => ({ agents: service.agents.list() }), { ...noQuery, detail: { summary: "Known agents", tags: ["agents"], responses: documented(200, "{ agents: [...] }") } })
    .post(
      "/agents",
      ({ body, set }) => {
        const agent = service.adoptAgent(body);
        set.status = 201;
        return { agent };
      },
      {
        body: t.Object(
          {
            name: AgentName,
            pid: t.Optional(t.Integer({ minimum: 2, maximum: 4194304, description: "Adopt this running process and its subtree" })),
            cgroupPath: t.Optional(t.String({ minLength: 1, maxLength: 4096, description: "Or: every process of this cgroup v2 (path below the mount)" })),
            contain: t.Optional(t.Boolean({ description: "pid only: move the subtree into a cgroup of Vigil's own, so that freeze, kill-tree and connect refusal apply (default false)" })),
          },
          { additionalProperties: false },
        ),
        detail: { summary: "Adopt an agent: a process subtree (identity tracked in the kernel and inherited on fork) or a cgroup", tags: ["agents"], responses: { ...documented(201, "{ agent }: adopted"), ...documented(409, "An agent of that name exists already") } },
      },
    )
    .get(
      "/agents/:id",
      async ({ params }) => {
        const a = agentOr404(params.id);
        // tls: the TLS its processes used, read (hooked files) or not (unsupported stacks, with why).
        const activity = await summary(a.name);
        const state = activity.liveProcesses === 0 ? "gone" : service.interventions.isFrozen(a.name) ? "frozen" : "running";
        return { agent: a, state, activity, spans: service.spans.list(a.name), tls: service.runtime.tls.agentSupport(a.name), tokensSpent: service.guard.tokensSpent(a.name) };
      },
      {
        ...noQuery,
        params: IdParams,
        response: { 200: t.Object({ agent: t.Unknown(), state: t.Union([t.Literal("running"), t.Literal("frozen"), t.Literal("gone")]), activity: t.Unknown(), spans: t.Unknown(), tls: t.Unknown(), tokensSpent: t.Number() }), 404: ErrorBody },
        detail: { summary: "One agent, a summary of its activity, its recent spans, the TLS it used (read or not, and why) and the tokens it spent", tags: ["agents"] },
      },
    )
    .delete(
      "/agents/:id",
      async ({ params }) => {
        agentOr404(params.id);
        await service.removeAgent(params.id);
        return { removed: params.id };
      },
      { params: IdParams, detail: { summary: "Forget an agent (contained processes go back to their cgroup; nothing is killed)", tags: ["agents"], responses: documented(200, "{ removed: id }") } },
    )
    .post(
      "/agents/:id/spans",
      ({ params, body, set }) => {
        const a = agentOr404(params.id);
        let ids: { traceId: string; spanId: string };
        if (body.traceparent) {
          if (body.traceId || body.spanId) throw new ApiError(400, "invalid_request", "give traceparent, or traceId and spanId, not both");
          ids = parseTraceparent(body.traceparent);
        } else if (body.traceId && body.spanId) ids = { traceId: body.traceId, spanId: body.spanId };
        else throw new ApiError(400, "invalid_request", "a span needs traceparent, or traceId and spanId");
        if (body.pid !== undefined && service.tree.get(body.pid)?.agent !== a.name) throw new SpanError(`pid ${body.pid} is not a process of agent ${a.name}`);
        set.status = 201;
        return { span: service.spans.open({ ...ids, name: body.name, agent: a.name, pid: body.pid }) };
      },
      {
        params: IdParams,
        body: t.Object(
          {
            name: t.String({ minLength: 1, maxLength: 200, description: "The tool call, e.g. run_shell" }),
            traceparent: t.Optional(t.String({ maxLength: 64, description: "W3C traceparent" })),
            traceId: t.Optional(HEX(32)),
            spanId: t.Optional(HEX(16)),
            pid: t.Optional(t.Integer({ minimum: 1, maximum: 4194304, description: "Only this process subtree of the agent" })),
          },
          { additionalProperties: false },
        ),
        detail: { summary: "Open a tool-call span: the agent's kernel events carry it until it is closed", tags: ["agents"], responses: documented(201, "{ span }: open") },
      },
    )
    .delete(
      "/agents/:id/spans/:spanId",
      ({ params }) => {
        agentOr404(params.id);
        return { span: service.spans.close(params.id, params.spanId) };
      },
      { params: t.Object({ id: t.String({ minLength: 1, maxLength: 64 }), spanId: HEX(16) }), detail: { summary: "Close a span; events that happened before the close keep it", tags: ["agents"], responses: documented(200, "{ span }: closed") } },
    )
    .post("/agents/:id/freeze", ({ params, body }) => intervene("freeze", params.id, body?.reason), {
      params: IdParams,
      body: t.Optional(Reason),
      detail: { summary: "Freeze every process of the agent (cgroup.freeze); audited", tags: ["interventions"], responses: { ...documented(200, "{ audit }: frozen, and audited"), ...documented(409, "The intervention failed (the audit entry says why)") } },
    })
    .post("/agents/:id/thaw", ({ params, body }) => intervene("thaw", params.id, body?.reason), {
      params: IdParams,
      body: t.Optional(Reason),
      detail: { summary: "Thaw a frozen agent; audited", tags: ["interventions"], responses: { ...documented(200, "{ audit }: thawed, and audited"), ...documented(409, "The intervention failed (the audit entry says why)") } },
    })
    .post("/agents/:id/kill", ({ params, body }) => intervene("kill-tree", params.id, body?.reason), {
      params: IdParams,
      body: t.Optional(Reason),
      detail: { summary: "Kill the agent's whole tree (cgroup.kill); audited", tags: ["interventions"], responses: { ...documented(200, "{ audit }: killed, and audited"), ...documented(409, "The intervention failed (the audit entry says why)") } },
    })
    .post(
      "/agents/:id/baseline",
      ({ params, body }) => {
        agentOr404(params.id);
        return { profile: service.profiles.baseline(params.id, body?.learnSeconds ?? 0) };
      },
      {
        params: IdParams,
        body: t.Optional(t.Object({ learnSeconds: t.Optional(t.Integer({ minimum: 0, maximum: 7 * 86400, description: "Learn this long first (0: the profile as it is now becomes the baseline)" })) }, { additionalProperties: false })),
        detail: { summary: "Make (or start learning) the agent's baseline; later deviations become findings", tags: ["profiles"], responses: documented(200, "{ profile }") },
      },
    )
    .get(
      "/profiles/:id",
      ({ params }) => {
        agentOr404(params.id);
        return { profile: service.profileOf(params.id) ?? null };
      },
      { ...noQuery, params: IdParams, detail: { summary: "Behavior profile of an agent: syscall mix, binaries, file areas, destinations, tree shape, rates, baseline", tags: ["profiles"], responses: documented(200, "{ profile } (null before any activity)") } },
    )
    .get(
      "/profiles/:id/policy",
      ({ params }) => {
        agentOr404(params.id);
        const profile = service.profileOf(params.id);
        if (!profile) throw new ApiError(409, "nothing_learned", `agent ${params.id} has done nothing to learn an allowlist from yet`);
        try {
          return { policy: suggestPolicy(profile) };
        } catch (e) {
          throw new ApiError(409, "nothing_learned", (e as Error).message);
        }
      },
      {
        ...noQuery,
        params: IdParams,
        detail: {
          summary: "An allowlist policy (YAML, mode shadow) written from the agent's profile: its write areas, the domains it reached, the programs it ran; to review, shadow, then enforce",
          tags: ["profiles"],
          responses: { ...documented(200, "{ policy }: the YAML"), ...documented(409, "The agent has done nothing to learn from yet") },
        },
      },
    );
}
