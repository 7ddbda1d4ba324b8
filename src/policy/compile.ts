/**
 * Validated policy documents → a PolicySet: one matcher per rule for
 * userspace, and a kernel plan (exec rules by binary identity, connect rules
 * by network and port) for the rules the kernel enforces. Everything this
 * machine cannot enforce is refused here, with the reason, before anything
 * is switched.
 */
import { createHash } from "node:crypto";
import type { ActionName } from "../abi/layout";
import { CONNECT_RULES, ConnectRuleFlag, RULE_PORTS } from "../abi/layout";
import type { Capabilities } from "../sensor/capabilities";
import type { KernelPlan } from "../enforce/kernel-enforcer";
import { CAPTURE_KINDS, isCaptureKind, type CaptureKind } from "../sensor/capture";
import { parseCidr, type Cidr } from "../enforce/cidr";
import { parseDomainPattern } from "../enforce/domains";
import { parsePolicySource, PolicyError, type LoadedPolicy, type PolicyProblem, type PolicySource } from "./loader";
import type { EventKind, Match, Rule, Severity } from "./schema";
import type { Enforcement } from "../events/records";
import { accessKinds, compileMatcher, GLOB_CHARS, globMatcher, type MatchContext } from "./match";
import type { VigilEvent } from "../events/types";
import { resolveBinaries } from "./binaries";
import { existsSync } from "node:fs";
import { LANDLOCK_ACCESS, type LandlockLayer } from "../kernel/landlock";

export type { Enforcement, MatchContext };

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
  /** With enforcement kernel: Vigil's BPF programs, or a Landlock layer the launcher applied. */
  mechanism?: "bpf" | "landlock";
  /** shadow: decisions are findings only, nothing is enforced (the policy's spec.mode). */
  shadow: boolean;
  agents: readonly string[] | null;
  matchesAgent(agent: string | undefined): boolean;
  matches(event: VigilEvent, ctx: MatchContext): boolean;
}

export interface PolicySet {
  rules: CompiledRule[];
  byEvent: Map<string, CompiledRule[]>;
  budgets: CompiledBudget[];
  kernel: KernelPlan;
  /** Landlock layers for a command Vigil starts (`vigil run`): applied by the launcher before its first instruction. */
  landlock: LandlockLayer[];
  policies: { name: string; file: string; rules: number }[];
  /** Not errors: e.g. a binary that does not exist (yet) on this machine. */
  warnings: PolicyProblem[];
  /** sha256 of the sources, to tell whether a reload changes anything. */
  digest: string;
}

/** Where the policies are compiled for. */
export interface CompileContext {
  /** Vigil starts the command (vigil run): `${WORKSPACE}` is `workspace`, and deny on open becomes a Landlock layer. */
  launch?: { workspace: string };
}

let nextRuleId = 1;
const EACCES = 13;
const WORKSPACE = "${WORKSPACE}";

const DEFAULT_SEVERITY: Record<ActionName, Severity> = { alert: "medium", deny: "high", kill: "high", freeze: "high", "kill-tree": "critical" };
const PROCESS_EVENTS: EventKind[] = ["exec", "open", "connect", "fork", "exit", "cred"];
const FIELDS_FOR: Record<keyof Omit<Match, "event">, EventKind[] | "any"> = {
  binary: "any",
  notBinary: "any",
  argv: ["exec"],
  path: ["open"],
  notPath: ["open"],
  access: ["open"],
  cidr: ["connect"],
  notCidr: ["connect"],
  domain: ["connect"],
  notDomain: ["connect"],
  port: ["connect"],
  uid: PROCESS_EVENTS,
  comm: "any",
  tool: ["tool_call"],
  argumentsContain: ["tool_call"],
  host: ["llm_call"],
  model: ["llm_call"],
};
/** Events made from TLS traffic: they need `tls` captured. */
const TLS_EVENTS: EventKind[] = ["tool_call", "llm_call"];

