/**
 * The policy runtime: keeps one PolicySet in force (kernel maps and
 * userspace matchers switched together), follows agents into the kernel,
 * turns rule hits and kernel decisions into findings, and carries out the
 * userspace part of each action (kill, freeze, kill-tree) through audited
 * interventions.
 */
import type { AgentRegistry } from "../agents/agent-registry";
import { AGENT_ANY } from "../abi/layout";
import type { EnforceEvent, VigilEvent } from "../events/types";
import type { KernelEnforcer } from "../enforce/kernel-enforcer";
import type { Interventions } from "../enforce/interventions";
import { findingId, type Finding } from "../events/records";
import { openAccess } from "./match";
import { emptyPolicySet, type CompiledRule, type MatchContext, type PolicySet } from "./compile";
import type { ProcessTree } from "../proc/process-tree";
import type { EventSink } from "../pipeline/event-pipeline";

const EPERM = 1;
/** Rule sets kept after a switch so that late kernel records still name their rule. */
const RETIRED_SETS = 4;

export interface PolicyGuardOptions {
  agents: AgentRegistry;
  tree: ProcessTree;
  interventions: Interventions;
  /** null: nothing is enforced in the kernel (no eBPF, or `vigil run` with no cgroup of its own). */
  enforcer: KernelEnforcer | null;
  onFinding: (f: Finding) => void;
}

export class PolicyGuard implements EventSink {
  readonly name = "policy";
  private set: PolicySet = emptyPolicySet();
  private readonly retired: PolicySet[] = [];
  private readonly ruleById = new Map<number, CompiledRule>();
  /** Kernel decisions whose triggering event has not been seen yet: `${pid}:${policy}/${rule}` -> time. */
  private readonly decided = new Map<string, number>();
  readonly evaluated = { events: 0, hits: 0 };
  private readonly ctx: MatchContext;
  private generationSwitches = 0;
  private readonly spent = new Map<string, number>();
  /** Budgets already acted on, by agent and policy (a new policy set judges afresh). */
  private readonly budgetsCrossed = new Set<string>();

  constructor(private readonly options: PolicyGuardOptions) {
    this.ctx = { exe: (pid) => options.tree.get(pid)?.exe ?? undefined };
    options.agents.onChange(() => this.agentChanged());
    // A fresh sensor's maps hold no rules: the set in force goes in before its programs attach.
    options.enforcer?.onBound(() => {
      if (this.hasKernelRules()) options.enforcer!.install(this.set, (agents) => this.kernelAgents(agents));
    });
  }

  private hasKernelRules(): boolean {
    return this.set.kernel.exec.length > 0 || this.set.kernel.connect.length > 0;
  }

  get active(): PolicySet {
    return this.set;
  }
  get switches(): number {
    return this.generationSwitches;
  }

  /** Put a compiled set in force: kernel first (one generation flip), then userspace. Throws with the old set still in force. */
  apply(set: PolicySet): void {
    this.options.enforcer?.install(set, (agents) => this.kernelAgents(agents));
    if (this.set.rules.length) {
      this.retired.push(this.set);
      if (this.retired.length > RETIRED_SETS) for (const r of this.retired.shift()!.rules) this.ruleById.delete(r.id);
    }
    for (const r of set.rules) this.ruleById.set(r.id, r);
    if (set.digest !== this.set.digest) this.budgetsCrossed.clear();
    this.set = set;
    this.generationSwitches++;
  }

  private kernelAgents(agents: readonly string[] | null): number[] {
    return agents === null ? [AGENT_ANY] : this.options.agents.kernelIdsMatching(agents);
  }

  /** Rules naming agents are re-rendered into the kernel when agents come and go (identity itself: agent-sync.ts). */
  private agentChanged(): void {
    const enforcer = this.options.enforcer;
    if (!enforcer?.bound) return;
    if (this.set.kernel.exec.some((r) => r.agents) || this.set.kernel.connect.some((r) => r.agents)) enforcer.install(this.set, (a) => this.kernelAgents(a));
  }

  write(event: VigilEvent): void {
    if (event.type === "enforce") return this.kernelDecision(event);
    if (event.type === "syscall" || !event.agent) return;
    if (event.type === "llm_call" && event.usage) this.spend(event, event.usage.inputTokens + event.usage.outputTokens);
    const rules = this.set.byEvent.get(event.type);
    if (!rules) return;
    this.evaluated.events++;
    for (const rule of rules) {
      if (!rule.matchesAgent(event.agent) || !rule.matches(event, this.ctx)) continue;
      this.evaluated.hits++;
      const key = `${event.pid}:${rule.policy}/${rule.name}`;
      if (rule.enforcement === "kernel" && this.decided.delete(key)) continue; // reported with the kernel's record
      this.hit(rule, event);
    }
  }

  /** Tokens an agent has spent (from the usage its LLM calls report), since Vigil started. */
  tokensSpent(agent: string): number {
    return this.spent.get(agent) ?? 0;
  }

