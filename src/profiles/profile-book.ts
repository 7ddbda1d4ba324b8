/**
 * Behavior profiles per agent: syscall mix, binaries executed, file areas
 * touched, network destinations, process tree shape and event rates, and
 * from its LLM traffic the tools it calls and the model hosts it talks to.
 * A learning window ends in a baseline; from then on a new binary, a new
 * destination, a new file area, a sensitive path, a rate spike, a new tool
 * or a new model host is a deviation finding with a severity. Bounded:
 * every set has a ceiling.
 */
import { dirname } from "node:path";
import type { VigilEvent } from "../events/types";
import { findingId, type Finding } from "../events/records";
import type { Severity } from "../policy/schema";
import type { EventSink } from "../pipeline/event-pipeline";
import { globMatcher, openAccess } from "../policy/match";

const MAX_KEYS = 4096;
const RATE_WINDOW_MS = 10_000;
const EINPROGRESS = 115;
const RATE_TYPES = ["exec", "open", "connect", "fork"] as const;

export interface Baseline {
  createdAt: number;
  binaries: string[];
  fileAreas: string[];
  destinations: string[];
  tools: string[];
  modelHosts: string[];
  /** Highest count per RATE_WINDOW_MS window seen while learning, per event type. */
  peakRates: Record<string, number>;
}

export interface AgentProfile {
  agent: string;
  since: number;
  events: Record<string, number>;
  syscalls: Record<string, number>;
  binaries: Record<string, number>;
  fileAreas: Record<string, number>;
  writeAreas: Record<string, number>;
  domains: Record<string, number>;
  unnamedAddresses: Record<string, number>;
  destinations: Record<string, number>;
  tools: Record<string, number>;
  modelHosts: Record<string, number>;
  tree: { processes: number; maxDepth: number };
  rates: { windowSeconds: number; current: Record<string, number>; peak: Record<string, number> };
  state: "learning" | "baselined" | "profiling";
  learnUntil: number | null;
  baseline: Baseline | null;
  deviations: number;
}

class Profile {
  readonly since = Date.now();
  readonly events = new Map<string, number>();
  readonly syscalls = new Map<string, number>();
  readonly binaries = new Map<string, number>();
  readonly fileAreas = new Map<string, number>();
  /** Areas the agent opened files for writing in (successfully). */
  readonly writeAreas = new Map<string, number>();
  /** Names its connects were learned from (DNS), and the addresses it reached with none. */
  readonly domains = new Map<string, number>();
  readonly unnamedAddresses = new Map<string, number>();
  readonly destinations = new Map<string, number>();
  readonly tools = new Map<string, number>();
  readonly modelHosts = new Map<string, number>();
  readonly pids = new Set<number>();
  readonly depth = new Map<number, number>();
  maxDepth = 0;
  windowStart = 0;
  readonly window = new Map<string, number>();
  readonly peak = new Map<string, number>();
  learnUntil: number | null = null;
  baseline: Baseline | null = null;
  deviations = 0;
  /** Deviations already reported, so each is reported once. */
  readonly reported = new Set<string>();
  readonly spikeReported = new Set<string>();
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  if (m.has(k) || m.size < MAX_KEYS) m.set(k, (m.get(k) ?? 0) + n);
}

/** A file's area: its directory, cut to three levels (/home/u/project/src/x.ts -> /home/u/project). */
export function fileArea(path: string): string {
  if (!path.startsWith("/")) return "(relative)";
  const parts = dirname(path).split("/").filter(Boolean).slice(0, 3);
  return `/${parts.join("/")}`;
}

export interface ProfileBookOptions {
  /** Globs of paths whose opening is always a deviation once a baseline exists (unless in the baseline). */
  sensitivePaths: readonly string[];
  onFinding: (f: Finding) => void;
}

export class ProfileBook implements EventSink {
  readonly name = "profiles";
  private readonly profiles = new Map<string, Profile>();
  private readonly sensitive: (path: string) => boolean;

  constructor(private readonly options: ProfileBookOptions) {
    this.sensitive = globMatcher(options.sensitivePaths);
  }

  private profile(agent: string): Profile {
    let p = this.profiles.get(agent);
    if (!p) this.profiles.set(agent, (p = new Profile()));
    return p;
  }

  write(e: VigilEvent): void {
    if (!e.agent) return;
    const p = this.profile(e.agent);
    bump(p.events, e.type);
    if (e.type === "syscall") return bump(p.syscalls, e.name);
    this.rate(p, e);
    p.pids.add(e.pid);
    switch (e.type) {
      case "exec":
        bump(p.binaries, e.filename);
        if (p.baseline && !p.baseline.binaries.includes(e.filename)) this.deviate(p, e, `new-binary`, e.filename, "medium", `executed ${e.filename}, not in the baseline`);
        break;
      case "fork": {
        const d = (p.depth.get(e.pid) ?? 0) + 1;
        if (p.depth.size < 65536) p.depth.set(e.childPid, d);
        p.maxDepth = Math.max(p.maxDepth, d);
        p.pids.add(e.childPid);
        break;
      }
      case "open": {
        const area = fileArea(e.absolutePath ?? e.path);
        bump(p.fileAreas, area);
        if (e.ret >= 0 && openAccess(e.flags).includes("write")) bump(p.writeAreas, area);
        if (!p.baseline) break;
        if (this.sensitive(e.path)) this.deviate(p, e, "sensitive-path", e.path, "high", `opened sensitive path ${e.path}`);
        else if (!p.baseline.fileAreas.includes(area)) this.deviate(p, e, "new-file-area", area, "low", `touched ${area}, not in the baseline`);
        break;
      }
      case "connect": {
        const dest = `${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port}`;
        bump(p.destinations, dest);
        // Only what got through: a refused connect is no part of what the agent needs.
        if (e.ret === 0 || e.ret === -EINPROGRESS) bump(e.domain ? p.domains : p.unnamedAddresses, e.domain ?? e.address);
        if (p.baseline && !p.baseline.destinations.includes(dest)) this.deviate(p, e, "new-destination", dest, "medium", `connected to ${dest}, not in the baseline`);
        break;
      }
      case "tool_call":
        if (e.phase !== "started") break;
        bump(p.tools, e.name);
        if (p.baseline && !p.baseline.tools.includes(e.name)) this.deviate(p, e, "new-tool", e.name, "medium", `called tool ${e.name}, not in the baseline`);
        break;
      case "llm_call":
        bump(p.modelHosts, e.host);
        if (p.baseline && !p.baseline.modelHosts.includes(e.host)) this.deviate(p, e, "new-model-host", e.host, "high", `called a model at ${e.host}, not in the baseline`);
        break;
    }
    if (p.learnUntil !== null && Date.now() >= p.learnUntil) this.snapshot(p);
  }

