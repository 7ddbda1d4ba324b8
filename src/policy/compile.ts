/**
 * Validated policy documents → a PolicySet: one matcher per rule for
 * userspace, and a kernel plan (exec rules by binary identity, connect rules
 * by network and port) for the rules the kernel enforces. Everything this
 * machine cannot enforce is refused here, with the reason, before anything
 * is switched.
 */
import { statSync } from "node:fs";
import { createHash } from "node:crypto";
import type { ActionName } from "../abi/layout";
import { CONNECT_RULES, ConnectRuleFlag, RULE_PORTS } from "../abi/layout";
import type { VigilEvent } from "../events/types";
import type { Capabilities } from "../sensor/capabilities";
import type { KernelPlan } from "../enforce/kernel-enforcer";
import { CAPTURE_KINDS, isCaptureKind, type CaptureKind } from "../sensor/capture";
import { cidrContains, parseAddress, parseCidr, type Cidr } from "../enforce/cidr";
import { parsePolicySource, PolicyError, type LoadedPolicy, type PolicyProblem, type PolicySource } from "./loader";
import type { EventKind, Match, Rule, Severity } from "./schema";
import type { Enforcement } from "../events/records";

export type { Enforcement };

/** What a matcher may ask about the process behind an event. */
export interface MatchContext {
  /** The program the process runs now (from the process tree), if known. */
  exe(pid: number): string | undefined;
}

export interface CompiledRule {
  /** Unique across reloads: kernel records name rules by this id. */
  id: number;
  policy: string;
  name: string;
  file: string;
  event: EventKind;
  action: ActionName;
  severity: Severity;
  enforcement: Enforcement;
  agents: readonly string[] | null;
  matchesAgent(agent: string | undefined): boolean;
  matches(event: VigilEvent, ctx: MatchContext): boolean;
}

export interface PolicySet {
  rules: CompiledRule[];
  byEvent: Map<string, CompiledRule[]>;
  kernel: KernelPlan;
  policies: { name: string; file: string; rules: number }[];
  /** Not errors: e.g. a binary that does not exist (yet) on this machine. */
  warnings: PolicyProblem[];
  /** sha256 of the sources, to tell whether a reload changes anything. */
  digest: string;
}

let nextRuleId = 1;

const DEFAULT_SEVERITY: Record<ActionName, Severity> = { alert: "medium", deny: "high", kill: "high", freeze: "high", "kill-tree": "critical" };
const FIELDS_FOR: Record<keyof Omit<Match, "event">, EventKind[] | "any"> = {
  binary: "any",
  argv: ["exec"],
  path: ["open"],
  cidr: ["connect"],
  notCidr: ["connect"],
  port: ["connect"],
  uid: "any",
  comm: "any",
};
const GLOB_CHARS = /[*?[\]{}]/;

/** Kernel encoding of a device number (MKDEV) from stat's st_dev (new_encode_dev). */
export function kernelDev(stDev: number): number {
  const major = (stDev >> 8) & 0xfff;
  const minor = (stDev & 0xff) | ((stDev >> 12) & 0xfff00);
  return ((major << 20) | minor) >>> 0;
}

/**
 * Exact strings by set lookup; globs through Bun.Glob, each behind a cheap
 * necessary condition (its literal prefix, or for `** /x` its literal suffix)
 * so that most non-matching strings never reach the glob engine.
 */
export function globMatcher(patterns: readonly string[]): (s: string) => boolean {
  const exact = new Set(patterns.filter((p) => !GLOB_CHARS.test(p)));
  const globs = patterns
    .filter((p) => GLOB_CHARS.test(p))
    .map((p) => {
      const prefix = p.slice(0, p.search(GLOB_CHARS));
      const tail = p.startsWith("**/") && !GLOB_CHARS.test(p.slice(3)) ? p.slice(2) : "";
      return { glob: new Bun.Glob(p), prefix, tail };
    });
  return (s) => {
    if (exact.has(s)) return true;
    for (const g of globs) if (s.startsWith(g.prefix) && (g.tail === "" || s.endsWith(g.tail) || s === g.tail.slice(1)) && g.glob.match(s)) return true;
    return false;
  };
}

