import { Elysia, t } from "elysia";
import type { VigilService } from "../vigil-service";
import { checkQuery, documented, IntegerQuery, jsonResponse, parseTime, TimeQuery } from "./schemas";

const RecordQuery = {
  agent: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
  since: t.Optional(TimeQuery("Inclusive lower bound")),
  limit: t.Optional(IntegerQuery({ minimum: 1, maximum: 1000, default: 100, description: "Page size" })),
  cursor: t.Optional(IntegerQuery({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "nextCursor of the previous page" })),
};
const FindingQuery = { ...RecordQuery, rule: t.Optional(t.String({ minLength: 1, maxLength: 200, description: "policy/rule or deviation/<what>" })) };
const AuditQuery = { ...RecordQuery, action: t.Optional(t.Union([t.Literal("freeze"), t.Literal("thaw"), t.Literal("kill"), t.Literal("kill-tree")])) };

export function findingRoutes(service: VigilService) {
  return new Elysia({ name: "vigil-findings" })
    .get(
      "/findings",
      async ({ query }) => {
        const r = await service.store.reader.records("finding", { agent: query.agent, label: query.rule, since: parseTime("since", query.since), limit: query.limit ?? 100, cursor: query.cursor });
        return jsonResponse(`{"findings":[${r.rows.join(",")}],"nextCursor":${r.nextCursor}}`);
      },
      {
        query: t.Object(FindingQuery, { additionalProperties: false }),
        beforeHandle: checkQuery(FindingQuery),
        detail: { summary: "Findings (rule hits and baseline deviations), newest first", tags: ["findings"], responses: documented(200, "{ findings: [...], nextCursor }") },
      },
    )
    .get(
      "/audit",
      async ({ query }) => {
        const r = await service.store.reader.records("audit", { agent: query.agent, label: query.action, since: parseTime("since", query.since), limit: query.limit ?? 100, cursor: query.cursor });
        return jsonResponse(`{"audit":[${r.rows.join(",")}],"nextCursor":${r.nextCursor}}`);
      },
      {
        query: t.Object(AuditQuery, { additionalProperties: false }),
        beforeHandle: checkQuery(AuditQuery),
        detail: { summary: "Interventions carried out (what, why, who asked, result), newest first", tags: ["findings"], responses: documented(200, "{ audit: [...], nextCursor }") },
      },
    );
}
