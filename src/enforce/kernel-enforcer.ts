/**
 * Writes agent identities and compiled policy rules into the kernel maps of
 * bpf/enforce.bpf.c. Rules go into the generation not in force; then one
 * write to `policy_gen` switches, so the kernel always enforces one complete
 * rule set, old or new, and never neither.
 *
 * One enforcer lives as long as the runtime; the sensor binds it to the maps
 * of each object it loads (and unbinds it at close). Unbound, it writes
 * nothing; those who keep the kernel in step (agent sync, the policy guard)
 * hear `onBound` and write their whole state into the fresh maps, before
 * any program is attached.
 */
import { BpfLink, type BpfMap, type BpfObject } from "../kernel/bpf-object";
import type { PinDir } from "../kernel/bpffs";
import { cgroupIdOf } from "../cgroup/cgroup";
import { Action, AGENT_ANY, AgentKind, CONNECT_RULES, DNS_STATS, DnsEntryFlag, LAYOUTS, type ActionName, type DnsStatName } from "../abi/layout";
import { bootTimeNs } from "../kernel/libc";
import { parseAddress, type Cidr } from "./cidr";
import type { ConnectEvent, EnforceEvent } from "../events/types";
import { domainSetEntries, type DomainPattern } from "./domains";

const EXEC_RULE_KEY = LAYOUTS.vigil_exec_rule_key.fields;
const CONNECT_RULE = LAYOUTS.vigil_connect_rule.fields;
const CIDR_KEY = LAYOUTS.vigil_cidr_key.fields;
const DOMAIN_KEY = LAYOUTS.vigil_domain_key.fields;
const DNS_KEY = LAYOUTS.vigil_dns_key.fields;
const DNS_ENTRY = LAYOUTS.vigil_dns_entry.fields;
const utf8 = new TextDecoder();

/** The programs attached to every cgroup Vigil guards: the connect hooks and the DNS learners. */
export const GUARD_PROGRAMS = ["vigil_connect4", "vigil_connect6", "vigil_dns_ingress", "vigil_dns_egress"] as const;

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
  /** Names the destination must (ConnectRuleFlag.domain) or must not (notDomain) have been learned from. */
  domains: DomainPattern[];
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
  domainEntries: number;
}

/** A name an agent's DNS answers gave an address. */
export interface LearnedName {
  name: string;
  /** Another name gave the same address while this one was valid (a shared address). */
  ambiguous: boolean;
}

/** The enforcement maps of one loaded object, and what has been written into them. */
class EnforcementMaps {
  readonly agentByTgid: BpfMap;
  readonly agentByCgroup: BpfMap;
  readonly agentKinds: BpfMap;
  /** Kinds already marked in use in the kernel (never cleared there). */
  readonly kindsUsed = new Set<number>();
  readonly policyGen: BpfMap;
  readonly execRules: BpfMap;
  readonly connectRules: BpfMap;
  readonly connectCount: BpfMap;
  readonly cidrSets: BpfMap;
  readonly domainSets: BpfMap;
  readonly dnsLearned: BpfMap;
  readonly dnsStats: BpfMap;
  gen = 0;
  switchedAt = 0;
  /** Keys written per generation, deleted before that generation is written again. */
  readonly written: { exec: Uint8Array[]; cidr: Uint8Array[]; domain: Uint8Array[] }[] = [
    { exec: [], cidr: [], domain: [] },
    { exec: [], cidr: [], domain: [] },
  ];
  readonly guards = new Map<string, BpfLink[]>();

  constructor(
    readonly obj: BpfObject,
    readonly pins: PinDir | undefined,
  ) {
    this.agentByTgid = obj.map("agent_by_tgid");
    this.agentByCgroup = obj.map("agent_by_cgroup");
    this.agentKinds = obj.map("agent_kinds");
    this.policyGen = obj.map("policy_gen");
    this.execRules = obj.map("exec_rules");
    this.connectRules = obj.map("connect_rules");
    this.connectCount = obj.map("connect_rule_count");
    this.cidrSets = obj.map("cidr_sets");
    this.domainSets = obj.map("domain_sets");
    this.dnsLearned = obj.map("dns_learned");
    this.dnsStats = obj.map("dns_stats");
  }
}

