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
import { enableRunTimeStats } from "../src/kernel/bpf-object";
import { buildStorm, median, runIn, table, writeReport } from "./lib";
import { stormRuns } from "./storm";
import { makeWorkload } from "./workload";
import { VIGIL_EXEC } from "../src/cgroup/cgroup";
import { LANDLOCK_ACCESS, launcherArgs } from "../src/kernel/landlock";
import { makeNetns } from "../lab/netns";
import { ROOT } from "../lab/daemon";

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

/**
 * An observer on the cgroup, with or without a policy in force the way `vigil run --policy` puts it.
 * The cgroup is Vigil's (connect hooks and DNS learners attached), as in `vigil run`.
 */
function observe(cg: OwnedCgroup, policy: string | null, onStop?: (rt: Runtime) => void): () => void {
  const rt = new Runtime({ observer: { syscalls: "aggregate", cgroupIds: [cg.id] }, scopeAgent: "bench" });
  const { agents, tree } = rt;
  const guard = policy ? new PolicyGuard({ agents, tree, interventions: new Interventions(agents, () => {}), enforcer: rt.enforcer, onFinding: () => {} }) : null;
  if (guard) rt.pipeline.addSink(guard);
  rt.start();
  agents.register({ name: "bench", cgroupId: cg.id, cgroupPath: cg.relPath, cgroupOwned: true });
  if (guard && policy) guard.apply(compilePolicies([{ file: "bench.yaml", text: policy }], probeCapabilities()));
  return () => {
    onStop?.(rt);
    rt.stop();
  };
}

/** The programs one resolve + connect round runs: the query out, the answer in, two connects (UDP, TCP). */
const ROUND_PROGRAMS = { vigil_dns_egress: 1, vigil_dns_ingress: 1, vigil_connect4: 2 } as const;

/** A name resolved (glibc, UDP to the namespace's DNS server) and connected to, n times: ns per round. */
const RESOLVE_CONNECT_LOOP = (n: number, port: number) => `import socket, time
t = time.perf_counter_ns()
for i in range(${n}):
    a = socket.getaddrinfo("allowed.test", ${port}, socket.AF_INET, socket.SOCK_STREAM)[0][4]
    s = socket.socket()
    s.connect(a)
    s.close()
print((time.perf_counter_ns() - t) / ${n})`;

const DOMAIN_POLICY = `apiVersion: vigil/v1
kind: Policy
metadata: { name: bench-egress }
spec:
  rules:
    - name: allowlist
      match: { event: connect, notDomain: ["allowed.test", "*.github.com", "api.openai.com"], notCidr: ["127.0.0.1/32"] }
      action: deny
`;

/** Runs a and b alternately `reps` times each (so drift on the host hits both alike); their medians. */
async function alternate(reps: number, a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> {
  const ra: number[] = [];
  const rb: number[] = [];
  for (let r = 0; r < reps; r++) {
    ra.push(await a());
    rb.push(await b());
  }
  return [median(ra), median(rb)];
}

/**
 * Confinement: the exec/open workload under a Landlock write allowlist against the same launcher without
 * one (unobserved both, so the difference is Landlock's); and a resolve-then-connect loop in a network
 * namespace with its own DNS server, observed in a guarded cgroup (the DNS learners run) without a rule and
 * with a domain allowlist in force (every connect judged by its learned name), against unobserved.
 */
async function confinementCost(cg: OwnedCgroup, quick: boolean, reps: number) {
  const { dir, script } = makeWorkload(quick ? 300 : 1000);
  const layer = launcherArgs([{ ruleId: 1, agents: null, rights: LANDLOCK_ACCESS.write, allow: [dir, "/tmp", "/dev/null"] }]);
  const launch = async (extra: string[]) => (await runIn(cg, [VIGIL_EXEC, ...extra, cg.procsFile, "/bin/sh", "sh", "-c", script])).ms;
  let workload: [number, number];
  try {
    workload = await alternate(2 * reps + 1, () => launch([]), () => launch(layer));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const netns = makeNetns(`vigil-bench${process.pid}`);
  const port = 8080;
  const dns = Bun.spawn([...netns.exec, process.execPath, `${ROOT}/lab/dns-server.ts`, "--tcp-port", String(port), "--a", "allowed.test=127.0.0.2", "--ttl", "60"], { stdout: "pipe", stderr: "inherit" });
  const rounds = quick ? 2000 : 10_000;
  const loop = async () => Number((await runIn(cg, [...netns.exec, "python3", "-c", RESOLVE_CONNECT_LOOP(rounds, port)])).stdout.trim());
  const domain: Record<string, number> = {};
  const hookNs: Record<string, number> = {};
  const perProgram: Record<string, number> = {};
  try {
    const reader = dns.stdout.getReader();
    await reader.read(); // "ready"
    reader.releaseLock();
    const runs = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(await loop());
      return median(out);
    };
    domain.unobserved = await runs(reps);
    for (const [name, policy] of [["guarded", null], ["allowlist", DOMAIN_POLICY]] as const) {
      // The kernel's own run time of each program (BPF stats): what a round costs in the hooks, free of the host's noise.
      const stats = enableRunTimeStats();
      const stop = observe(cg, policy, (rt) => {
        const ps = rt.observer.programRunStats();
        let ns = 0;
        for (const [prog, per] of Object.entries(ROUND_PROGRAMS)) {
          const p = ps[prog];
          if (p && p.runs) {
            perProgram[`${name}:${prog}`] = p.runTimeNs / p.runs;
            ns += (per * p.runTimeNs) / p.runs;
          }
        }
        hookNs[name] = ns;
      });
      try {
        domain[name] = await runs(reps);
      } finally {
        stop();
        stats.close();
      }
    }
  } finally {
    dns.kill();
    await dns.exited;
    netns.remove();
  }
  return { workload: { plain: workload[0], landlock: workload[1] }, domain, hookNs, perProgram, rounds };
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
      const stop = observe(cg, withPolicy ? POLICY : null);
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
    const c = await confinementCost(cg, quick, reps);
    const us = (ns: number) => (ns / 1000).toFixed(2);
    console.log(`\n## confinement (Landlock write allowlist on the workload, unobserved, ${2 * reps + 1} alternating runs each; ${c.rounds} resolve + connect rounds in a network namespace; medians)\n`);
    console.log(
      table(
        ["setup", "workload ms", "vs launcher alone"],
        [
          ["launcher (vigil-exec), no layer", c.workload.plain, "1.00x"],
          ["launcher + Landlock write layer", c.workload.landlock, r(c.workload.landlock, c.workload.plain)],
        ],
      ),
    );
    console.log("");
    console.log(`hook ns per run: ${Object.entries(c.perProgram).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}\n`);
    console.log(
      table(
        ["setup", "µs per resolve + connect (wall)", "vs unobserved", "µs in the hooks per round (BPF stats)"],
        [
          ["unobserved", us(c.domain.unobserved!), "-", "-"],
          ["observed, guarded cgroup (DNS learned), no rule", us(c.domain.guarded!), r(c.domain.guarded!, c.domain.unobserved!), us(c.hookNs.guarded ?? 0)],
          ["observed + domain allowlist", us(c.domain.allowlist!), r(c.domain.allowlist!, c.domain.unobserved!), us(c.hookNs.allowlist ?? 0)],
        ],
      ),
    );
    const result = { userspace: u, kernel: rows, confinement: c, stormN, iterations, connects, reps };
    writeReport("policy", result);
    return result;
  } finally {
    await cg.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}