/** A token budget of a policy's agents (spec.budget). */
export interface CompiledBudget {
  policy: string;
  tokens: number;
  action: ActionName;
  severity: Severity;
  shadow: boolean;
  matchesAgent(agent: string | undefined): boolean;
}
/** How (and whether) this machine can carry out a rule; a string is the refusal. */
function planEnforcement(rule: Rule, caps: Capabilities): { enforcement: Enforcement; kernel: "exec" | "connect" | "landlock" | null } | string {
  const { action } = rule;
  const ev = rule.match.event;
  const m = rule.match;
  if (action === "alert") return { enforcement: "none", kernel: null };
  if (action === "freeze" && !caps.cgroupFreeze.ok) return `action freeze needs cgroup.freeze: ${caps.cgroupFreeze.detail}`;
  if (ev === "connect") {
    const userspaceOnly = (["binary", "notBinary", "uid", "comm"] as const).filter((k) => m[k] !== undefined);
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
    const kernelable = m.binary !== undefined && m.notBinary === undefined && m.argv === undefined && m.uid === undefined && m.comm === undefined;
    if (action === "kill" && !kernelable)
      return "kill on exec is carried out in the kernel, which matches the binary only: a kill rule needs `binary` and no argv, uid or comm conditions (use kill-tree or freeze, carried out by Vigil after the exec, for those)";
    return kernelable && (action === "kill" || action === "kill-tree") ? { enforcement: "kernel", kernel: "exec" } : { enforcement: "userspace", kernel: null };
  }
  if (action === "deny") {
    if (ev === "open") {
      if (m.path || !m.notPath)
        return `deny on open is a Landlock allowlist: it takes notPath (the paths the command may use) and no path (Landlock grants access beneath paths and cannot deny beneath one; BPF LSM could, and ${caps.bpfLsm.detail}); use kill, freeze or kill-tree (carried out after the open) or alert for a deny list`;
      const extra = (["binary", "notBinary", "uid", "comm"] as const).filter((k) => m[k] !== undefined);
      if (extra.length) return `deny on open is a Landlock layer over the whole command tree: ${extra.join(", ")} cannot be part of it`;
      if (!caps.landlock.ok) return `deny on open needs Landlock: ${caps.landlock.detail}`;
      return { enforcement: "kernel", kernel: "landlock" };
    }
    return `deny on ${ev} is not possible: a ${ev} cannot be refused (use alert, kill, freeze or kill-tree)`;
  }
  return { enforcement: "userspace", kernel: null };
}

/** `${WORKSPACE}` in path and notPath replaced by the run's workspace (null: there is none here). */
function expandWorkspace(rule: Rule, context: CompileContext): Rule | null {
  const { path, notPath } = rule.match;
  if (![...(path ?? []), ...(notPath ?? [])].some((p) => p.includes(WORKSPACE))) return rule;
  if (!context.launch) return null;
  const ws = context.launch.workspace.replace(/\/+$/, "");
  const expand = (list: string[] | undefined) => list?.map((p) => p.split(WORKSPACE).join(ws));
  return { ...rule, match: { ...rule.match, ...(path ? { path: expand(path) } : {}), ...(notPath ? { notPath: expand(notPath) } : {}) } };
}

/** A notPath pattern as a Landlock grant: `DIR/**` (beneath DIR) or an exact path; anything else cannot be expressed. */
function landlockGrant(pattern: string): { path: string } | string {
  if (!pattern.startsWith("/")) return `${pattern}: Landlock grants access by absolute path`;
  const base = pattern.endsWith("/**") ? pattern.slice(0, -3) || "/" : pattern;
  if (GLOB_CHARS.test(base)) return `${pattern}: Landlock grants access beneath a directory or to one file, which this glob is not (use DIR/** or an exact path)`;
  return { path: base };
}