export class KernelEnforcer {
  private maps: EnforcementMaps | null = null;
  private readonly boundListeners: (() => void)[] = [];

  /**
   * Called by the sensor once its object is loaded, before any program is attached. With pins, the maps
   * may be an earlier daemon's (fail-closed): the generation in force and what each generation holds are
   * read back from them, so the next install replaces them like its own.
   */
  bind(obj: BpfObject, pins?: PinDir): void {
    const m = new EnforcementMaps(obj, pins);
    if (pins) adoptGenerations(m);
    this.maps = m;
    for (const listener of this.boundListeners) listener();
  }

  /** Pins of cgroup guards no agent claimed after a restart (their cgroups are gone or unknown): let go. */
  releaseUnclaimedGuards(): string[] {
    const m = this.maps;
    if (!m?.pins) return [];
    const claimed = new Set([...m.guards.keys()].map((dir) => guardPinPrefix(dir)));
    const stale = m.pins.list().filter((n) => n.startsWith("link-cg") && !claimed.has(n.slice(0, n.lastIndexOf("-"))));
    for (const n of stale) m.pins.remove(n);
    return stale;
  }

  /** Called by the sensor before it closes the object (its links, cgroup guards included, go with it). */
  unbind(): void {
    this.maps = null;
  }

  get bound(): boolean {
    return this.maps !== null;
  }

  /** `listener` writes its state into freshly bound maps (and is called at every later bind). */
  onBound(listener: () => void): void {
    this.boundListeners.push(listener);
  }

  /** The rule generation in force (null: no kernel bound). */
  get generation(): number | null {
    return this.maps?.gen ?? null;
  }

  /** A process (and, from now on, every child it forks) belongs to agent `agentId`. */
  setProcessAgent(tgid: number, agentId: number): void {
    const m = this.maps;
    if (!m) return;
    this.useKind(m, AgentKind.byTgid);
    m.agentByTgid.update(u32(tgid), u32(agentId));
  }
  forgetProcess(tgid: number): void {
    this.maps?.agentByTgid.delete(u32(tgid));
  }
  setCgroupAgent(cgroupId: number, agentId: number): void {
    const m = this.maps;
    if (!m) return;
    this.useKind(m, AgentKind.byCgroup);
    m.agentByCgroup.update(u64(cgroupId), u32(agentId));
  }

  /**
   * The kernel looks up a kind of agent identity only once it is marked in
   * use (bpf/vigil.h, enum vigil_agent_kind): marked before the first entry
   * goes in, so no event after it misses its agent.
   */
  private useKind(m: EnforcementMaps, kind: number): void {
    if (m.kindsUsed.has(kind)) return;
    m.agentKinds.update(u32(kind), u32(1));
    m.kindsUsed.add(kind);
  }
  forgetCgroup(cgroupId: number): void {
    this.maps?.agentByCgroup.delete(u64(cgroupId));
  }

  /**
   * Refuse forbidden connects in this cgroup (one Vigil owns) and below it, and learn its DNS answers.
   * With pins, the links are pinned; a link an earlier daemon pinned on this cgroup is switched to this
   * object's program in place (one link, never none), not attached a second time.
   */
  guardCgroup(dir: string): void {
    const m = this.maps;
    if (!m || m.guards.has(dir)) return;
    const links: BpfLink[] = [];
    const pinPrefix = m.pins ? guardPinPrefix(dir) : null;
    try {
      for (const name of GUARD_PROGRAMS) {
        const prog = m.obj.program(name);
        const pin = pinPrefix ? m.pins!.path(`${pinPrefix}-${name}`) : null;
        const old = pin ? BpfLink.openPinned(pin, `${name}@${dir} (pinned)`) : null;
        if (old) {
          prog.replaceIn(old);
          links.push(old);
        } else {
          const link = prog.attachCgroup(dir);
          links.push(link);
          if (pin) link.pin(pin);
        }
      }
    } catch (e) {
      BpfLink.detachAll(links);
      throw e;
    }
    m.guards.set(dir, links);
  }
  unguardCgroup(dir: string): void {
    const m = this.maps;
    if (!m) return;
    for (const l of m.guards.get(dir) ?? []) {
      if (m.pins) l.unpin();
      l.detach();
    }
    m.guards.delete(dir);
  }
  isGuarded(dir: string): boolean {
    return this.maps?.guards.has(dir) ?? false;
  }

