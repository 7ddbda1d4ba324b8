import { Elysia, t } from "elysia";
import type { VigilService } from "../vigil-service";
import { ErrorBody } from "./schemas";

export function agentRoutes(service: VigilService) {
  const summary = (name: string) => {
    const processes = service.tree.allProcesses().filter((p) => p.agent === name);
    return { liveProcesses: processes.filter((p) => p.exitTime === null).length, knownProcesses: processes.length, storedEvents: service.store.countByType(name) };
  };
  return new Elysia({ name: "vigil-agents" })
    .get("/agents", () => ({ agents: service.agents.list() }), { detail: { summary: "Known agents", tags: ["agents"] } })
    .get(
      "/agents/:id",
      ({ params, set }) => {
        const a = service.agents.get(params.id);
        if (!a) {
          set.status = 404;
          return { error: "not_found", message: `no agent ${JSON.stringify(params.id)}` };
        }
        return { agent: a, activity: summary(a.name) };
      },
      {
        params: t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: t.Object({ agent: t.Unknown(), activity: t.Unknown() }), 404: ErrorBody },
        detail: { summary: "One agent and a summary of its activity", tags: ["agents"] },
      },
    );
}