  /** An LLM call's tokens, against every budget of the agent's policies: each acts once, when crossed. */
  private spend(call: Extract<VigilEvent, { type: "llm_call" }>, tokens: number): void {
    const agent = call.agent!;
    const total = (this.spent.get(agent) ?? 0) + tokens;
    this.spent.set(agent, total);
    for (const b of this.set.budgets) {
      const key = `${agent}\0${b.policy}`;
      if (total < b.tokens || !b.matchesAgent(agent) || this.budgetsCrossed.has(key)) continue;
      this.budgetsCrossed.add(key);
      const actor = `policy:${b.policy}/budget`;
      const why = `agent ${agent} spent ${total} tokens, over the budget of ${b.tokens} of policy ${b.policy}`;
      const outcome = b.action === "alert" ? why : b.shadow ? `would-${b.action}: ${why}` : `${why}; ${this.carryOut(b.action, call.pid, agent, actor, why)}`;
      const rule = { policy: b.policy, name: "budget", action: b.action, severity: b.severity };
      this.emit(rule, call, b.action === "alert" || b.shadow ? "none" : "userspace", outcome);
    }
  }

  /** A rule matched in userspace: record it and carry out what the kernel did not. */
  private hit(rule: CompiledRule, event: Exclude<VigilEvent, { type: "syscall" }>): void {
    let outcome: string;
    let enforcement = rule.enforcement;
    const agent = event.agent ?? null;
    const actor = `policy:${rule.policy}/${rule.name}`;
    const why = `rule ${rule.policy}/${rule.name} matched ${event.type}`;
    if (rule.action === "alert") outcome = "recorded";
    else if (rule.shadow) outcome = `would-${rule.action}`; // shadow mode: reported, never carried out
    else if (rule.mechanism === "landlock") outcome = `open for ${event.type === "open" ? openAccess(event.flags).join(" and ") : "access"} refused by Landlock (EACCES): outside the paths the rule allows`;
    else if (rule.enforcement === "kernel" && rule.event === "connect") {
      // The kernel would have refused it: it could not see this agent (no Vigil cgroup) or the call failed otherwise.
      const refused = event.type === "connect" && event.ret === -EPERM;
      enforcement = "none";
      outcome = refused
        ? "connect failed with EPERM without a Vigil decision"
        : `not refused: agent ${agent} is not in a cgroup of Vigil's (connect hooks are attached there)`;
      if (rule.action !== "deny") outcome += `; ${this.carryOut(rule.action, event.pid, agent, actor, why)}`;
    } else {
      if (rule.enforcement === "kernel") enforcement = "userspace"; // e.g. a binary created after the policy was loaded
      outcome = this.carryOut(rule.action, event.pid, agent, actor, why);
      if (rule.enforcement === "kernel") outcome += " (late: the binary was not in the kernel's set when the policy was loaded)";
    }
    this.emit(rule, event, enforcement, outcome, rule.mechanism);
  }

  private kernelDecision(e: EnforceEvent): void {
    const rule = this.ruleById.get(e.ruleId);
    if (!rule) return; // a rule of a set retired long ago
    // By name, not id: the kernel may have decided under the previous generation of the same rule.
    this.decided.set(`${e.pid}:${rule.policy}/${rule.name}`, Date.now());
    if (this.decided.size > 4096) {
      const old = Date.now() - 10_000;
      for (const [k, t] of this.decided) if (t < old) this.decided.delete(k);
    }
    const actor = `policy:${rule.policy}/${rule.name}`;
    const why = `rule ${rule.policy}/${rule.name}: kernel ${e.op} decision`;
    let outcome: string;
    if (e.op === "exec") {
      outcome = "SIGKILL from the kernel at exec: the new program never ran";
      if (rule.action === "kill-tree") outcome += `; ${this.carryOut("kill-tree", e.pid, e.agent ?? null, actor, why)}`;
    } else {
      const named = e.domain ? ` (${e.domain})` : "";
      outcome = `connect to ${e.address}:${e.port}${named} refused in the kernel (EPERM)`;
      if (rule.action !== "deny") outcome += `; ${this.carryOut(rule.action, e.pid, e.agent ?? null, actor, why)}`;
    }
    this.emit(rule, e, "kernel", outcome, "bpf");
  }

  private carryOut(action: CompiledRule["action"], pid: number, agent: string | null, actor: string, why: string): string {
    const iv = this.options.interventions;
    const r =
      action === "kill"
        ? iv.killProcess(pid, agent, actor, why)
        : action === "freeze"
          ? agent
            ? iv.freeze(agent, actor, why)
            : null
          : action === "kill-tree"
            ? agent
              ? iv.killTree(agent, actor, why)
              : null
            : null;
    if (!r) return `${action} not carried out: no agent`;
    return r.ok ? r.detail : `${action} failed: ${r.detail}`;
  }

  private emit(rule: Pick<CompiledRule, "policy" | "name" | "action" | "severity">, event: Exclude<VigilEvent, { type: "syscall" }>, enforcement: Finding["enforcement"], outcome: string, mechanism?: Finding["mechanism"]): void {
    this.options.onFinding({
      id: findingId(),
      ts: event.ts,
      kind: "rule",
      rule: `${rule.policy}/${rule.name}`,
      policy: rule.policy,
      action: rule.action,
      severity: rule.severity,
      agent: event.agent ?? null,
      pid: event.pid,
      comm: event.comm,
      event,
      enforcement,
      ...(enforcement === "kernel" && mechanism ? { mechanism } : {}),
      ...("domain" in event && event.domain ? { domain: event.domain } : {}),
      outcome,
      span: event.span,
    });
  }
}
