/**
 * Agents: a named cgroup, or a named process subtree. Every event is given the
 * agent of its process: by cgroup first (exact id), then by the nearest
 * adopted ancestor in the process tree. New processes inherit their parent's
 * agent through the tree, so a subtree stays attributed after its root exits.
 */
import type { ProcessNode, ProcessTree } from "../proc/process-tree";

export interface AgentSpec {
  name: string;
  cgroupId?: number;
  /** Path below the cgroup2 mount. */
  cgroupPath?: string;
  /** Vigil created this cgroup: it may freeze and kill it, and guard its connects. */
  cgroupOwned?: boolean;
  rootPid?: number;
}

export interface Agent extends AgentSpec {
  id: string;
  /** The agent's identity in the kernel maps (never 0, never reused while Vigil runs). */
  kernelId: number;
  createdAt: number;
}

export type AgentChange = { kind: "added" | "removed"; agent: Agent };

export class AgentError extends Error {
  override readonly name = "AgentError";
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class AgentRegistry {
  private readonly agents = new Map<string, Agent>();
  private readonly byCgroup = new Map<number, Agent>();
  private readonly byRootPid = new Map<number, Agent>();
  private readonly byKernel = new Map<number, Agent>();
  private readonly listeners: ((c: AgentChange) => void)[] = [];
  private nextKernelId = 1;

  constructor(private readonly tree: ProcessTree) {}

  /** `kernelId`: the identity an earlier daemon gave it (a contained agent taken back), kept if free. */
  register(spec: AgentSpec, kernelId?: number): Agent {
    if (!NAME.test(spec.name)) throw new AgentError(`agent name ${JSON.stringify(spec.name)} must match ${NAME.source}`);
    if (spec.cgroupId === undefined && spec.rootPid === undefined) throw new AgentError(`agent ${spec.name} needs a cgroup or a root pid`);
    if (this.agents.has(spec.name)) throw new AgentError(`agent ${spec.name} already exists`);
    if (spec.cgroupId !== undefined && this.byCgroup.has(spec.cgroupId))
      throw new AgentError(`cgroup ${spec.cgroupId} already belongs to agent ${this.byCgroup.get(spec.cgroupId)!.name}`);
    const id = kernelId !== undefined && kernelId > 0 && !this.byKernel.has(kernelId) ? kernelId : this.nextKernelId;
    this.nextKernelId = Math.max(this.nextKernelId, id + 1);
    const agent: Agent = { ...spec, id: spec.name, kernelId: id, createdAt: Date.now() };
    this.agents.set(agent.id, agent);
    this.byKernel.set(agent.kernelId, agent);
    if (spec.cgroupId !== undefined) this.byCgroup.set(spec.cgroupId, agent);
    if (spec.rootPid !== undefined) {
      this.byRootPid.set(spec.rootPid, agent);
      const root = this.tree.get(spec.rootPid);
      if (root) root.agent = agent.name;
    }
    this.emit({ kind: "added", agent });
    return agent;
  }

  /** Called after every registration and removal (kernel maps and policies follow agents). */
  onChange(listener: (c: AgentChange) => void): void {
    this.listeners.push(listener);
  }

  private emit(c: AgentChange): void {
    for (const l of this.listeners) l(c);
  }

  /** Kernel ids of the agents whose names match any of these globs. */
  kernelIdsMatching(globs: readonly string[]): number[] {
    const g = globs.map((p) => new Bun.Glob(p));
    return this.list().filter((a) => g.some((x) => x.match(a.name))).map((a) => a.kernelId);
  }

  byKernelId(id: number): Agent | undefined {
    return this.byKernel.get(id);
  }

  remove(id: string): boolean {
    const a = this.agents.get(id);
    if (!a) return false;
    this.agents.delete(id);
    this.byKernel.delete(a.kernelId);
    if (a.cgroupId !== undefined) this.byCgroup.delete(a.cgroupId);
    if (a.rootPid !== undefined) this.byRootPid.delete(a.rootPid);
    this.emit({ kind: "removed", agent: a });
    return true;
  }

  get(id: string): Agent | undefined {
    return this.agents.get(id);
  }

  list(): Agent[] {
    return [...this.agents.values()];
  }

  /** The agent name for a process, caching it on the node. */
  resolve(node: ProcessNode, kernelId = 0): string | null {
    if (kernelId) {
      const k = this.byKernelId(kernelId);
      if (k) return (node.agent = k.name);
    }
    if (node.cgroupId !== null) {
      const a = this.byCgroup.get(node.cgroupId);
      if (a) return (node.agent = a.name);
    }
    if (node.agent) return node.agent;
    const own = this.byRootPid.get(node.pid);
    if (own) return (node.agent = own.name);
    if (this.byRootPid.size === 0) return null;
    for (const anc of this.tree.ancestry(node.pid)) {
      const a = anc.agent ? this.agents.get(anc.agent) : this.byRootPid.get(anc.pid);
      if (a) return (node.agent = a.name);
    }
    return null;
  }

  /** The agent owning a cgroup id, if any. */
  byCgroupId(id: number): Agent | undefined {
    return this.byCgroup.get(id);
  }
}