/** Connect rules of one event share one parse of its address. */
let lastAddress = "";
let lastBytes: Uint8Array | null = null;
function addressBytes(a: string): Uint8Array | null {
  if (a !== lastAddress) {
    lastAddress = a;
    lastBytes = parseAddress(a);
  }
  return lastBytes;
}

/** Binaries named by a rule → their identities now. Single-level globs are expanded; `**` is not. */
function resolveBinaries(patterns: readonly string[], locate: (i: number, m: string) => PolicyProblem, problems: PolicyProblem[], warnings: PolicyProblem[]) {
  const targets = new Map<string, { dev: number; ino: bigint; path: string }>();
  patterns.forEach((p, i) => {
    if (!p.startsWith("/")) return problems.push(locate(i, `binary ${JSON.stringify(p)} must be an absolute path for the kernel to match it`));
    let paths = [p];
    if (GLOB_CHARS.test(p)) {
      if (p.includes("**")) return problems.push(locate(i, `binary ${JSON.stringify(p)}: "**" cannot be expanded into the kernel's exact binary set; name the directory level`));
      paths = [...new Bun.Glob(p.slice(1)).scanSync({ cwd: "/", onlyFiles: true, followSymlinks: true })].map((r) => `/${r}`).slice(0, 4096);
    }
    let found = 0;
    for (const path of paths) {
      try {
        const st = statSync(path, { bigint: true });
        if (!st.isFile()) continue;
        const key = `${st.dev}:${st.ino}`;
        if (!targets.has(key)) targets.set(key, { dev: kernelDev(Number(st.dev)), ino: st.ino, path });
        found++;
      } catch {
        /* missing: warned below */
      }
    }
    if (found === 0) warnings.push(locate(i, `binary ${JSON.stringify(p)} matches no file on this machine now: the kernel cannot act on it until a reload after it exists (userspace still matches the path)`));
  });
  return [...targets.values()];
}

function compileMatcher(m: Match): (e: VigilEvent, ctx: MatchContext) => boolean {
  const checks: ((e: VigilEvent, ctx: MatchContext) => boolean)[] = [];
  if (m.binary) {
    const test = globMatcher(m.binary);
    checks.push((e, ctx) => {
      const bin = e.type === "exec" ? e.filename : ctx.exe(e.pid);
      return bin !== undefined && test(bin);
    });
  }
  if (m.argv) {
    const needles = m.argv;
    checks.push((e) => e.type === "exec" && e.argv.some((a) => needles.some((n) => a.includes(n))));
  }
  if (m.path) {
    const test = globMatcher(m.path);
    checks.push((e) => e.type === "open" && test(e.path));
  }
  if (m.cidr || m.notCidr) {
    const inAny = (list: Cidr[], a: Uint8Array) => list.some((c) => cidrContains(c, a));
    const yes = (m.cidr ?? []).map(parseCidr);
    const no = (m.notCidr ?? []).map(parseCidr);
    checks.push((e) => {
      if (e.type !== "connect") return false;
      const a = addressBytes(e.address);
      if (!a) return false;
      return (yes.length === 0 || inAny(yes, a)) && !inAny(no, a);
    });
  }
  if (m.port) {
    const ports = new Set(m.port);
    checks.push((e) => e.type === "connect" && ports.has(e.port));
  }
  if (m.uid) {
    const uids = new Set(m.uid);
    checks.push((e) => "uid" in e && uids.has(e.uid));
  }
  if (m.comm) {
    const test = globMatcher(m.comm);
    checks.push((e) => "comm" in e && test(e.comm));
  }
  return (e, ctx) => {
    for (const c of checks) if (!c(e, ctx)) return false;
    return true;
  };
}

