/**
 * `bun run bench [storm|workload|decode|service|queries|policy|agents|tls|dashboard ...] [--quick]`: prints figures and
 * ratios against a baseline measured in the same run, writes
 * reports/bench-*.json. No verdicts: the numbers are the result.
 */
import { benchDecode } from "./decode";
import { benchStorm } from "./storm";
import { benchWorkload } from "./workload";
import { benchService } from "./service";
import { benchQueries } from "./queries";
import { benchPolicy } from "./policy";
import { benchAgents } from "./agents";
import { benchTls } from "./tls";
import { benchDashboard } from "./dashboard";

const all = { storm: benchStorm, workload: benchWorkload, decode: benchDecode, service: benchService, queries: benchQueries, policy: benchPolicy, agents: benchAgents, tls: benchTls, dashboard: benchDashboard } as const;
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const names = args.filter((a) => !a.startsWith("--"));
for (const n of names) if (!(n in all)) {
  console.error(`bench: unknown benchmark ${JSON.stringify(n)} (have: ${Object.keys(all).join(", ")})`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error("bench: needs root (loads BPF programs)");
  process.exit(2);
}
console.log(`# vigil bench ${new Date().toISOString()} · ${(await Bun.file("/proc/sys/kernel/osrelease").text()).trim()} · ${navigator.hardwareConcurrency} CPUs${quick ? " · quick" : ""}`);
// `service` runs `queries` first, so the full run leaves it out.
for (const n of names.length ? names : Object.keys(all).filter((n) => n !== "queries")) await all[n as keyof typeof all](quick);
