/**
 * `vigil policy validate FILE...` and `vigil policy dry-run --policy FILE... --events LOG [--agent NAME]`:
 * check policies offline, and replay a `vigil run --events` log against them.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { ProfileBook } from "../profiles/profile-book";
import { suggestPolicy } from "../profiles/suggest";
import { probeCapabilities } from "../sensor/capabilities";
import { compilePolicies } from "../policy/compile";
import { dryRun, parseEventLines, type DryRunReport } from "../policy/dry-run";
import { formatProblem, PolicyError, readPolicyFile } from "../policy/loader";
import { parseArgs, UsageError } from "./args";

export const POLICY_USAGE = `usage: vigil policy validate FILE...
       vigil policy dry-run --policy FILE [--policy FILE]... --events LOG [--agent NAME] [--json]
       vigil policy suggest --agent NAME (--events LOG | --url URL) [--out FILE]`;

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

export async function policyCommand(argv: readonly string[]): Promise<number> {
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
  if (sub === "suggest") return suggest(rest);
  throw new UsageError(POLICY_USAGE);
}

/**
 * An allowlist policy from what an agent did: from a `vigil run --events` log (replayed through a profile
 * here), or from a running service's profile of it (GET /v1/profiles/NAME/policy; token in VIGIL_TOKEN).
 */
async function suggest(argv: readonly string[]): Promise<number> {
  const { options } = parseArgs("vigil policy suggest", argv, { agent: { value: true }, events: { value: true }, url: { value: true }, out: { value: true } } as const);
  const agent = options.agent as string | undefined;
  if (!agent || (options.events === undefined) === (options.url === undefined)) throw new UsageError(`vigil policy suggest: --agent and one of --events and --url are required\n${POLICY_USAGE}`);
  let yaml: string;
  if (options.events !== undefined) {
    const book = new ProfileBook({ sensitivePaths: [], onFinding: () => {} });
    const skipped: DryRunReport["skipped"] = [];
    for (const e of parseEventLines(readFileSync(options.events as string, "utf8"), skipped)) if (e.type !== "syscall" && e.agent === agent) book.write(e);
    const profile = book.get(agent);
    if (!profile) {
      process.stderr.write(`vigil policy suggest: no event of agent ${agent} in ${options.events as string}\n`);
      return 1;
    }
    try {
      yaml = suggestPolicy(profile);
    } catch (e) {
      process.stderr.write(`vigil policy suggest: ${(e as Error).message}\n`);
      return 1;
    }
  } else {
    const url = `${(options.url as string).replace(/\/$/, "")}/v1/profiles/${encodeURIComponent(agent)}/policy`;
    let r: Response;
    try {
      r = await fetch(url, { headers: { authorization: `Bearer ${process.env.VIGIL_TOKEN ?? ""}` }, signal: AbortSignal.timeout(10_000) });
    } catch (e) {
      process.stderr.write(`vigil policy suggest: ${url}: ${(e as Error).message}\n`);
      return 1;
    }
    const body = (await r.json().catch(() => ({}))) as { policy?: string; message?: string };
    if (!r.ok || typeof body.policy !== "string") {
      process.stderr.write(`vigil policy suggest: ${url}: ${r.status} ${body.message ?? ""}\n`);
      return 1;
    }
    yaml = body.policy;
  }
  if (options.out) writeFileSync(options.out as string, yaml);
  else process.stdout.write(yaml);
  return 0;
}
