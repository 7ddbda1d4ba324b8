/**
 * Keeps the kernel's agent identity maps in step with the AgentRegistry:
 * cgroup agents by cgroup id, subtree agents by the root's pid and its live
 * descendants (children forked later inherit in the kernel), and a connect
 * guard on every cgroup Vigil owns. Independent of policies: identity is
 * what every event carries.
 */
import { join } from "node:path";
import type { Agent, AgentRegistry } from "../agents/agent-registry";
import { cgroup2Mount } from "../cgroup/cgroup";
import type { ProcessTree } from "../proc/process-tree";
import type { KernelEnforcer } from "./kernel-enforcer";

export function syncAgentsToKernel(agents: AgentRegistry, tree: ProcessTree, k: KernelEnforcer): void {
  const apply = (kind: "added" | "removed", agent: Agent) => {
    if (!k.bound) return;
    const mount = cgroup2Mount();
    const dir = agent.cgroupOwned && agent.cgroupPath && mount ? join(mount, agent.cgroupPath) : null;
    if (kind === "added") {
      if (agent.cgroupId !== undefined) k.setCgroupAgent(agent.cgroupId, agent.kernelId);
      if (agent.rootPid !== undefined) {
        k.setProcessAgent(agent.rootPid, agent.kernelId);
        for (const p of tree.descendants(agent.rootPid)) if (p.exitTime === null) k.setProcessAgent(p.pid, agent.kernelId);
      }
      if (dir) k.guardCgroup(dir);
    } else {
      if (agent.cgroupId !== undefined) k.forgetCgroup(agent.cgroupId);
      if (agent.rootPid !== undefined) k.forgetProcess(agent.rootPid);
      if (dir) k.unguardCgroup(dir);
    }
  };
  // A fresh sensor's maps are empty: every agent known by then goes in.
  k.onBound(() => {
    for (const a of agents.list()) apply("added", a);
  });
  for (const a of agents.list()) apply("added", a);
  agents.onChange((c) => apply(c.kind, c.agent));
}