function compileRule(lp: LoadedPolicy, original: Rule, index: number, caps: Capabilities, capture: readonly CaptureKind[], problems: PolicyProblem[], warnings: PolicyProblem[], set: PolicySet, context: CompileContext): CompiledRule | null {
  const kernel = set.kernel;
  const at = (path: (string | number)[], msg: string) => lp.locate(["spec", "rules", index, ...path], msg);
  const before = problems.length;
  const rule = expandWorkspace(original, context);
  if (!rule) {
    warnings.push(at(["match"], `${WORKSPACE} is the workspace of a command vigil run starts: rule ${original.name} applies there, not here`));
    return null;
  }
  const ev = rule.match.event;
  for (const [field, events] of Object.entries(FIELDS_FOR)) {
    if (rule.match[field as keyof Match] === undefined || events === "any") continue;
    if (!events.includes(ev)) problems.push(at(["match", field], `${field} applies to ${events.join(", ")} events, not ${ev}`));
  }
  // Each network and domain is parsed here once so that every bad one is reported, with where it is.
  const parsers = { cidr: parseCidr, notCidr: parseCidr, domain: parseDomainPattern, notDomain: parseDomainPattern } as const;
  for (const [field, parse] of Object.entries(parsers))
    rule.match[field as keyof typeof parsers]?.forEach((text, i) => {
      try {
        parse(text);
      } catch (e) {
        problems.push(at(["match", field, i], (e as Error).message));
      }
    });
  if (rule.match.domain && rule.match.notDomain) problems.push(at(["match"], "a connect rule takes domain or notDomain, not both (split it into two rules)"));
  const plan = planEnforcement(rule, caps);
  if (typeof plan === "string") problems.push(at(["action"], plan));
  // A rule Vigil matches in userspace needs its events; one the kernel enforces (connect) does not.
  if (isCaptureKind(ev) && !capture.includes(ev) && (typeof plan === "string" || plan.kernel === null))
    problems.push(at(["match", "event"], `${ev} events are not captured here (capture: ${capture.length ? capture.join(", ") : "none"}): add ${ev} to the capture list, or drop the rule`));
  if (TLS_EVENTS.includes(ev) && !capture.includes("tls"))
    problems.push(at(["match", "event"], `${ev} events come from TLS traffic, which is not captured here (capture: ${capture.length ? capture.join(", ") : "none"}): add tls to the capture list, or drop the rule`));
  if (problems.length > before || typeof plan === "string") return null;

  if (plan.kernel === "landlock" && !context.launch) {
    warnings.push(at(["action"], `rule ${rule.name} is not enforced here: a Landlock layer confines a process from its start, and only a command Vigil starts (vigil run) has one; processes Vigil adopts cannot be confined after the fact`));
    return null;
  }
  const agents = lp.policy.spec.agents && !lp.policy.spec.agents.includes("*") ? lp.policy.spec.agents : null;
  const agentTest = agents ? globMatcher(agents) : null;
  const shadow = lp.policy.spec.mode === "shadow";
  const id = nextRuleId++;
  if (plan.kernel === "landlock" && !shadow) {
    const allow: string[] = [];
    rule.match.notPath!.forEach((p, i) => {
      const grant = landlockGrant(p);
      if (typeof grant === "string") problems.push(at(["match", "notPath", i], grant));
      else if (!existsSync(grant.path)) warnings.push(at(["match", "notPath", i], `${grant.path} does not exist: nothing is allowed there (Landlock grants access to what exists when the command starts)`));
      else allow.push(grant.path);
    });
    if (problems.length > before) return null;
    let rights = 0;
    for (const a of accessKinds(rule.match.access)) rights |= LANDLOCK_ACCESS[a];
    set.landlock.push({ ruleId: id, agents, rights, allow });
  }
  if (shadow) {
    // Nothing of a shadow rule goes into the kernel: it is matched in userspace and only reported.
  } else if (plan.kernel === "exec") {
    const targets = resolveBinaries(rule.match.binary!, (i, msg) => at(["match", "binary", i], msg), problems, warnings);
    kernel.exec.push({ ruleId: id, action: rule.action, agents, targets });
  } else if (plan.kernel === "connect") {
    const m = rule.match;
    const flags =
      (m.cidr ? ConnectRuleFlag.cidr : 0) |
      (m.notCidr ? ConnectRuleFlag.notCidr : 0) |
      (m.port ? ConnectRuleFlag.ports : 0) |
      (m.domain ? ConnectRuleFlag.domain : 0) |
      (m.notDomain ? ConnectRuleFlag.notDomain : 0);
    const cidrs = (m.cidr ?? m.notCidr ?? []).map(parseCidr);
    const domains = (m.domain ?? m.notDomain ?? []).map(parseDomainPattern);
    if (m.cidr && m.notCidr) {
      problems.push(at(["match"], "a kernel-enforced connect rule takes cidr or notCidr, not both (split it into two rules)"));
      return null;
    }
    // The kernel keeps RULE_PORTS ports per entry: more ports take more entries of the same rule.
    const ports = m.port ?? [];
    for (let i = 0; i === 0 || i < ports.length; i += RULE_PORTS) kernel.connect.push({ ruleId: id, action: rule.action, agents, flags, ports: ports.slice(i, i + RULE_PORTS), cidrs, domains });
  }
  const matcher = compileMatcher(rule.match);
  // A Landlock rule's hits are the opens Landlock refused (EACCES); in shadow, every open it would refuse.
  const refusedOnly = plan.kernel === "landlock" && !shadow;
  return {
    id,
    policy: lp.policy.metadata.name,
    name: rule.name,
    file: lp.file,
    event: ev,
    action: rule.action,
    severity: rule.severity ?? DEFAULT_SEVERITY[rule.action],
    enforcement: shadow ? "none" : plan.enforcement,
    ...(plan.enforcement === "kernel" && !shadow ? { mechanism: plan.kernel === "landlock" ? ("landlock" as const) : ("bpf" as const) } : {}),
    shadow,
    agents,
    matchesAgent: (agent) => agent !== undefined && (agentTest === null || agentTest(agent)),
    matches: refusedOnly ? (e, ctx) => e.type === "open" && e.ret === -EACCES && matcher(e, ctx) : (e, ctx) => e.type === ev && matcher(e, ctx),
  };
}

