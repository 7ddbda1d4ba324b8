/**
 * What policies cost. Userspace: PolicyGuard evaluation per event with a
 * realistic rule set against the same guard with no rules. Kernel: the
 * getppid storm, the exec/open workload and a connect loop, each observed
 * without and with a policy in force (agent identity in the kernel, exec rules
 * by inode, connect guard on the cgroup), against an unobserved baseline.
 */
import { Runtime } from "../src/runtime/runtime";
import { OwnedCgroup } from "../src/cgroup/cgroup";
import { probeCapabilities } from "../src/sensor/capabilities";
import { Interventions } from "../src/enforce/interventions";
import type { VigilEvent } from "../src/events/types";
import { PolicyGuard } from "../src/policy/policy-guard";
import { AgentRegistry } from "../src/agents/agent-registry";
import { ProcessTree } from "../src/proc/process-tree";
import { compilePolicies } from "../src/policy/compile";
import { rmSync } from "node:fs";
import { buildStorm, median, runIn, table, writeReport } from "./lib";
import { stormRuns } from "./storm";
import { makeWorkload } from "./workload";

/** 24 rules of every kind, none of which the benchmark workloads trigger (nothing is killed mid-measurement). */
const POLICY = `apiVersion: vigil/v1
kind: Policy
metadata: { name: bench }
spec:
  rules:
${[
  ...Array.from({ length: 6 }, (_, i) => `    - name: kill-${i}\n      match: { event: exec, binary: ["/usr/bin/nonexistent-${i}", "/usr/sbin/s*"] }\n      action: kill`),
  ...Array.from({ length: 6 }, (_, i) => `    - name: exec-alert-${i}\n      match: { event: exec, binary: ["/opt/**/tool-${i}"], argv: ["--upload-${i}"] }\n      action: alert`),
  ...Array.from({ length: 6 }, (_, i) => `    - name: open-${i}\n      match: { event: open, path: ["/root/.ssh/**", "/secret-${i}/**", "**/.env-${i}"] }\n      action: alert`),
  ...Array.from({ length: 4 }, (_, i) => `    - name: net-deny-${i}\n      match: { event: connect, cidr: ["10.${i}.0.0/16", "fd0${i}::/16"], port: [${1000 + i}, ${2000 + i}] }\n      action: deny`),
  `    - name: loopback-only\n      match: { event: connect, notCidr: ["127.0.0.0/8", "::1/128"] }\n      action: deny`,
  `    - name: db\n      match: { event: connect, port: [5432] }\n      action: alert`,
].join("\n")}
`;

function syntheticEvents(n: number): VigilEvent[] {
  const out: VigilEvent[] = [];
  const base = { tid: 1, ppid: 1, uid: 1000, gid: 1000, cgroupId: 1, agentId: 1, ktimeNs: 0, agent: "bench" };
  for (let i = 0; i < n; i++) {
    const pid = 1000 + (i % 500);
    const k = i % 10;
    if (k === 0) out.push({ ...base, type: "exec", ts: i, pid, comm: "sh", filename: `/usr/bin/tool-${i % 50}`, argv: ["tool", "--flag", `${i}`], argvTruncated: false, filenameTruncated: false, oldPid: pid, ino: i, dev: 1 });
    else if (k < 7) out.push({ ...base, type: "open", ts: i, pid, comm: "tool", path: `/home/u/project/src/file-${i % 300}.ts`, flags: 0, mode: 0, dfd: -100, ret: 3, pathTruncated: false });
    else out.push({ ...base, type: "connect", ts: i, pid, comm: "tool", family: "ipv4", address: `127.0.0.${1 + (i % 200)}`, port: 8000 + (i % 10), fd: 3, ret: 0 });
  }
  return out;
}

function userspaceCost(quick: boolean): { nsNoRules: number; nsRules: number; rules: number; findings: number } {
  const events = syntheticEvents(quick ? 100_000 : 500_000);
  const time = (withRules: boolean) => {
    const tree = new ProcessTree();
    const agents = new AgentRegistry(tree);
    agents.register({ name: "bench", cgroupId: 1 });
    let findings = 0;
    const guard = new PolicyGuard({ agents, tree, interventions: new Interventions(agents, () => {}), enforcer: null, onFinding: () => void findings++ });
    const set = compilePolicies([{ file: "bench.yaml", text: POLICY }], probeCapabilities());
    if (withRules) guard.apply(set);
    const runs: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = Bun.nanoseconds();
      for (const e of events) guard.write(e);
      runs.push((Bun.nanoseconds() - t) / events.length);
    }
    return { ns: median(runs), rules: set.rules.length, findings };
  };
  const none = time(false);
  const some = time(true);
  return { nsNoRules: none.ns, nsRules: some.ns, rules: some.rules, findings: some.findings };
}