  /**
   * Install a policy set. `agentIds` turns a rule's agent list into kernel
   * agent ids (null: every agent). Throws EnforcementError, with the
   * generation in force unchanged, when the set does not fit the kernel maps.
   * Unbound, it installs nothing (null): the set goes in at the next bind.
   */
  install(set: { kernel: KernelPlan }, agentIds: (agents: readonly string[] | null) => number[]): InstallReport | null {
    const m = this.maps;
    if (!m) return null;
    const next = m.gen ^ 1;
    const wait = m.switchedAt + GENERATION_GRACE_MS - Date.now();
    if (wait > 0) Bun.sleepSync(wait);
    clearGeneration(m, next);

    const written = m.written[next]!;
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
            m.execRules.update(execKey, verdict);
            written.exec.push(execKey.slice());
          }
      }

      let slot = 0;
      let set16 = 0;
      const value = new Uint8Array(LAYOUTS.vigil_connect_rule.size);
      const cv = new DataView(value.buffer);
      const cidrKey = new Uint8Array(LAYOUTS.vigil_cidr_key.size);
      const ck = new DataView(cidrKey.buffer);
      let domainSet = 0;
      const domainKey = new Uint8Array(LAYOUTS.vigil_domain_key.size);
      const dk = new DataView(domainKey.buffer);
      for (const rule of set.kernel.connect) {
        const setIndex = rule.cidrs.length ? ++set16 : 0;
        const domainIndex = rule.domains.length ? ++domainSet : 0;
        for (const [hash, kind] of domainSetEntries(rule.domains)) {
          dk.setUint32(DOMAIN_KEY.set[0], ((next << 16) | domainIndex) >>> 0, true);
          dk.setBigUint64(DOMAIN_KEY.hash[0], hash, true);
          m.domainSets.update(domainKey, new Uint8Array([kind]));
          written.domain.push(domainKey.slice());
        }
        for (const c of rule.cidrs) {
          ck.setUint32(CIDR_KEY.prefixlen[0], 32 + c.bits, true);
          ck.setUint32(CIDR_KEY.set[0], ((next << 16) | setIndex) >>> 0, true);
          cidrKey.set(c.addr, CIDR_KEY.addr[0]);
          m.cidrSets.update(cidrKey, new Uint8Array([1]));
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
          cv.setUint32(CONNECT_RULE.domain_set[0], domainIndex, true);
          cv.setUint32(CONNECT_RULE.nports[0], rule.ports.length, true);
          rule.ports.forEach((p, i) => cv.setUint16(CONNECT_RULE.ports[0] + 2 * i, p, true));
          m.connectRules.update(u32(next * CONNECT_RULES + slot), value);
          slot++;
        }
      }
      m.connectCount.update(u32(next), u32(slot));
      // The switch: one 4-byte map write.
      m.policyGen.update(u32(0), u32(next));
      m.gen = next;
      m.switchedAt = Date.now();
      return { generation: next, execEntries: written.exec.length, connectEntries: slot, cidrEntries: written.cidr.length, domainEntries: written.domain.length };
    } catch (e) {
      clearGeneration(m, next); // the generation in force is untouched
      throw e instanceof EnforcementError ? e : new EnforcementError(`installing rules in the kernel failed: ${(e as Error).message}`);
    }
  }

  /** The name agent `agentId` (kernel id) learned address `addr` (16 bytes, IPv4 mapped) from, if still valid. */
  learnedName(agentId: number, addr: Uint8Array): LearnedName | null {
    const m = this.maps;
    if (!m || !agentId) return null;
    const key = new Uint8Array(LAYOUTS.vigil_dns_key.size);
    new DataView(key.buffer).setUint32(DNS_KEY.agent_id[0], agentId, true);
    key.set(addr, DNS_KEY.addr[0]);
    const v = m.dnsLearned.lookup(key);
    if (!v) return null;
    const dv = new DataView(v.buffer);
    if (dv.getBigUint64(DNS_ENTRY.expires_ns[0], true) < bootTimeNs()) return null;
    const len = Math.min(dv.getUint32(DNS_ENTRY.name_len[0], true), DNS_ENTRY.name[1]);
    const name = utf8.decode(v.subarray(DNS_ENTRY.name[0], DNS_ENTRY.name[0] + len));
    return { name, ambiguous: (dv.getUint32(DNS_ENTRY.flags[0], true) & DnsEntryFlag.ambiguous) !== 0 };
  }

  /** Names a connect (or a refused one) by the address's learned name, if the agent learned it from DNS. */
  nameDestination(e: ConnectEvent | EnforceEvent): void {
    if (!e.agentId || !this.maps || e.address === undefined) return;
    const addr = parseAddress(e.address);
    const learned = addr && this.learnedName(e.agentId, addr);
    if (!learned) return;
    e.domain = learned.name;
    if (learned.ambiguous && e.type === "connect") e.domainAmbiguous = true;
  }

  /** The DNS learners' counters (enum vigil_dns_stat), summed over CPUs; null when unbound. */
  dnsStats(): Record<DnsStatName, number> | null {
    const m = this.maps;
    if (!m) return null;
    const key = new Uint8Array(4);
    return Object.fromEntries(
      DNS_STATS.map((name, i) => {
        new DataView(key.buffer).setUint32(0, i, true);
        return [name, Number(m.dnsStats.lookupPerCpuU64(key)?.total ?? 0n)];
      }),
    ) as Record<DnsStatName, number>;
  }

  /** Removes learned names whose TTL ran out (the kernel ignores them, but they hold room); returns how many. */
  sweepLearnedNames(): number {
    const m = this.maps;
    if (!m) return 0;
    const now = bootTimeNs();
    const ks = LAYOUTS.vigil_dns_key.size;
    const vs = LAYOUTS.vigil_dns_entry.size;
    const expired: Uint8Array[] = [];
    m.dnsLearned.forEachBatch((keys, values, n) => {
      const dv = new DataView(values.buffer, values.byteOffset);
      for (let i = 0; i < n; i++) if (dv.getBigUint64(i * vs + DNS_ENTRY.expires_ns[0], true) < now) expired.push(keys.slice(i * ks, (i + 1) * ks));
    }, 1024);
    const all = new Uint8Array(expired.length * ks);
    expired.forEach((k, i) => all.set(k, i * ks));
    return m.dnsLearned.deleteBatch(all);
  }
}