/** How (and whether) this machine can carry out a rule; a string is the refusal. */
function planEnforcement(rule: Rule, caps: Capabilities): { enforcement: Enforcement; kernel: "exec" | "connect" | null } | string {
  const { action } = rule;
  const ev = rule.match.event;
  const m = rule.match;
  if (action === "alert") return { enforcement: "none", kernel: null };
  if (action === "freeze" && !caps.cgroupFreeze.ok) return `action freeze needs cgroup.freeze: ${caps.cgroupFreeze.detail}`;
  if (ev === "connect") {
    const userspaceOnly = (["binary", "uid", "comm"] as const).filter((k) => m[k] !== undefined);
    if (userspaceOnly.length === 0) {
      if (!caps.connectGuard.ok) return `action ${action} on connect needs the cgroup connect hooks: ${caps.connectGuard.detail}`;
      return { enforcement: "kernel", kernel: "connect" };
    }
    if (action === "deny")
      return `deny on connect is decided in the kernel's cgroup connect hook, which sees the destination only: ${userspaceOnly.join(", ")} cannot be part of a deny rule (use cidr, notCidr and port, or action alert)`;
    return { enforcement: "userspace", kernel: null };
  }
  if (ev === "exec") {
    if (action === "deny")
      return caps.bpfLsm.ok
        ? "deny on exec is not implemented by this Vigil (it needs a BPF LSM program); use kill, which stops the new program before it runs"
        : `deny on exec needs BPF LSM, and ${caps.bpfLsm.detail}; use kill, which stops the new program before it runs`;
    const kernelable = m.binary !== undefined && m.argv === undefined && m.uid === undefined && m.comm === undefined;
    if (action === "kill" && !kernelable)
      return "kill on exec is carried out in the kernel, which matches the binary only: a kill rule needs `binary` and no argv, uid or comm conditions (use kill-tree or freeze, carried out by Vigil after the exec, for those)";
    return kernelable && (action === "kill" || action === "kill-tree") ? { enforcement: "kernel", kernel: "exec" } : { enforcement: "userspace", kernel: null };
  }
  if (action === "deny") {
    if (ev === "open")
      return caps.bpfLsm.ok
        ? "deny on open is not implemented by this Vigil (it needs a BPF LSM program); use kill, freeze or kill-tree (carried out after the open) or alert"
        : `deny on open needs BPF LSM, and ${caps.bpfLsm.detail}; use kill, freeze or kill-tree (carried out after the open) or alert`;
    return `deny on ${ev} is not possible: a ${ev} cannot be refused (use alert, kill, freeze or kill-tree)`;
  }
  return { enforcement: "userspace", kernel: null };
}

function compileRule(lp: LoadedPolicy, rule: Rule, index: number, caps: Capabilities, capture: readonly CaptureKind[], problems: PolicyProblem[], warnings: PolicyProblem[], kernel: PolicySet["kernel"]): CompiledRule | null {
  const at = (path: (string | number)[], msg: string) => lp.locate(["spec", "rules", index, ...path], msg);
  const before = problems.length;
  const ev = rule.match.event;
  for (const [field, events] of Object.entries(FIELDS_FOR)) {
    if (rule.match[field as keyof Match] === undefined || events === "any") continue;
    if (!events.includes(ev)) problems.push(at(["match", field], `${field} applies to ${events.join(", ")} events, not ${ev}`));
  }
  for (const field of ["cidr", "notCidr"] as const)
    rule.match[field]?.forEach((c, i) => {
      try {
        parseCidr(c);
      } catch (e) {
        problems.push(at(["match", field, i], (e as Error).message));
      }
    });
  const plan = planEnforcement(rule, caps);
  if (typeof plan === "string") problems.push(at(["action"], plan));
  // A rule Vigil matches in userspace needs its events; one the kernel enforces (connect) does not.
  if (isCaptureKind(ev) && !capture.includes(ev) && (typeof plan === "string" || plan.kernel === null))
    problems.push(at(["match", "event"], `${ev} events are not captured here (capture: ${capture.length ? capture.join(", ") : "none"}): add ${ev} to the capture list, or drop the rule`));
  if (problems.length > before || typeof plan === "string") return null;

  const agents = lp.policy.spec.agents && !lp.policy.spec.agents.includes("*") ? lp.policy.spec.agents : null;
  const agentTest = agents ? globMatcher(agents) : null;
  const id = nextRuleId++;
  if (plan.kernel === "exec") {
    const targets = resolveBinaries(rule.match.binary!, (i, msg) => at(["match", "binary", i], msg), problems, warnings);
    kernel.exec.push({ ruleId: id, action: rule.action, agents, targets });
  } else if (plan.kernel === "connect") {
    const m = rule.match;
    const flags = (m.cidr ? ConnectRuleFlag.cidr : 0) | (m.notCidr ? ConnectRuleFlag.notCidr : 0) | (m.port ? ConnectRuleFlag.ports : 0);
    const cidrs = (m.cidr ?? m.notCidr ?? []).map(parseCidr);
    if (m.cidr && m.notCidr) {
      problems.push(at(["match"], "a kernel-enforced connect rule takes cidr or notCidr, not both (split it into two rules)"));
      return null;
    }
    // The kernel keeps RULE_PORTS ports per entry: more ports take more entries of the same rule.
    const ports = m.port ?? [];
    for (let i = 0; i === 0 || i < ports.length; i += RULE_PORTS) kernel.connect.push({ ruleId: id, action: rule.action, agents, flags, ports: ports.slice(i, i + RULE_PORTS), cidrs });
  }
  const matcher = compileMatcher(rule.match);
  return {
    id,
    policy: lp.policy.metadata.name,
    name: rule.name,
    file: lp.file,
    event: ev,
    action: rule.action,
    severity: rule.severity ?? DEFAULT_SEVERITY[rule.action],
    enforcement: plan.enforcement,
    agents,
    matchesAgent: (agent) => agent !== undefined && (agentTest === null || agentTest(agent)),
    matches: (e, ctx) => e.type === ev && matcher(e, ctx),
  };
}

