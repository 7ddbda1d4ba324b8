/**
 * Service configuration: an optional file (YAML or JSON), then environment
 * variables on top. One TypeBox schema validates both; an unknown or invalid
 * setting is an error naming its path (e.g. `retention.maxAgeHours`).
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { schemaProblems } from "../util/schema-problems";
import { parse as parseYaml } from "yaml";
import { FIREHOSE_RING_DEFAULT, FIREHOSE_RING_MAX } from "../sensor/sensor";
import { CAPTURE_KINDS, parseCaptureList } from "../sensor/capture";
import { LLM_BODIES } from "../intent/intent-tracker";
import { TLS_CHUNK, TLS_CHUNKS_MAX } from "../abi/layout";
import { TLS_CALL_BYTES } from "../sensor/sensor";
import { Redactor } from "../events/redact";

export const ConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: "127.0.0.1" }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7411 }),
    dataDir: Type.String({ minLength: 1, default: "./.vigil" }),
    /** Admin bearer token: every /v1 route. Unset: generated into <dataDir>/token. */
    token: Type.Optional(Type.String({ minLength: 16 })),
    /** Read-only bearer token: GET routes only (scrapers, dashboards). Unset: generated into <dataDir>/read-token. */
    readToken: Type.Optional(Type.String({ minLength: 16 })),
    /** TLS for the API (PEM files). Needed to listen on any address that is not loopback, unless allowPlaintext. */
    tls: Type.Optional(Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
    /** Listen on a non-loopback address without TLS (tokens and events cross the network in clear): say so explicitly. */
    allowPlaintext: Type.Boolean({ default: false }),
    syscalls: Type.Union([Type.Literal("off"), Type.Literal("aggregate"), Type.Literal("firehose")], { default: "aggregate" }),
    ringBytes: Type.Integer({ minimum: 4096, maximum: 1 << 30, default: 16 << 20 }),
    /** Firehose mode: bytes of records each CPU's ring holds (16 a record), rounded up to a power of two of 2 MiB. */
    firehoseRingBytes: Type.Integer({ minimum: 1, maximum: FIREHOSE_RING_MAX, default: FIREHOSE_RING_DEFAULT }),
    /** The optional event kinds to report (process events always are); each costs every syscall something (see src/sensor/capture.ts). */
    capture: Type.Array(Type.Union(CAPTURE_KINDS.map((k) => Type.Literal(k))), { uniqueItems: true, default: [...CAPTURE_KINDS] }),
    /** The longest wait between drains of the kernel rings (shorter while they fill): event latency against wakeups. Unset: the observer's default for the syscall mode. */
    drainIntervalMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000 })),
    /** Observe only these cgroup v2 paths (relative to the cgroup2 mount); empty: the whole machine. */
    cgroups: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    retention: Type.Object(
      {
        maxAgeHours: Type.Number({ exclusiveMinimum: 0, default: 24 }),
        maxBytes: Type.Integer({ minimum: 1 << 20, default: 1 << 30 }),
      },
      { additionalProperties: false, default: {} },
    ),
    store: Type.Object(
      {
        /** Events waiting to be written; beyond it they are dropped and counted. */
        queueLimit: Type.Integer({ minimum: 100, default: 100_000 }),
        flushIntervalMs: Type.Integer({ minimum: 1, maximum: 10_000, default: 50 }),
      },
      { additionalProperties: false, default: {} },
    ),
    streams: Type.Object(
      {
        heartbeatMs: Type.Integer({ minimum: 100, default: 15_000 }),
        /** Events buffered per SSE subscriber before it gets a gap message. */
        subscriberBuffer: Type.Integer({ minimum: 1, default: 1000 }),
        maxSubscribers: Type.Integer({ minimum: 1, default: 64 }),
      },
      { additionalProperties: false, default: {} },
    ),
    policies: Type.Object(
      {
        /** Directory of policy files (*.yaml); watched and hot-reloaded. Unset: no policies. */
        dir: Type.Optional(Type.String({ minLength: 1 })),
        watch: Type.Boolean({ default: true }),
        reloadDebounceMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 200 }),
      },
      { additionalProperties: false, default: {} },
    ),
    profiles: Type.Object(
      {
        /** Opening one of these (globs) is a high-severity deviation once an agent has a baseline. */
        sensitivePaths: Type.Array(Type.String({ minLength: 1 }), {
          default: ["/root/.ssh/**", "/home/*/.ssh/**", "/etc/shadow", "/etc/sudoers", "/etc/sudoers.d/**", "**/.aws/credentials", "**/.env", "**/.netrc", "**/.git-credentials", "**/.docker/config.json", "**/.kube/config"],
        }),
        /** Learn a baseline automatically for this many seconds after an agent appears (0: only on request). */
        learnSeconds: Type.Integer({ minimum: 0, maximum: 7 * 86400, default: 0 }),
      },
      { additionalProperties: false, default: {} },
    ),
    readiness: Type.Object(
      {
        /**
         * Not ready while more than this fraction of the events caused in the
         * last `dropWindowSeconds` were lost at any stage (1: never).
         */
        maxDropRatio: Type.Number({ minimum: 0, maximum: 1, default: 0.2 }),
        dropWindowSeconds: Type.Integer({ minimum: 2, maximum: 300, default: 10 }),
        /** Fewer events than this in the window are too few to judge. */
        minEvents: Type.Integer({ minimum: 1, default: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    redaction: Type.Object(
      {
        /** Cut secrets from command lines before anything is stored or sent (src/events/redact.ts). Off: forensics. */
        enabled: Type.Boolean({ default: true }),
        /** Extra patterns (JavaScript regular expressions) whose matches are cut as well. */
        patterns: Type.Array(Type.String({ minLength: 1, maxLength: 1000 }), { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Agent intent from TLS traffic (capture kind `tls`): `full` keeps prompts, completions and tool
     * arguments (bounded, redacted), `metadata` only models, tokens and tool names, `off` reads no TLS.
     */
    llmBodies: Type.Union(LLM_BODIES.map((b) => Type.Literal(b)), { default: "full" }),
    /** Plaintext bytes of one TLS read or write copied at most (whole 4 KiB chunks; a call beyond is flagged truncated). */
    tlsCallBytes: Type.Integer({ minimum: TLS_CHUNK, maximum: TLS_CHUNK * TLS_CHUNKS_MAX, default: TLS_CALL_BYTES }),
    /**
     * Fail-closed: the enforcement maps and the enforcing programs' links are pinned in bpffs, so the rules
     * stay in force (connect refusal on contained agents, kill at exec) while the daemon is down; a restart
     * adopts them. A clean stop releases them.
     */
    failClosed: Type.Boolean({ default: true }),
    logLevel: Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error")], { default: "info" }),
  },
  { additionalProperties: false },
);
export type Config = Static<typeof ConfigSchema>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: { path: string; message: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.path || "(root)"}: ${p.message}`).join("; ")}`);
  }
}

/** Environment variables and the config path each one sets. */
export const ENV: Record<string, { path: string[]; kind: "string" | "int" | "number" | "boolean" | "list" | "capture" }> = {
  VIGIL_HOST: { path: ["host"], kind: "string" },
  VIGIL_PORT: { path: ["port"], kind: "int" },
  VIGIL_DATA_DIR: { path: ["dataDir"], kind: "string" },
  VIGIL_TOKEN: { path: ["token"], kind: "string" },
  VIGIL_READ_TOKEN: { path: ["readToken"], kind: "string" },
  VIGIL_TLS_CERT: { path: ["tls", "cert"], kind: "string" },
  VIGIL_TLS_KEY: { path: ["tls", "key"], kind: "string" },
  VIGIL_ALLOW_PLAINTEXT: { path: ["allowPlaintext"], kind: "boolean" },
  VIGIL_SYSCALLS: { path: ["syscalls"], kind: "string" },
  VIGIL_RING_BYTES: { path: ["ringBytes"], kind: "int" },
  VIGIL_FIREHOSE_RING_BYTES: { path: ["firehoseRingBytes"], kind: "int" },
  VIGIL_DRAIN_INTERVAL_MS: { path: ["drainIntervalMs"], kind: "int" },
  VIGIL_CAPTURE: { path: ["capture"], kind: "capture" },
  VIGIL_CGROUPS: { path: ["cgroups"], kind: "list" },
  VIGIL_RETENTION_MAX_AGE_HOURS: { path: ["retention", "maxAgeHours"], kind: "number" },
  VIGIL_RETENTION_MAX_BYTES: { path: ["retention", "maxBytes"], kind: "int" },
  VIGIL_STORE_QUEUE_LIMIT: { path: ["store", "queueLimit"], kind: "int" },
  VIGIL_STREAM_HEARTBEAT_MS: { path: ["streams", "heartbeatMs"], kind: "int" },
  VIGIL_LOG_LEVEL: { path: ["logLevel"], kind: "string" },
  VIGIL_REDACT: { path: ["redaction", "enabled"], kind: "boolean" },
  VIGIL_LLM_BODIES: { path: ["llmBodies"], kind: "string" },
  VIGIL_TLS_CALL_BYTES: { path: ["tlsCallBytes"], kind: "int" },
  VIGIL_FAIL_CLOSED: { path: ["failClosed"], kind: "boolean" },
  VIGIL_POLICY_DIR: { path: ["policies", "dir"], kind: "string" },
  VIGIL_READINESS_MAX_DROP_RATIO: { path: ["readiness", "maxDropRatio"], kind: "number" },
  VIGIL_READINESS_DROP_WINDOW_SECONDS: { path: ["readiness", "dropWindowSeconds"], kind: "int" },
};
/** Read by the process, not configuration. */
const NOT_SETTINGS = new Set(["VIGIL_CONFIG"]);

type Tree = Record<string, unknown>;

function set(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const k of path.slice(0, -1)) {
    if (typeof node[k] !== "object" || node[k] === null) node[k] = {};
    node = node[k] as Tree;
  }
  node[path.at(-1)!] = value;
}

function fromEnv(env: Record<string, string | undefined>, tree: Tree, problems: { path: string; message: string }[]): void {
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("VIGIL_") || raw === undefined || NOT_SETTINGS.has(name)) continue;
    const spec = ENV[name];
    if (!spec) {
      problems.push({ path: name, message: `unknown setting (known: ${Object.keys(ENV).join(", ")})` });
      continue;
    }
    let value: unknown = raw;
    if (spec.kind === "int" || spec.kind === "number") {
      // One form each, as the API's query values: Number() would also take "0x10", "1e3" and " 8080".
      const form = spec.kind === "int" ? /^-?(0|[1-9][0-9]*)$/ : /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;
      value = Number(raw);
      if (!form.test(raw) || !Number.isFinite(value)) {
        problems.push({ path: `${name} (${spec.path.join(".")})`, message: `${JSON.stringify(raw.slice(0, 200))} is not ${spec.kind === "int" ? "a decimal integer" : "a decimal number"}` });
        continue;
      }
    } else if (spec.kind === "boolean") {
      if (raw !== "true" && raw !== "false") {
        problems.push({ path: `${name} (${spec.path.join(".")})`, message: `${JSON.stringify(raw.slice(0, 200))} is not true or false` });
        continue;
      }
      value = raw === "true";
    } else if (spec.kind === "list") value = raw.split(",").map((s) => s.trim()).filter(Boolean);
    else if (spec.kind === "capture") {
      try {
        value = parseCaptureList(name, raw);
      } catch (e) {
        problems.push({ path: `${name} (${spec.path.join(".")})`, message: (e as Error).message.slice(name.length + 2) });
        continue;
      }
    }
    set(tree, spec.path, value);
  }
}

