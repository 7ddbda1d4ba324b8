/**
 * Interventions on an agent: freeze, thaw, kill its tree, kill one process.
 * Each is audited (what, why, who asked, and whether it worked). Cgroup
 * actions only ever touch cgroups Vigil created.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Agent, AgentRegistry } from "../agents/agent-registry";
import { cgroup2Mount } from "../cgroup/cgroup";
import type { AuditEntry, InterventionKind } from "../events/records";

export type { AuditEntry, InterventionKind };

let seq = 0;

export class Interventions {
  constructor(
    private readonly agents: AgentRegistry,
    private readonly onAudit: (entry: AuditEntry) => void,
  ) {}

  private audit(action: InterventionKind, agent: string | null, actor: string, reason: string, run: () => string, pid?: number): AuditEntry {
    let ok = true;
    let detail: string;
    try {
      detail = run();
    } catch (e) {
      ok = false;
      detail = (e as Error).message;
    }
    const entry: AuditEntry = { id: `a-${Date.now().toString(36)}-${(++seq).toString(36)}`, ts: Date.now(), action, agent, pid, actor, reason, ok, detail };
    this.onAudit(entry);
    return entry;
  }

  /** The agent's cgroup directory, only when Vigil owns it. */
  private ownedDir(name: string): { agent: Agent; dir: string } {
    const agent = this.agents.get(name);
    if (!agent) throw new Error(`no agent ${JSON.stringify(name)}`);
    if (!agent.cgroupPath || !agent.cgroupOwned) throw new Error(`agent ${name} has no cgroup of Vigil's own (adopt it with contain: true, or run it with vigil run)`);
    const mount = cgroup2Mount();
    if (!mount) throw new Error("no cgroup v2 hierarchy is mounted");
    return { agent, dir: join(mount, agent.cgroupPath) };
  }

  /** Whether the agent's cgroup (one Vigil owns) is frozen now. */
  isFrozen(name: string): boolean {
    try {
      return readFileSync(join(this.ownedDir(name).dir, "cgroup.events"), "utf8").includes("frozen 1");
    } catch {
      return false;
    }
  }

  freeze(name: string, actor: string, reason: string): AuditEntry {
    return this.audit("freeze", name, actor, reason, () => setFrozen(this.ownedDir(name).dir, true));
  }

  thaw(name: string, actor: string, reason: string): AuditEntry {
    return this.audit("thaw", name, actor, reason, () => setFrozen(this.ownedDir(name).dir, false));
  }

  killTree(name: string, actor: string, reason: string): AuditEntry {
    return this.audit("kill-tree", name, actor, reason, () => {
      const { dir } = this.ownedDir(name);
      const pids = readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).length;
      if (existsSync(join(dir, "cgroup.kill"))) writeFileSync(join(dir, "cgroup.kill"), "1");
      else for (const p of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) process.kill(Number(p), "SIGKILL");
      return `SIGKILL to the ${pids} process(es) of ${dir} (cgroup.kill)`;
    });
  }

  /** One process of an agent (the agent must be known: Vigil kills only what it observes as an agent's). */
  killProcess(pid: number, name: string | null, actor: string, reason: string): AuditEntry {
    return this.audit(
      "kill",
      name,
      actor,
      reason,
      () => {
        if (!name) throw new Error(`pid ${pid} belongs to no agent: Vigil does not kill it`);
        process.kill(pid, "SIGKILL");
        return `SIGKILL to pid ${pid}`;
      },
      pid,
    );
  }
}

/** Write cgroup.freeze and wait (bounded) until the kernel reports the new state. */
function setFrozen(dir: string, frozen: boolean): string {
  writeFileSync(join(dir, "cgroup.freeze"), frozen ? "1" : "0");
  const want = `frozen ${frozen ? 1 : 0}`;
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline) {
    if (readFileSync(join(dir, "cgroup.events"), "utf8").includes(want)) return `${dir} ${frozen ? "frozen" : "thawed"}`;
    Bun.sleepSync(2);
  }
  return `${dir}: cgroup.freeze=${frozen ? 1 : 0} written; the kernel has not reported ${want} within 1 s`;
}
