/**
 * The service's policy directory: loaded at start, watched afterwards. A
 * changed file is compiled first; only a set that compiles completely is put
 * in force (atomically, see KernelEnforcer), otherwise the previous set
 * stays and the rejection is reported with every problem located.
 */
import { existsSync, watch, type FSWatcher } from "node:fs";
import type { Capabilities } from "../sensor/capabilities";
import type { CaptureKind } from "../sensor/capture";
import { compilePolicies, sourcesDigest, type PolicySet } from "./compile";
import { PolicyError, readPolicyDirectory, type PolicyProblem } from "./loader";

export interface ReloadResult {
  ok: boolean;
  changed: boolean;
  problems: PolicyProblem[];
  warnings: PolicyProblem[];
  at: number;
}

export interface PolicyDirectoryStatus {
  dir: string;
  digest: string;
  policies: PolicySet["policies"];
  loadedAt: number | null;
  reloads: number;
  rejected: number;
  lastRejection: ReloadResult | null;
}

export class PolicyDirectory {
  private watcher: FSWatcher | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private debounce: ReturnType<typeof setTimeout> | null = null;
  private digest = "";
  private policies: PolicySet["policies"] = [];
  private loadedAt: number | null = null;
  private reloads = 0;
  private rejected = 0;
  private lastRejection: ReloadResult | null = null;
  private rejectedDigest = "";

  constructor(
    readonly dir: string,
    private readonly caps: () => Capabilities,
    /** The optional event kinds the observer reports: rules on others are refused. */
    private readonly capture: readonly CaptureKind[],
    /** Puts a set in force; throws (old set kept) when the kernel cannot take it. */
    private readonly apply: (set: PolicySet) => void,
    private readonly onResult: (r: ReloadResult) => void,
    private readonly debounceMs = 200,
  ) {}

  /** Read, compile and (when it changed) apply the directory now. */
  load(): ReloadResult {
    const at = Date.now();
    let result: ReloadResult;
    try {
      if (!existsSync(this.dir)) throw new PolicyError([{ file: this.dir, path: "", message: "policy directory does not exist" }]);
      const sources = readPolicyDirectory(this.dir);
      const digest = sourcesDigest(sources);
      // Unchanged since the last load or the last rejection: nothing to do (the poll calls this often).
      if (digest === this.digest) return { ok: true, changed: false, problems: [], warnings: [], at };
      if (digest === this.rejectedDigest && this.lastRejection) return this.lastRejection;
      this.rejectedDigest = digest;
      const set = compilePolicies(sources, this.caps(), this.capture);
      this.apply(set);
      this.rejectedDigest = "";
      this.digest = set.digest;
      this.policies = set.policies;
      this.loadedAt = at;
      this.reloads++;
      result = { ok: true, changed: true, problems: [], warnings: set.warnings, at };
    } catch (e) {
      const problems = e instanceof PolicyError ? e.problems : [{ file: this.dir, path: "", message: (e as Error).message }];
      this.rejected++;
      result = { ok: false, changed: false, problems, warnings: [], at };
      this.lastRejection = result;
    }
    this.onResult(result);
    return result;
  }

  /** Reload on change (inotify), with a slow poll as a safety net for missed notifications. */
  watch(pollMs = 2000): void {
    const schedule = () => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.load(), this.debounceMs);
    };
    try {
      this.watcher = watch(this.dir, schedule);
    } catch {
      /* e.g. the directory does not exist yet: the poll picks it up */
    }
    this.poll = setInterval(() => this.load(), pollMs);
  }

  status(): PolicyDirectoryStatus {
    return { dir: this.dir, digest: this.digest, policies: this.policies, loadedAt: this.loadedAt, reloads: this.reloads, rejected: this.rejected, lastRejection: this.lastRejection };
  }

  close(): void {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
