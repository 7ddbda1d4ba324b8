import { Elysia, t } from "elysia";
import type { ProcessNode } from "../../proc/process-tree";
import type { VigilService } from "../vigil-service";
import { BadRequest, checkQuery, documented, ErrorBody, IntegerQuery, quoted } from "./schemas";

const ProcessQuery = {
  state: t.Optional(t.Union([t.Literal("live"), t.Literal("exited"), t.Literal("all")])),
  agent: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
  ppid: t.Optional(IntegerQuery({ minimum: 0, maximum: 4194304, description: "Parent process id" })),
  comm: t.Optional(t.String({ minLength: 1, maxLength: 16 })),
  limit: t.Optional(IntegerQuery({ minimum: 1, maximum: 100000, description: "At most this many processes" })),
};

/** The path's pid as written: Elysia's coercion would take /v1/processes/0x10 as pid 16. */
function decimalPid({ request }: { request: Request }): void {
  const raw = new URL(request.url).pathname.split("/").pop() ?? "";
  if (!/^[1-9][0-9]{0,6}$/.test(raw)) throw new BadRequest("invalid_request", `pid: ${quoted(raw)} is not a process id (a decimal integer)`);
}

export function processRoutes(service: VigilService) {
  return new Elysia({ name: "vigil-processes" })
    .get(
      "/processes",
      ({ query }) => {
        let list: ProcessNode[] = query.state === "exited" ? service.tree.exitedProcesses() : query.state === "all" ? service.tree.allProcesses() : service.tree.liveProcesses();
        if (query.agent) list = list.filter((p) => p.agent === query.agent);
        if (query.ppid !== undefined) list = list.filter((p) => p.ppid === query.ppid);
        if (query.comm) list = list.filter((p) => p.comm === query.comm);
        const limit = query.limit ?? 1000;
        return { processes: list.slice(0, limit), total: list.length };
      },
      {
        query: t.Object(ProcessQuery, { additionalProperties: false }),
        beforeHandle: checkQuery(ProcessQuery),
        detail: { summary: "The process tree (live by default)", tags: ["processes"], responses: documented(200, "{ processes: [...], total }: the first `limit` processes, and how many matched") },
      },
    )
    .get(
      "/processes/:pid",
      ({ params, set }) => {
        const p = service.tree.get(params.pid);
        if (!p) {
          set.status = 404;
          return { error: "not_found", message: `no process ${params.pid} is known (live, or exited recently)` };
        }
        return { process: p, live: service.tree.isLive(p.pid), ancestry: service.tree.ancestry(p.pid), children: service.tree.children(p.pid) };
      },
      {
        params: t.Object({ pid: t.Numeric({ minimum: 1, maximum: 4194304, multipleOf: 1, description: "Process id" }) }),
        beforeHandle: [checkQuery({}), decimalPid],
        response: { 200: t.Object({ process: t.Unknown(), live: t.Boolean(), ancestry: t.Array(t.Unknown()), children: t.Array(t.Unknown()) }), 404: ErrorBody },
        detail: { summary: "One process: ancestry, children, exit status", tags: ["processes"] },
      },
    );
}
