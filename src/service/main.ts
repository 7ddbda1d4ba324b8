/**
 * `npm run service`: the node daemon. Observes the whole machine (minus
 * itself), keeps the live process tree, and logs ingest and drop statistics.
 * The HTTP API, store and streams build on this (see README, "Service").
 */
import { AgentRegistry } from "../agents/agent-registry";
import { Observer, DEFAULT_OBJECT_PATH, type SyscallModeName } from "../observer/observer";
import { checkRequirements, missing } from "../observer/requirements";
import { EventPipeline } from "../pipeline/event-pipeline";
import { ProcessTree } from "../proc/process-tree";
import { existsSync } from "node:fs";
import { log } from "./log";

const mode = (process.env.VIGIL_SYSCALLS ?? "aggregate") as SyscallModeName;
if (!["off", "aggregate", "firehose"].includes(mode)) {
  log("error", "invalid configuration", { field: "VIGIL_SYSCALLS", value: mode, expected: "off | aggregate | firehose" });
  process.exit(2);
}
const lacking = missing(checkRequirements(DEFAULT_OBJECT_PATH));
if (lacking.length) {
  log("error", "eBPF unavailable", { missing: lacking.map((r) => `${r.name}: ${r.detail}`) });
  process.exit(2);
}

const tree = new ProcessTree();
const seeded = tree.seedFromProc();
const agents = new AgentRegistry(tree);
const pipeline = new EventPipeline(tree, agents);
const observer = new Observer({
  syscalls: mode,
  onEvent: (e) => pipeline.handle(e),
  onError: (e) => log("warn", "event handler failed", { error: e.message }),
});
observer.start();
log("info", "observing", { seededProcesses: seeded, syscalls: mode, programs: observer.stats().attachedPrograms, pid: process.pid });

const housekeeping = setInterval(() => {
  tree.sweep();
  tree.reconcile((pid) => existsSync(`/proc/${pid}`));
}, 5_000);
const stats = setInterval(() => {
  const s = observer.stats();
  log("info", "stats", { received: s.received, droppedTotal: s.droppedTotal, dropped: s.dropped, ringFill: s.ringFill, tree: tree.stats() });
}, Number(process.env.VIGIL_STATS_INTERVAL_MS ?? 10_000));

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  clearInterval(housekeeping);
  clearInterval(stats);
  const errors = observer.stop();
  log("info", "stopped", { signal, detachErrors: errors.map((e) => e.message) });
  process.exit(errors.length ? 1 : 0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