  private rate(p: Profile, e: Exclude<VigilEvent, { type: "syscall" }>): void {
    const now = e.ts;
    if (now - p.windowStart >= RATE_WINDOW_MS) {
      p.windowStart = now - (now % RATE_WINDOW_MS);
      p.window.clear();
      p.spikeReported.clear();
    }
    if (!(RATE_TYPES as readonly string[]).includes(e.type)) return;
    const n = (p.window.get(e.type) ?? 0) + 1;
    p.window.set(e.type, n);
    if (n > (p.peak.get(e.type) ?? 0)) p.peak.set(e.type, n);
    const base = p.baseline?.peakRates[e.type];
    if (base !== undefined && n > Math.max(3 * base, base + 20) && !p.spikeReported.has(e.type)) {
      p.spikeReported.add(e.type);
      this.deviate(p, e, "rate-spike", `${e.type}@${p.windowStart}`, "medium", `${n} ${e.type} events in ${RATE_WINDOW_MS / 1000}s, baseline peak ${base}`);
    }
  }

  private deviate(p: Profile, e: Exclude<VigilEvent, { type: "syscall" }>, what: string, key: string, severity: Severity, outcome: string): void {
    const k = `${what}|${key}`;
    if (p.reported.has(k)) return;
    if (p.reported.size < MAX_KEYS) p.reported.add(k);
    p.deviations++;
    this.options.onFinding({
      id: findingId(),
      ts: e.ts,
      kind: "deviation",
      rule: `deviation/${what}`,
      action: "alert",
      severity,
      agent: e.agent ?? null,
      pid: e.pid,
      comm: e.comm,
      event: e,
      enforcement: "none",
      outcome,
      span: e.span,
    });
  }

  private snapshot(p: Profile): Baseline {
    p.baseline = {
      createdAt: Date.now(),
      binaries: [...p.binaries.keys()],
      fileAreas: [...p.fileAreas.keys()],
      destinations: [...p.destinations.keys()],
      tools: [...p.tools.keys()],
      modelHosts: [...p.modelHosts.keys()],
      peakRates: Object.fromEntries(p.peak),
    };
    p.learnUntil = null;
    p.reported.clear();
    return p.baseline;
  }

  /**
   * Start learning: with learnSeconds 0 the baseline is what the profile
   * holds now; otherwise the profile keeps learning until the window ends.
   */
  baseline(agent: string, learnSeconds = 0): AgentProfile {
    const p = this.profile(agent);
    if (learnSeconds <= 0) this.snapshot(p);
    else {
      p.baseline = null;
      p.learnUntil = Date.now() + learnSeconds * 1000;
    }
    return this.get(agent)!;
  }

  /** Syscall counts read from the kernel (aggregate mode), added to an agent's mix. */
  addSyscalls(agent: string, name: string, count: number): void {
    bump(this.profile(agent).syscalls, name, count);
  }

  getOrCreate(agent: string): AgentProfile {
    this.profile(agent);
    return this.get(agent)!;
  }

  has(agent: string): boolean {
    return this.profiles.has(agent);
  }

  get(agent: string): AgentProfile | undefined {
    const p = this.profiles.get(agent);
    if (!p) return undefined;
    if (p.learnUntil !== null && Date.now() >= p.learnUntil) this.snapshot(p);
    return {
      agent,
      since: p.since,
      events: Object.fromEntries(p.events),
      syscalls: Object.fromEntries([...p.syscalls].sort((a, b) => b[1] - a[1])),
      binaries: Object.fromEntries(p.binaries),
      fileAreas: Object.fromEntries(p.fileAreas),
      writeAreas: Object.fromEntries(p.writeAreas),
      domains: Object.fromEntries(p.domains),
      unnamedAddresses: Object.fromEntries(p.unnamedAddresses),
      destinations: Object.fromEntries(p.destinations),
      tools: Object.fromEntries(p.tools),
      modelHosts: Object.fromEntries(p.modelHosts),
      tree: { processes: p.pids.size, maxDepth: p.maxDepth },
      rates: { windowSeconds: RATE_WINDOW_MS / 1000, current: Object.fromEntries(p.window), peak: Object.fromEntries(p.peak) },
      state: p.learnUntil !== null ? "learning" : p.baseline ? "baselined" : "profiling",
      learnUntil: p.learnUntil,
      baseline: p.baseline,
      deviations: p.deviations,
    };
  }

  forget(agent: string): void {
    this.profiles.delete(agent);
  }
}
