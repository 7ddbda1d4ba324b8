/**
 * Writes agent identities and compiled policy rules into the kernel maps of
 * bpf/enforce.bpf.c. Rules go into the generation not in force; then one
 * write to `policy_gen` switches, so the kernel always enforces one complete
 * rule set, old or new, and never neither.
 */
import type { BpfLink, BpfMap, BpfObject } from "../kernel/bpf-object";
import { Action, AGENT_ANY, AgentKind, CONNECT_RULES, LAYOUTS, type ActionName } from "../abi/layout";
import type { Cidr } from "./cidr";

const EXEC_RULE_KEY = LAYOUTS.vigil_exec_rule_key.fields;
const CONNECT_RULE = LAYOUTS.vigil_connect_rule.fields;
const CIDR_KEY = LAYOUTS.vigil_cidr_key.fields;

/** Programs still running on the old generation finish within microseconds; leave them this long before reusing it. */
const GENERATION_GRACE_MS = 20;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}
function u64(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

export interface KernelExecRule {
  ruleId: number;
  action: ActionName;
  agents: readonly string[] | null;
  /** Binaries by identity: (kernel device number, inode). */
  targets: { dev: number; ino: bigint; path: string }[];
}

export interface KernelConnectRule {
  ruleId: number;
  action: ActionName;
  agents: readonly string[] | null;
  flags: number;
  ports: number[];
  cidrs: Cidr[];
}

/** What the kernel enforces: compiled from policies by src/policy/compile.ts. */
export interface KernelPlan {
  exec: KernelExecRule[];
  connect: KernelConnectRule[];
}

export class EnforcementError extends Error {
  override readonly name = "EnforcementError";
}

export interface InstallReport {
  generation: number;
  execEntries: number;
  connectEntries: number;
  cidrEntries: number;
}

export class KernelEnforcer {
  private readonly agentByTgid: BpfMap;
  private readonly agentByCgroup: BpfMap;
  private readonly agentKinds: BpfMap;
  /** Kinds already marked in use in the kernel (never cleared there). */
  private readonly kindsUsed = new Set<number>();
  private readonly policyGen: BpfMap;
  private readonly execRules: BpfMap;
  private readonly connectRules: BpfMap;
  private readonly connectCount: BpfMap;
  private readonly cidrSets: BpfMap;
  private gen = 0;
  private switchedAt = 0;
  /** Keys written per generation, deleted before that generation is written again. */
  private readonly written: { exec: Uint8Array[]; cidr: Uint8Array[] }[] = [
    { exec: [], cidr: [] },
    { exec: [], cidr: [] },
  ];
  private readonly guards = new Map<string, BpfLink[]>();

  constructor(private readonly obj: BpfObject) {
    this.agentByTgid = obj.map("agent_by_tgid");
    this.agentByCgroup = obj.map("agent_by_cgroup");
    this.agentKinds = obj.map("agent_kinds");
    this.policyGen = obj.map("policy_gen");
    this.execRules = obj.map("exec_rules");
    this.connectRules = obj.map("connect_rules");
    this.connectCount = obj.map("connect_rule_count");
    this.cidrSets = obj.map("cidr_sets");
  }

  get generation(): number {
    return this.gen;
  }

  /** A process (and, from now on, every child it forks) belongs to agent `agentId`. */
  setProcessAgent(tgid: number, agentId: number): void {
    this.useKind(AgentKind.byTgid);
    this.agentByTgid.update(u32(tgid), u32(agentId));
  }
  forgetProcess(tgid: number): void {
    this.agentByTgid.delete(u32(tgid));
  }
  setCgroupAgent(cgroupId: number, agentId: number): void {
    this.useKind(AgentKind.byCgroup);
    this.agentByCgroup.update(u64(cgroupId), u32(agentId));
  }

  /**
   * The kernel looks up a kind of agent identity only once it is marked in
   * use (bpf/vigil.h, enum vigil_agent_kind): marked before the first entry
   * goes in, so no event after it misses its agent.
   */
  private useKind(kind: number): void {
    if (this.kindsUsed.has(kind)) return;
    this.agentKinds.update(u32(kind), u32(1));
    this.kindsUsed.add(kind);
  }
  forgetCgroup(cgroupId: number): void {
    this.agentByCgroup.delete(u64(cgroupId));
  }

  /** Refuse forbidden connects in this cgroup (one Vigil owns) and below it. */
  guardCgroup(dir: string): void {
    if (this.guards.has(dir)) return;
    const links = [this.obj.program("vigil_connect4").attachCgroup(dir), this.obj.program("vigil_connect6").attachCgroup(dir)];
    this.guards.set(dir, links);
  }
  unguardCgroup(dir: string): void {
    for (const l of this.guards.get(dir) ?? []) l.detach();
    this.guards.delete(dir);
  }
  isGuarded(dir: string): boolean {
    return this.guards.has(dir);
  }

  /**
   * Install a policy set. `agentIds` turns a rule's agent list into kernel
   * agent ids (null: every agent). Throws EnforcementError, with the
   * generation in force unchanged, when the set does not fit the kernel maps.
   */
  install(set: { kernel: KernelPlan }, agentIds: (agents: readonly string[] | null) => number[]): InstallReport {
    const next = this.gen ^ 1;
    const wait = this.switchedAt + GENERATION_GRACE_MS - Date.now();
    if (wait > 0) Bun.sleepSync(wait);
    this.clear(next);

    const written = this.written[next]!;
    const execKey = new Uint8Array(LAYOUTS.vigil_exec_rule_key.size);
    const ek = new DataView(execKey.buffer);
    const verdict = new Uint8Array(8);
    const vd = new DataView(verdict.buffer);
    try {
      for (const rule of set.kernel.exec) {
        vd.setUint32(0, rule.ruleId, true);
        vd.setUint32(4, Action[rule.action], true);
        for (const agent of agentIds(rule.agents))
          for (const t of rule.targets) {
            ek.setBigUint64(EXEC_RULE_KEY.ino[0], t.ino, true);
            ek.setUint32(EXEC_RULE_KEY.dev[0], t.dev, true);
            ek.setUint32(EXEC_RULE_KEY.agent_id[0], agent, true);
            ek.setUint32(EXEC_RULE_KEY.gen[0], next, true);
            this.execRules.update(execKey, verdict);
            written.exec.push(execKey.slice());
          }
      }

      let slot = 0;
      let set16 = 0;
      const value = new Uint8Array(LAYOUTS.vigil_connect_rule.size);
      const cv = new DataView(value.buffer);
      const cidrKey = new Uint8Array(LAYOUTS.vigil_cidr_key.size);
      const ck = new DataView(cidrKey.buffer);
      for (const rule of set.kernel.connect) {
        const setIndex = rule.cidrs.length ? ++set16 : 0;
        for (const c of rule.cidrs) {
          ck.setUint32(CIDR_KEY.prefixlen[0], 32 + c.bits, true);
          ck.setUint32(CIDR_KEY.set[0], ((next << 16) | setIndex) >>> 0, true);
          cidrKey.set(c.addr, CIDR_KEY.addr[0]);
          this.cidrSets.update(cidrKey, new Uint8Array([1]));
          written.cidr.push(cidrKey.slice());
        }
        for (const agent of agentIds(rule.agents)) {
          if (slot >= CONNECT_RULES) throw new EnforcementError(`kernel connect rules: more than ${CONNECT_RULES} entries once expanded per agent`);
          value.fill(0);
          cv.setUint32(CONNECT_RULE.rule_id[0], rule.ruleId, true);
          cv.setUint32(CONNECT_RULE.action[0], Action[rule.action], true);
          cv.setUint32(CONNECT_RULE.agent_id[0], agent, true);
          cv.setUint32(CONNECT_RULE.flags[0], rule.flags, true);
          cv.setUint32(CONNECT_RULE.cidr_set[0], setIndex, true);
          cv.setUint32(CONNECT_RULE.nports[0], rule.ports.length, true);
          rule.ports.forEach((p, i) => cv.setUint16(CONNECT_RULE.ports[0] + 2 * i, p, true));
          this.connectRules.update(u32(next * CONNECT_RULES + slot), value);
          slot++;
        }
      }
      this.connectCount.update(u32(next), u32(slot));
      // The switch: one 4-byte map write.
      this.policyGen.update(u32(0), u32(next));
      this.gen = next;
      this.switchedAt = Date.now();
      return { generation: next, execEntries: written.exec.length, connectEntries: slot, cidrEntries: written.cidr.length };
    } catch (e) {
      this.clear(next); // the generation in force is untouched
      throw e instanceof EnforcementError ? e : new EnforcementError(`installing rules in the kernel failed: ${(e as Error).message}`);
    }
  }

  private clear(gen: number): void {
    const w = this.written[gen]!;
    for (const k of w.exec) this.execRules.delete(k);
    for (const k of w.cidr) this.cidrSets.delete(k);
    w.exec = [];
    w.cidr = [];
    this.connectCount.update(u32(gen), u32(0));
  }
}

export { AGENT_ANY };