/** The pin names of a cgroup's guard links start with this (the cgroup's id: its directory's inode). */
function guardPinPrefix(dir: string): string {
  return `link-cg${cgroupIdOf(dir)}`;
}

/** Maps an earlier daemon filled: the generation in force, and every key of each generation, read back. */
function adoptGenerations(m: EnforcementMaps): void {
  m.gen = new DataView(m.policyGen.lookup(u32(0))!.buffer).getUint32(0, true) & 1;
  for (const key of m.execRules.keys()) m.written[new DataView(key.buffer).getUint32(EXEC_RULE_KEY.gen[0], true) & 1]!.exec.push(key);
  for (const key of m.cidrSets.keys()) m.written[(new DataView(key.buffer).getUint32(CIDR_KEY.set[0], true) >>> 16) & 1]!.cidr.push(key);
  for (const key of m.domainSets.keys()) m.written[(new DataView(key.buffer).getUint32(DOMAIN_KEY.set[0], true) >>> 16) & 1]!.domain.push(key);
}

function clearGeneration(m: EnforcementMaps, gen: number): void {
  const w = m.written[gen]!;
  for (const k of w.exec) m.execRules.delete(k);
  for (const k of w.cidr) m.cidrSets.delete(k);
  for (const k of w.domain) m.domainSets.delete(k);
  w.exec = [];
  w.cidr = [];
  w.domain = [];
  m.connectCount.update(u32(gen), u32(0));
}

export { AGENT_ANY };
