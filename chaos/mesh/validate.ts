/**
 * Validation of chaos/mesh manifests: (1) the project's own schema of the
 * fields it relies on, with the semantic rules upstream keeps in its
 * webhooks (Go durations, percent ranges, mode/value pairs); (2) when the
 * upstream CRDs are present (../shared/vendor/chaos-mesh-crds, or
 * VIGIL_CHAOS_MESH_CRDS), their openAPIV3Schema through Ajv.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { parseAllDocuments } from "yaml";
import { ROOT } from "../../lab/daemon";

export const MESH_DIR = join(ROOT, "chaos/mesh");
const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const MODES = ["one", "all", "fixed", "fixed-percent", "random-max-percent"];
const ACTIONS: Record<string, string[]> = {
  PodChaos: ["pod-kill", "pod-failure", "container-kill"],
  NetworkChaos: ["delay", "loss", "duplicate", "corrupt", "partition", "bandwidth"],
  IOChaos: ["latency", "fault", "attrOverride", "mistake"],
};
const TEMPLATE_FIELD: Record<string, string> = { PodChaos: "podChaos", StressChaos: "stressChaos", NetworkChaos: "networkChaos", IOChaos: "ioChaos" };

export interface Manifest {
  file: string;
  doc: Record<string, any>;
}

export function loadManifests(dir = MESH_DIR): Manifest[] {
  const out: Manifest[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort())
    for (const d of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) if (d.contents) out.push({ file: f, doc: d.toJS() });
  return out;
}

/** Problems with one chaos spec (of a kind) by the project's rules. */
function checkChaosSpec(kind: string, spec: Record<string, any>, at: string): string[] {
  const p: string[] = [];
  if (!spec.selector || typeof spec.selector !== "object") p.push(`${at}.selector is required`);
  if (!MODES.includes(spec.mode)) p.push(`${at}.mode must be one of ${MODES.join(", ")}`);
  if (spec.mode?.startsWith("fixed") || spec.mode === "random-max-percent") if (spec.value === undefined) p.push(`${at}.value is required with mode ${spec.mode}`);
  if (ACTIONS[kind] && !ACTIONS[kind]!.includes(spec.action)) p.push(`${at}.action must be one of ${ACTIONS[kind]!.join(", ")}`);
  if (spec.duration !== undefined && !DURATION.test(spec.duration)) p.push(`${at}.duration ${JSON.stringify(spec.duration)} is not a Go duration`);
  if (kind === "StressChaos" && !spec.stressors?.cpu && !spec.stressors?.memory) p.push(`${at}.stressors needs cpu or memory`);
  if (kind === "NetworkChaos" && spec.action === "delay" && !DURATION.test(spec.delay?.latency ?? "")) p.push(`${at}.delay.latency must be a Go duration`);
  if (kind === "IOChaos") {
    if (!spec.volumePath) p.push(`${at}.volumePath is required`);
    if (spec.percent !== undefined && (spec.percent < 0 || spec.percent > 100)) p.push(`${at}.percent must be 0..100`);
    if (spec.action === "latency" && !DURATION.test(spec.delay ?? "")) p.push(`${at}.delay must be a Go duration`);
    if (spec.action === "fault" && !(spec.errno > 0)) p.push(`${at}.errno is required for a fault`);
  }
  return p;
}

/** The project's own checks (always run). */
export function ownProblems(m: Manifest): string[] {
  const { doc } = m;
  const at = `${m.file} ${doc.kind}/${doc.metadata?.name}`;
  if (doc.apiVersion !== "chaos-mesh.org/v1alpha1") return [`${at}: apiVersion must be chaos-mesh.org/v1alpha1`];
  if (!doc.metadata?.name) return [`${at}: metadata.name is required`];
  if (doc.kind !== "Workflow") return checkChaosSpec(doc.kind, doc.spec ?? {}, `${at}: spec`);
  const p: string[] = [];
  const templates = (doc.spec?.templates ?? []) as Record<string, any>[];
  const names = new Set(templates.map((t) => t.name));
  if (!names.has(doc.spec?.entry)) p.push(`${at}: spec.entry ${JSON.stringify(doc.spec?.entry)} names no template`);
  let statusCheck = false;
  for (const t of templates) {
    const tat = `${at}: template ${t.name}`;
    for (const c of t.children ?? []) if (!names.has(c)) p.push(`${tat}: child ${c} names no template`);
    if (t.deadline !== undefined && !DURATION.test(t.deadline)) p.push(`${tat}: deadline is not a Go duration`);
    if (t.templateType === "StatusCheck") {
      statusCheck = true;
      if (t.statusCheck?.type !== "HTTP" || !/\/readyz$/.test(t.statusCheck?.http?.url ?? "")) p.push(`${tat}: the steady-state check must be HTTP on /readyz`);
    } else if (TEMPLATE_FIELD[t.templateType]) p.push(...checkChaosSpec(t.templateType, t[TEMPLATE_FIELD[t.templateType]!] ?? {}, `${tat}.${TEMPLATE_FIELD[t.templateType]}`));
    else if (!["Serial", "Parallel", "Suspend", "Task"].includes(t.templateType)) p.push(`${tat}: unknown templateType ${t.templateType}`);
  }
  if (!statusCheck) p.push(`${at}: a Workflow needs a StatusCheck on /readyz (the steady-state hypothesis)`);
  return p;
}

export function crdDir(): string | null {
  for (const d of [process.env.VIGIL_CHAOS_MESH_CRDS, join(ROOT, "../shared/vendor/chaos-mesh-crds"), "/work/shared/vendor/chaos-mesh-crds"]) if (d && existsSync(d)) return d;
  return null;
}

/**
 * OpenAPI 3.0 (what CRDs carry) writes exclusiveMinimum/Maximum as booleans beside minimum/maximum;
 * JSON Schema (Ajv) wants the bound itself. Rewrite those; everything else is left as it is.
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== "object") return node;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) o[k] = toJsonSchema(v);
  for (const [flag, bound] of [["exclusiveMinimum", "minimum"], ["exclusiveMaximum", "maximum"]] as const) {
    if (typeof o[flag] !== "boolean") continue;
    if (o[flag] === true && typeof o[bound] === "number") {
      o[flag] = o[bound];
      delete o[bound];
    } else delete o[flag];
  }
  return o;
}

/** Problems by the upstream CRD schema, or null when the CRDs are not on this machine. */
export function upstreamProblems(manifests: Manifest[], dir = crdDir()): string[] | null {
  if (!dir) return null;
  // Kubernetes formats (int32, int64, date-time ...) are not checked: declared known, validated as their type.
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, formats: { int32: true, int64: true, "date-time": true, byte: true, double: true, float: true } });
  const validators = new Map<string, ReturnType<typeof ajv.compile>>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    const crd = parseAllDocuments(readFileSync(join(dir, f), "utf8"))[0]!.toJS() as Record<string, any>;
    validators.set(crd.spec.names.kind, ajv.compile(toJsonSchema(crd.spec.versions[0].schema.openAPIV3Schema) as object));
  }
  const p: string[] = [];
  for (const m of manifests) {
    const v = validators.get(m.doc.kind);
    if (!v) {
      p.push(`${m.file}: no upstream CRD for kind ${m.doc.kind}`);
      continue;
    }
    if (!v(m.doc)) for (const e of v.errors ?? []) p.push(`${m.file} ${m.doc.kind}/${m.doc.metadata?.name}: ${e.instancePath || "(root)"} ${e.message}`);
  }
  return p;
}