/**
 * Parse, validate and compile every source; throws PolicyError listing every
 * problem (nothing is half-applied). `capture`: the optional event kinds the
 * observer reports (default all).
 */
export function compilePolicies(sources: PolicySource[], caps: Capabilities, capture: readonly CaptureKind[] = CAPTURE_KINDS): PolicySet {
  const problems: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  const loaded: LoadedPolicy[] = [];
  for (const src of sources) {
    const r = parsePolicySource(src);
    problems.push(...r.problems);
    loaded.push(...r.policies);
  }
  const set: PolicySet = { rules: [], byEvent: new Map(), kernel: { exec: [], connect: [] }, policies: [], warnings, digest: "" };
  const policyNames = new Map<string, string>();
  for (const lp of loaded) {
    const name = lp.policy.metadata.name;
    if (policyNames.has(name)) problems.push(lp.locate(["metadata", "name"], `policy ${name} is also defined in ${policyNames.get(name)}`));
    policyNames.set(name, lp.file);
    const ruleNames = new Set<string>();
    lp.policy.spec.rules.forEach((rule, i) => {
      if (ruleNames.has(rule.name)) problems.push(lp.locate(["spec", "rules", i, "name"], `rule ${rule.name} appears twice in policy ${name}`));
      ruleNames.add(rule.name);
      const c = compileRule(lp, rule, i, caps, capture, problems, warnings, set.kernel);
      if (c) set.rules.push(c);
    });
    set.policies.push({ name, file: lp.file, rules: lp.policy.spec.rules.length });
  }
  if (set.kernel.connect.length > CONNECT_RULES)
    problems.push({ file: sources.map((s) => s.file).join(", "), path: "", message: `${set.kernel.connect.length} kernel connect rule entries; the kernel holds ${CONNECT_RULES} (each ${RULE_PORTS} ports take one entry)` });
  if (problems.length) throw new PolicyError(problems);
  for (const r of set.rules) {
    const list = set.byEvent.get(r.event) ?? [];
    list.push(r);
    set.byEvent.set(r.event, list);
  }
  set.digest = sourcesDigest(sources);
  return set;
}

export function sourcesDigest(sources: readonly PolicySource[]): string {
  const h = createHash("sha256");
  for (const s of sources) h.update(s.file).update("\0").update(s.text).update("\0");
  return h.digest("hex");
}

export function emptyPolicySet(): PolicySet {
  return { rules: [], byEvent: new Map(), kernel: { exec: [], connect: [] }, policies: [], warnings: [], digest: "" };
}
