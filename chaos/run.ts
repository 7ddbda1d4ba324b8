/**
 * `bun run chaos [--quick] [name...]`: the local chaos experiments, one after
 * the other, each on a daemon and data of its own. Writes the journal to
 * reports/chaos-journal.json; exits 1 when an experiment deviated or failed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../lab/daemon";
import type { Experiment, ExperimentContext, JournalEntry } from "./experiment";
import { diskFull } from "./experiments/disk-full";
import { failClosed } from "./experiments/fail-closed";
import { kill9 } from "./experiments/kill9";
import { policyCorrupt } from "./experiments/policy-corrupt";
import { ringFlood } from "./experiments/ring-flood";
import { rogueAgent } from "./experiments/rogue-agent";
import { sigstop } from "./experiments/sigstop";
import { stress } from "./experiments/stress";
import { storeFaults } from "./experiments/store-faults";

export const EXPERIMENTS: Experiment[] = [kill9, failClosed, sigstop, stress, diskFull, storeFaults, ringFlood, policyCorrupt, rogueAgent];

export async function runExperiment(x: Experiment, quick: boolean): Promise<JournalEntry> {
  const dir = mkdtempSync(join(tmpdir(), `vigil-chaos-${x.name}-`));
  const rollbacks: { name: string; fn: () => Promise<void> | void }[] = [];
  const measurements: JournalEntry["measurements"] = {};
  const ctx: ExperimentContext = {
    quick,
    dir,
    measure: (k, v) => void (measurements[k] = v),
    onRollback: (name, fn) => void rollbacks.push({ name, fn }),
  };
  const entry: JournalEntry = {
    name: x.name,
    title: x.title,
    hypothesis: x.hypothesis,
    status: "completed",
    deviated: false,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    steadyStateBefore: [],
    steadyStateAfter: [],
    measurements,
    rollbacks: [],
  };
  const t0 = Date.now();
  try {
    await x.setup(ctx);
    entry.steadyStateBefore = await x.steadyState(ctx, "before");
    if (entry.steadyStateBefore.some((p) => !p.ok)) {
      entry.status = "aborted"; // not in steady state: no experiment on it
    } else {
      await x.method(ctx);
      entry.steadyStateAfter = await x.steadyState(ctx, "after");
      entry.deviated = entry.steadyStateAfter.some((p) => !p.ok);
    }
  } catch (e) {
    entry.status = "failed";
    entry.error = (e as Error).stack ?? String(e);
  } finally {
    for (const r of rollbacks.reverse()) {
      try {
        await r.fn();
        entry.rollbacks.push({ name: r.name, ok: true });
      } catch (e) {
        entry.rollbacks.push({ name: r.name, ok: false, error: (e as Error).message });
      }
    }
    rmSync(dir, { recursive: true, force: true });
    entry.durationMs = Date.now() - t0;
  }
  return entry;
}

export function journalGreen(j: JournalEntry[]): boolean {
  return j.length > 0 && j.every((e) => e.status === "completed" && !e.deviated && e.rollbacks.every((r) => r.ok));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const names = args.filter((a) => !a.startsWith("--"));
  const unknown = names.filter((n) => !EXPERIMENTS.some((x) => x.name === n));
  if (unknown.length) {
    console.error(`chaos: unknown experiment(s) ${unknown.join(", ")} (have: ${EXPERIMENTS.map((x) => x.name).join(", ")})`);
    process.exit(2);
  }
  if (process.getuid?.() !== 0) {
    console.error("chaos: needs root (BPF programs, cgroups, tmpfs mounts)");
    process.exit(2);
  }
  const journal: JournalEntry[] = [];
  for (const x of EXPERIMENTS.filter((e) => names.length === 0 || names.includes(e.name))) {
    const e = await runExperiment(x, quick);
    journal.push(e);
    const verdict = e.status !== "completed" ? e.status.toUpperCase() : e.deviated ? "DEVIATED" : "ok";
    console.log(`${verdict.padEnd(8)} ${e.name} (${(e.durationMs / 1000).toFixed(1)} s)`);
    for (const p of [...e.steadyStateBefore.map((p) => ({ ...p, phase: "before" })), ...e.steadyStateAfter.map((p) => ({ ...p, phase: "after" }))])
      if (!p.ok || verdict !== "ok") console.log(`         ${p.phase} ${p.ok ? "ok  " : "FAIL"} ${p.name}: ${JSON.stringify(p.value)}`);
    if (e.error) console.log(`         error: ${e.error.split("\n").slice(0, 3).join(" | ")}`);
    console.log(`         ${JSON.stringify(e.measurements)}`);
  }
  mkdirSync(join(ROOT, "reports"), { recursive: true });
  writeFileSync(join(ROOT, "reports/chaos-journal.json"), `${JSON.stringify({ quick, finishedAt: new Date().toISOString(), experiments: journal }, null, 2)}\n`);
  const ok = journal.filter((e) => e.status === "completed" && !e.deviated).length;
  console.log(`\n${ok} passed, ${journal.length - ok} failed`);
  process.exit(journalGreen(journal) ? 0 : 1);
}
