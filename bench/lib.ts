/** Helpers shared by the benchmarks: medians, cgroup-scoped runs, peak RSS. */
import { existsSync, readFileSync, writeFileSync, mkdirSync, statSync } from "node:fs";
import { OwnedCgroup } from "../src/cgroup/cgroup";

export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const STORM = `${ROOT}/build/storm`;

export function buildStorm(): void {
  const src = `${ROOT}/bench/storm.c`;
  if (existsSync(STORM) && statSync(STORM).mtimeMs >= statSync(src).mtimeMs) return;
  const r = Bun.spawnSync(["cc", "-O2", "-pthread", "-o", STORM, src]);
  if (r.exitCode !== 0) throw new Error(`cannot build the storm program: ${r.stderr.toString()}`);
}

export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** The q-quantile of xs, interpolated between the nearest ranks. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo);
}

/** Runs argv inside the cgroup, asynchronously (an observer's drain timer keeps running meanwhile): wall ms, and CPU ms of it and the descendants it waited for (kernel time included). */
export async function runIn(cg: OwnedCgroup, argv: string[]): Promise<{ stdout: string; pid: number; ms: number; cpuMs: number }> {
  const t = performance.now();
  const p = Bun.spawn(cg.shellArgv('exec "$@"', ...argv), { stdout: "pipe", stderr: "inherit" });
  const stdout = await new Response(p.stdout).text();
  await p.exited;
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${p.exitCode}`);
  const cpu = p.resourceUsage()?.cpuTime;
  return { stdout, pid: p.pid, ms: performance.now() - t, cpuMs: cpu ? Number(cpu.user + cpu.system) / 1000 : Number.NaN };
}

/** Resets this process's peak RSS (VmHWM) so the next reading covers one run only. */
export function resetPeakRss(): void {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    /* not supported: the peak then covers the whole bench */
  }
}

export function peakRssMiB(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i]!)).join(" | ")} |`;
  return [line(cells[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.slice(1).map(line)].join("\n");
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function writeReport(name: string, data: unknown): string {
  mkdirSync(`${ROOT}/reports`, { recursive: true });
  const path = `${ROOT}/reports/bench-${name}.json`;
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

/** The p-th percentile (nearest rank) of latencies; NaN when there are none. */
export function pct(xs: number[], p: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** A process's resident memory now (VmRSS), in MiB. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}