/**
 * Parse, validate and compile every source; throws PolicyError listing every
 * problem (nothing is half-applied). `capture`: the optional event kinds the
 * observer reports (default all).
 */
export function compilePolicies(sources: PolicySource[], caps: Capabilities, capture: readonly CaptureKind[] = CAPTURE_KINDS, context: CompileContext = {}): PolicySet {
  const problems: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  const loaded: LoadedPolicy[] = [];
  for (const src of sources) {
    const r = parsePolicySource(src);
    problems.push(...r.problems);
    loaded.push(...r.policies);
  }
  const set: PolicySet = { ...emptyPolicySet(), warnings };
  const policyNames = new Map<string, string>();
  for (const lp of loaded) {
    const name = lp.policy.metadata.name;
    if (policyNames.has(name)) problems.push(lp.locate(["metadata", "name"], `policy ${name} is also defined in ${policyNames.get(name)}`));
    policyNames.set(name, lp.file);
    const ruleNames = new Set<string>();
    const budget = lp.policy.spec.budget;
    if (budget) {
      if (!capture.includes("tls")) problems.push(lp.locate(["spec", "budget"], "a token budget counts the usage in LLM calls, read from TLS traffic, which is not captured here: add tls to the capture list"));
      if (budget.action === "freeze" && !caps.cgroupFreeze.ok) problems.push(lp.locate(["spec", "budget", "action"], `action freeze needs cgroup.freeze: ${caps.cgroupFreeze.detail}`));
      const agents = lp.policy.spec.agents && !lp.policy.spec.agents.includes("*") ? globMatcher(lp.policy.spec.agents) : null;
      set.budgets.push({ policy: name, tokens: budget.tokens, action: budget.action, severity: budget.severity ?? DEFAULT_SEVERITY[budget.action], shadow: lp.policy.spec.mode === "shadow", matchesAgent: (a) => a !== undefined && (agents === null || agents(a)) });
    }
    if (!lp.policy.spec.rules && !budget) problems.push(lp.locate(["spec"], "a policy needs rules, a budget, or both"));
    (lp.policy.spec.rules ?? []).forEach((rule, i) => {
      if (ruleNames.has(rule.name)) problems.push(lp.locate(["spec", "rules", i, "name"], `rule ${rule.name} appears twice in policy ${name}`));
      ruleNames.add(rule.name);
      const c = compileRule(lp, rule, i, caps, capture, problems, warnings, set, context);
      if (c) set.rules.push(c);
    });
    set.policies.push({ name, file: lp.file, rules: lp.policy.spec.rules?.length ?? 0 });
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
  return { rules: [], byEvent: new Map(), budgets: [], kernel: { exec: [], connect: [] }, landlock: [], policies: [], warnings: [], digest: "" };
}
