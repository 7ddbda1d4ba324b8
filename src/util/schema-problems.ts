/** TypeBox validation errors as plain problems that name the field and say what is wrong. */
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

export interface SchemaProblem {
  /** JSON pointer segments of the offending value. */
  path: string[];
  message: string;
}

export function schemaProblems(schema: TSchema, value: unknown, unknownMessage = "unknown field"): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const err of Value.Errors(schema, value)) {
    const path = err.path.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    const choices = (err.schema as { anyOf?: { const?: unknown }[] }).anyOf?.map((c) => c.const).filter((c) => c !== undefined);
    const message =
      err.message === "Unexpected property"
        ? unknownMessage
        : choices?.length
          ? `must be one of ${choices.join(", ")} (got ${JSON.stringify(err.value)})`
          : err.message;
    const key = `${err.path} ${message}`;
    if (seen.has(key)) continue; // unions repeat themselves
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}
