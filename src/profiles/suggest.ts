/**
 * An allowlist policy written from what an agent did (its profile): the
 * areas it wrote in (a Landlock workspace rule), the names it connected to
 * (a domain allowlist, with the addresses it reached by no name, such as its
 * resolver, as CIDRs), and the programs it ran (an alert on any other). The
 * policy starts in shadow mode: review it, run it in shadow, then switch
 * `mode` to enforce by hot reload.
 */
import { stringify } from "yaml";
import type { AgentProfile } from "./profile-book";
import { parseDomainPattern } from "../enforce/domains";
import { isIP } from "node:net";

/** The policy, as YAML with a header saying where it came from. */
export function suggestPolicy(profile: AgentProfile, now = new Date()): string {
  const name = `${profile.agent}-allowlist`.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
  const rules: Record<string, unknown>[] = [];
  const writeAreas = Object.keys(profile.writeAreas).filter((a) => a.startsWith("/")).sort();
  if (writeAreas.length)
    rules.push({ name: "writes", description: "writes only where the agent wrote while profiled (Landlock: vigil run only)", match: { event: "open", access: "write", notPath: [...writeAreas.map((a) => (a === "/" ? "/**" : `${a}/**`)), "/dev/null"] }, action: "deny" });
  const domains = Object.keys(profile.domains).filter((d) => {
    try {
      parseDomainPattern(d);
      return true;
    } catch {
      return false; // a learned name the policy language cannot hold: left out, the reviewer sees it missing
    }
  });
  const unnamed = Object.keys(profile.unnamedAddresses).filter((a) => isIP(a)).sort();
  if (domains.length || unnamed.length) {
    const match: Record<string, unknown> = { event: "connect" };
    if (domains.length) match.notDomain = domains.sort();
    if (unnamed.length) match.notCidr = unnamed.map((a) => (isIP(a) === 4 ? `${a}/32` : `${a}/128`));
    rules.push({ name: "egress", description: "connects only to the names (and the addresses reached by no name) seen while profiled", match, action: "deny" });
  }
  const binaries = Object.keys(profile.binaries).sort();
  if (binaries.length) rules.push({ name: "programs", description: "a program not seen while profiled", match: { event: "exec", notBinary: binaries }, action: "alert" });
  if (!rules.length) throw new Error(`agent ${profile.agent} has done nothing to learn an allowlist from yet`);
  const policy = {
    apiVersion: "vigil/v1",
    kind: "Policy",
    metadata: { name, description: `suggested from the profile of agent ${profile.agent} (since ${new Date(profile.since).toISOString()})` },
    spec: { agents: [profile.agent], mode: "shadow", rules },
  };
  const header = `# Suggested by vigil on ${now.toISOString()} from what agent ${profile.agent} did.\n# Review it, run it in shadow (findings say would-deny), then set mode: enforce.\n`;
  return header + stringify(policy);
}
