/** Scenario files with their placeholders filled: {{SERVICE}} (a loopback service URL), {{SECRET}} (a credential file). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Scenario } from "./mock-llm";

export function loadScenario(name: string, vars: Record<string, string>): Scenario {
  let text = readFileSync(join(import.meta.dir, "scenarios", `${name}.json`), "utf8");
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{{${k}}}`, v);
  return JSON.parse(text) as Scenario;
}
