/**
 * `vigil policy validate FILE...` and `vigil policy dry-run --policy FILE... --events LOG [--agent NAME]`:
 * check policies offline, and replay a `vigil run --events` log against them.
 */
import { readFileSync } from "node:fs";
import { probeCapabilities } from "../sensor/capabilities";
import { compilePolicies } from "../policy/compile";
import { dryRun, parseEventLines, type DryRunReport } from "../policy/dry-run";
import { formatProblem, PolicyError, readPolicyFile } from "../policy/loader";
import { parseArgs, UsageError } from "./args";

export const POLICY_USAGE = `usage: vigil policy validate FILE...
       vigil policy dry-run --policy FILE [--policy FILE]... --events LOG [--agent NAME] [--json]`;

function compile(files: string[]) {
  try {
    const set = compilePolicies(files.map(readPolicyFile), probeCapabilities());
    for (const w of set.warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
    return set;
  } catch (e) {
    if (e instanceof PolicyError) {
      for (const p of e.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return null;
    }
    throw e;
  }
}

export function policyCommand(argv: readonly string[]): number {
  const [sub, ...rest] = argv;
  if (sub === "validate") {
    if (rest.length === 0) throw new UsageError(`vigil policy validate: no file given\n${POLICY_USAGE}`);
    const set = compile([...rest]);
    if (!set) return 1;
    for (const r of set.rules) console.log(`${r.policy}/${r.name}: ${r.event} → ${r.action} (${r.enforcement === "none" ? "recorded" : `enforced in ${r.enforcement}`})`);
    return 0;
  }
  if (sub === "dry-run") {
    const { options } = parseArgs("vigil policy dry-run", rest, { policy: { value: true, repeat: true }, events: { value: true }, agent: { value: true }, json: {} } as const);
    const files = (options.policy as string[] | undefined) ?? [];
    if (!files.length || !options.events) throw new UsageError(`vigil policy dry-run: --policy and --events are required\n${POLICY_USAGE}`);
    const set = compile(files);
    if (!set) return 1;
    const skipped: DryRunReport["skipped"] = [];
    const report = dryRun(set, parseEventLines(readFileSync(options.events as string, "utf8"), skipped), { defaultAgent: options.agent as string | undefined });
    report.skipped = skipped;
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`${report.events} events, ${report.evaluated} evaluated, ${report.hits} hits${skipped.length ? `, ${skipped.length} lines skipped` : ""}`);
      for (const [rule, b] of Object.entries(report.byRule)) console.log(`  ${rule}: ${b.count} × ${b.action} (${b.enforcement})`);
      for (const s of report.samples.slice(0, 20)) console.log(`    pid ${s.pid} ${s.comm}: ${s.event} → ${s.rule} ${s.action}`);
    }
    return 0;
  }
  throw new UsageError(POLICY_USAGE);
}