export function loadConfigFile(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError([{ path: path, message: `cannot read config file: ${(e as Error).message}` }]);
  }
  try {
    const doc = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
    if (doc === null || doc === undefined) return {};
    if (typeof doc !== "object" || Array.isArray(doc)) throw new Error("the top level must be a mapping");
    return doc as Tree;
  } catch (e) {
    throw new ConfigError([{ path: path, message: `cannot parse: ${(e as Error).message.split("\n")[0]}` }]);
  }
}

/** File (if any), then environment, then defaults; throws ConfigError listing every problem. */
export function loadConfig(options: { file?: string; env?: Record<string, string | undefined> } = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.VIGIL_CONFIG;
  const tree: Tree = file ? loadConfigFile(file) : {};
  const problems: { path: string; message: string }[] = [];
  fromEnv(env, tree, problems);
  const withDefaults = Value.Default(ConfigSchema, structuredClone(tree)) as Tree;
  for (const p of schemaProblems(ConfigSchema, withDefaults, "unknown setting")) problems.push({ path: p.path.join("."), message: p.message });
  if (!problems.length) {
    const c = withDefaults as Config;
    if (!isLoopback(c.host) && !c.tls && !c.allowPlaintext)
      problems.push({ path: "host", message: `${c.host} is not a loopback address: give tls.cert and tls.key (VIGIL_TLS_CERT, VIGIL_TLS_KEY), or set allowPlaintext: true to serve tokens and events in clear` });
    if (c.tls) for (const k of ["cert", "key"] as const) if (!existsSync(resolve(c.tls[k]))) problems.push({ path: `tls.${k}`, message: `${c.tls[k]} does not exist` });
    for (const p of Redactor.compile(c.redaction.patterns)) problems.push({ path: "redaction.patterns", message: `not a regular expression: ${p}` });
    if (c.readToken !== undefined && c.readToken === c.token) problems.push({ path: "readToken", message: "must differ from token (a read-only token equal to the admin token would grant admin)" });
  }
  if (problems.length) throw new ConfigError(problems);
  const config = withDefaults as Config;
  return { ...config, dataDir: resolve(config.dataDir) };
}

/** 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
