import { Elysia, t } from "elysia";
import type { VigilService } from "../vigil-service";
import { parseTime, rejectUnknownQuery } from "./schemas";

const RecordQuery = {
  agent: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
  since: t.Optional(t.String({ description: "epoch ms or ISO 8601" })),
  limit: t.Optional(t.Numeric({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: t.Optional(t.Numeric({ minimum: 0, description: "nextCursor of the previous page" })),
};
const FindingQuery = { ...RecordQuery, rule: t.Optional(t.String({ minLength: 1, maxLength: 200, description: "policy/rule or deviation/<what>" })) };
const AuditQuery = { ...RecordQuery, action: t.Optional(t.Union([t.Literal("freeze"), t.Literal("thaw"), t.Literal("kill"), t.Literal("kill-tree")])) };

export function findingRoutes(service: VigilService) {
  return new Elysia({ name: "vigil-findings" })
    .get(
      "/findings",
      ({ query }) => {
        const r = service.store.queryRecords("finding", { agent: query.agent, label: query.rule, since: parseTime("since", query.since), limit: query.limit ?? 100, cursor: query.cursor });
        return { findings: r.records, nextCursor: r.nextCursor };
      },
      {
        query: t.Object(FindingQuery, { additionalProperties: false }),
        beforeHandle: rejectUnknownQuery(FindingQuery),
        detail: { summary: "Findings (rule hits and baseline deviations), newest first", tags: ["findings"] },
      },
    )
    .get(
      "/audit",
      ({ query }) => {
        const r = service.store.queryRecords("audit", { agent: query.agent, label: query.action, since: parseTime("since", query.since), limit: query.limit ?? 100, cursor: query.cursor });
        return { audit: r.records, nextCursor: r.nextCursor };
      },
      {
        query: t.Object(AuditQuery, { additionalProperties: false }),
        beforeHandle: rejectUnknownQuery(AuditQuery),
        detail: { summary: "Interventions carried out (what, why, who asked, result), newest first", tags: ["findings"] },
      },
    );
}
