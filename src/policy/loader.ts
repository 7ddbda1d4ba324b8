/**
 * Policy files → validated Policy documents, every problem located by file,
 * line, column and field path. Several documents per file (`---`).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from "yaml";
import { Value } from "@sinclair/typebox/value";
import { schemaProblems } from "../util/schema-problems";
import { PolicySchema, type Policy } from "./schema";

export interface PolicyProblem {
  file: string;
  line?: number;
  column?: number;
  /** dotted field path inside the document, e.g. spec.rules[0].action */
  path: string;
  message: string;
}

export class PolicyError extends Error {
  override readonly name = "PolicyError";
  constructor(readonly problems: PolicyProblem[]) {
    super(problems.map(formatProblem).join("\n"));
  }
}

export function formatProblem(p: PolicyProblem): string {
  const where = p.line ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return `${where}: ${p.path ? `${p.path}: ` : ""}${p.message}`;
}

export interface PolicySource {
  file: string;
  text: string;
}

/** One parsed document and a way to point at any of its fields. */
export interface LoadedPolicy {
  policy: Policy;
  file: string;
  locate(path: (string | number)[], message: string): PolicyProblem;
}

export function dottedPath(path: readonly (string | number)[]): string {
  return path.map((s, i) => (typeof s === "number" || /^\d+$/.test(String(s)) ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

function locator(file: string, doc: Document, lines: LineCounter) {
  return (path: (string | number)[], message: string): PolicyProblem => {
    // The deepest node that exists on the path: a missing field points at its parent.
    let node: unknown = doc.contents;
    for (let i = path.length; i >= 0; i--) {
      const n = doc.getIn(path.slice(0, i).map((s) => (/^\d+$/.test(String(s)) ? Number(s) : s)), true);
      if (n && (isMap(n) || isSeq(n) || isScalar(n))) {
        node = n;
        break;
      }
    }
    const range = (node as { range?: [number, number, number] } | null)?.range;
    const pos = range ? lines.linePos(range[0]) : undefined;
    return { file, line: pos?.line, column: pos?.col, path: dottedPath(path), message };
  };
}

/** How many alias expansions one document may make (the yaml library's own default is 100). */
export const MAX_ALIAS_COUNT = 100;

/** Parse and schema-check one file's documents. Problems are collected, not thrown. */
export function parsePolicySource(src: PolicySource): { policies: LoadedPolicy[]; problems: PolicyProblem[] } {
  const lines = new LineCounter();
  const policies: LoadedPolicy[] = [];
  const problems: PolicyProblem[] = [];
  let docs: Document[];
  try {
    docs = parseAllDocuments(src.text, { lineCounter: lines, prettyErrors: false }) as Document[];
  } catch (e) {
    return { policies, problems: [{ file: src.file, path: "", message: `cannot parse YAML: ${(e as Error).message}` }] };
  }
  if (!Array.isArray(docs)) docs = [];
  for (const doc of docs) {
    if (doc.errors.length) {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0]);
        problems.push({ file: src.file, line: pos?.line, column: pos?.col, path: "", message: `YAML syntax: ${err.message.split("\n")[0]}` });
      }
      continue;
    }
    if (doc.contents === null) continue; // an empty document (e.g. a trailing ---)
    let value: unknown;
    try {
      // Aliases are bounded: a billion-laughs document expands each alias exponentially.
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      problems.push({ file: src.file, path: "", message: `cannot load YAML: ${(e as Error).message} (at most ${MAX_ALIAS_COUNT} alias expansions)` });
      continue;
    }
    const locate = locator(src.file, doc, lines);
    const schemaErrors = schemaProblems(PolicySchema, value);
    if (schemaErrors.length) {
      for (const p of schemaErrors) problems.push(locate(p.path, p.message));
      continue;
    }
    policies.push({ policy: Value.Clean(PolicySchema, value) as Policy, file: src.file, locate });
  }
  if (docs.length === 0 || (policies.length === 0 && problems.length === 0))
    problems.push({ file: src.file, path: "", message: "no policy document in this file" });
  return { policies, problems };
}

/** The policy files of a directory (*.yaml, *.yml), sorted by name. */
export function readPolicyDirectory(dir: string): PolicySource[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith("."))
    .sort()
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map(readPolicyFile);
}

export function readPolicyFile(file: string): PolicySource {
  try {
    return { file, text: readFileSync(file, "utf8") };
  } catch (e) {
    throw new PolicyError([{ file, path: "", message: `cannot read: ${(e as Error).message}` }]);
  }
}
