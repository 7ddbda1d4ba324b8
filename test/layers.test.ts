/**
 * The layers the README draws, as the code has them: every folder of src/
 * has a rank, and a file may import only from its own folder or one of a
 * lower rank. A new folder must be given a rank here; an import upward, or
 * a cycle between folders, fails. (`bun run lint:layers` runs this file.)
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./helpers";

/** Lowest first; the README's "Layers" list says the same. */
export const LAYERS: Record<string, number> = {
  util: 0,
  kernel: 0,
  abi: 1,
  cgroup: 1,
  events: 2,
  ring: 2,
  proc: 3,
  store: 3,
  agents: 4,
  intent: 4,
  pipeline: 5,
  enforce: 5,
  sensor: 6,
  observer: 7,
  sinks: 7,
  policy: 8,
  profiles: 9,
  runtime: 9,
  report: 9,
  cli: 10,
  service: 10,
};

const SRC = join(ROOT, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Every import and re-export of a file, type-only ones included: a cycle of types is still a cycle of meaning. */
function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gm), ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]!);
}

/** The src/ folder an import lands in, or null for a package or a file outside src/. */
function folderOf(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const target = relative(SRC, join(from, "..", spec));
  return target.startsWith("..") ? null : target.split("/")[0]!;
}

const edges = new Map<string, Set<string>>();
const upward: string[] = [];
for (const file of files(SRC)) {
  const folder = relative(SRC, file).split("/")[0]!;
  for (const spec of imports(file)) {
    const to = folderOf(file, spec);
    if (!to || to === folder) continue;
    if (!edges.has(folder)) edges.set(folder, new Set());
    edges.get(folder)!.add(to);
    if ((LAYERS[to] ?? Infinity) > (LAYERS[folder] ?? -Infinity)) upward.push(`${relative(ROOT, file)} imports ${spec} (${folder}, rank ${LAYERS[folder]}, -> ${to}, rank ${LAYERS[to]})`);
  }
}

describe("layers", () => {
  test("every folder of src/ has a rank", () => {
    const folders = readdirSync(SRC).filter((d) => statSync(join(SRC, d)).isDirectory());
    expect(folders.filter((f) => LAYERS[f] === undefined)).toEqual([]);
  });

  test("imports flow downward only", () => {
    expect(upward).toEqual([]);
  });

  test("no cycle between folders", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const walk = (node: string, path: string[]) => {
      state.set(node, "open");
      for (const next of edges.get(node) ?? []) {
        if (state.get(next) === "open") cycles.push([...path.slice(path.indexOf(next)), next].join(" -> "));
        else if (!state.has(next)) walk(next, [...path, next]);
      }
      state.set(node, "done");
    };
    for (const node of edges.keys()) if (!state.has(node)) walk(node, [node]);
    expect(cycles).toEqual([]);
  });

  test("the check itself sees imports: cli and service import from below", () => {
    expect(edges.get("service")?.has("store")).toBe(true);
    expect(edges.get("cli")?.has("observer")).toBe(true);
    expect(edges.get("ring")?.has("kernel")).toBe(true);
  });
});
