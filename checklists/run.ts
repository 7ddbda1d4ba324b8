/**
 * `bun run checklist` runs the production-readiness checklist against a real
 * daemon and prints a table; `bun run release:check` (--gate) is the release
 * gate: it fails on any failing blocking item. Both write
 * reports/release-check.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execStorm, ROOT, settledVigilPrograms, startDaemon } from "../lab/daemon";
import { CHECKLIST, type CheckContext } from "./items";

const gate = process.argv.includes("--gate");
if (process.getuid?.() !== 0) {
  console.error("checklist: needs root (it runs the daemon with its BPF programs)");
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "vigil-checklist-"));
const programsBefore = await settledVigilPrograms();
const env = { VIGIL_TOKEN: `checklist-${crypto.randomUUID()}` };
const ctx: CheckContext = {
  daemon: await startDaemon(dir, env),
  programsBefore,
  async restart() {
    ctx.daemon = await startDaemon(dir, env);
    return ctx.daemon;
  },
};
// Some real activity for the checks to see.
await execStorm(200).exited;

const results: { id: string; title: string; severity: string; why: string; how: string; ok: boolean; detail: string; ms: number }[] = [];
try {
  for (const item of CHECKLIST) {
    const t0 = performance.now();
    let r: { ok: boolean; detail: string };
    try {
      r = await item.check(ctx);
    } catch (e) {
      r = { ok: false, detail: `check threw: ${(e as Error).message}` };
    }
    results.push({ id: item.id, title: item.title, severity: item.severity, why: item.why, how: item.how, ...r, ms: Math.round(performance.now() - t0) });
  }
} finally {
  await ctx.daemon.stop();
  rmSync(dir, { recursive: true, force: true });
}

const blockingFailed = results.filter((r) => !r.ok && r.severity === "blocking");
console.log("| item | severity | result | detail |\n|---|---|---|---|");
for (const r of results) console.log(`| ${r.id} | ${r.severity} | ${r.ok ? "pass" : "FAIL"} | ${r.detail.replace(/\|/g, "/").slice(0, 160)} |`);
mkdirSync(join(ROOT, "reports"), { recursive: true });
writeFileSync(join(ROOT, "reports/release-check.json"), `${JSON.stringify({ at: new Date().toISOString(), gate, releasable: blockingFailed.length === 0, items: results }, null, 2)}\n`);
const passed = results.filter((r) => r.ok).length;
console.log(`\n${gate ? (blockingFailed.length ? `release gate: BLOCKED by ${blockingFailed.map((r) => r.id).join(", ")}` : "release gate: releasable") : ""}`);
// Warnings are shown but do not count as failures of the gate.
const warnings = results.filter((r) => !r.ok && r.severity === "warning");
if (warnings.length) console.log(`warnings (not blocking): ${warnings.map((r) => r.id).join(", ")}`);
console.log(`${passed} passed, ${blockingFailed.length} failed`);
process.exit(gate && blockingFailed.length ? 1 : 0);