/** An observer on the cgroup, with or without the policy in force the way `vigil run --policy` puts it. */
function observe(cg: OwnedCgroup, withPolicy: boolean): () => void {
  const rt = new Runtime({ observer: { syscalls: "aggregate", cgroupIds: [cg.id] }, scopeAgent: "bench" });
  const { agents, tree } = rt;
  const guard = withPolicy ? new PolicyGuard({ agents, tree, interventions: new Interventions(agents, () => {}), enforcer: rt.enforcer, onFinding: () => {} }) : null;
  if (guard) rt.pipeline.addSink(guard);
  rt.start();
  agents.register({ name: "bench", cgroupId: cg.id, cgroupPath: cg.relPath, cgroupOwned: true });
  if (guard) guard.apply(compilePolicies([{ file: "bench.yaml", text: POLICY }], probeCapabilities()));
  return () => void rt.stop();
}

const CONNECT_LOOP = (n: number) => `import socket, time
t = time.perf_counter_ns()
for i in range(${n}):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", 9))
    except OSError:
        pass
    s.close()
print((time.perf_counter_ns() - t) / ${n})`;

export async function benchPolicy(quick: boolean): Promise<Record<string, unknown>> {
  const u = userspaceCost(quick);
  console.log(`\n## policy evaluation in userspace (${u.rules} rules; exec/open/connect mix; median of 5)\n`);
  console.log(
    table(
      ["setup", "ns/event", "ratio"],
      [
        ["PolicyGuard, no rules", u.nsNoRules, "1.00x"],
        [`PolicyGuard, ${u.rules} rules`, u.nsRules, `${(u.nsRules / u.nsNoRules).toFixed(2)}x`],
      ],
    ),
  );

  buildStorm();
  const cg = OwnedCgroup.create(`bench-policy-${process.pid}`);
  const reps = quick ? 3 : 5;
  const stormN = quick ? 1_000_000 : 5_000_000;
  const iterations = quick ? 300 : 1000;
  const connects = quick ? 5_000 : 20_000;
  const { dir, script } = makeWorkload(iterations);
  type Row = { storm: number; workload: number; connect: number };
  const measure = async (): Promise<Row> => {
    const storm = (await stormRuns(cg, stormN, reps)).ns;
    const work: number[] = [];
    const conn: number[] = [];
    for (let r = 0; r < reps; r++) {
      work.push((await runIn(cg, ["/bin/sh", "-c", script])).ms);
      conn.push(Number((await runIn(cg, ["python3", "-c", CONNECT_LOOP(connects)])).stdout.trim()));
    }
    return { storm, workload: median(work), connect: median(conn) };
  };
  try {
    const base = await measure();
    const rows: Record<string, Row> = { baseline: base };
    for (const withPolicy of [false, true]) {
      const stop = observe(cg, withPolicy);
      try {
        rows[withPolicy ? "policy" : "observed"] = await measure();
      } finally {
        stop();
      }
    }
    const o = rows.observed!;
    const p = rows.policy!;
    const r = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    console.log(`\n## kernel cost of enforcement (aggregate mode; storm ${stormN} getppid × ${reps}, workload ${iterations} iterations, ${connects} connects to a closed loopback port; medians)\n`);
    console.log(
      table(
        ["setup", "storm ns/syscall", "workload ms", "connect ns/call", "storm vs observed", "workload vs observed", "connect vs observed"],
        [
          ["baseline (unobserved)", base.storm, base.workload, base.connect, "-", "-", "-"],
          ["observed, no policy", o.storm, o.workload, o.connect, "1.00x", "1.00x", "1.00x"],
          [`observed + ${u.rules}-rule policy`, p.storm, p.workload, p.connect, r(p.storm, o.storm), r(p.workload, o.workload), r(p.connect, o.connect)],
        ],
      ),
    );
    const result = { userspace: u, kernel: rows, stormN, iterations, connects, reps };
    writeReport("policy", result);
    return result;
  } finally {
    await cg.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}
