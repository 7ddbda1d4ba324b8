/**
 * What this machine lets Vigil enforce, asked of the kernel itself (a probe
 * program load, cgroup files), so that policies asking for more are refused
 * at load time with the kernel's own reason.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BpfObject } from "../kernel/bpf-object";
import { withLibbpfQuiet } from "../kernel/libbpf";
import { cgroup2Mount } from "../cgroup/cgroup";
import { kernelRelease } from "../kernel/release";
import { landlockAbi } from "../kernel/landlock";

export interface Capability {
  ok: boolean;
  /** Why not (or how), in words a policy author can act on. */
  detail: string;
}

export interface Capabilities {
  /** BPF LSM programs load: needed for `deny` on exec and open. */
  bpfLsm: Capability;
  /** cgroup/connect4/6 programs: `deny` on connect. */
  connectGuard: Capability;
  /** cgroup.freeze and cgroup.kill in cgroup v2. */
  cgroupFreeze: Capability;
  cgroupKill: Capability;
  /** Landlock rulesets (abi: its version, 0 when absent): `deny` on open as a workspace allowlist, for commands Vigil starts. */
  landlock: Capability & { abi: number };
}

const PROBE_LSM = resolve(import.meta.dir, "../../build/probe-lsm.bpf.o");

function lockdown(): string {
  try {
    return /\[(\w+)\]/.exec(readFileSync("/sys/kernel/security/lockdown", "utf8"))?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

function probeLsm(): Capability {
  let lsms = "";
  try {
    lsms = readFileSync("/sys/kernel/security/lsm", "utf8").trim();
  } catch {
    /* securityfs not mounted */
  }
  if (lsms && !lsms.split(",").includes("bpf")) return { ok: false, detail: `the BPF LSM is not active (active LSMs: ${lsms})` };
  if (!existsSync(PROBE_LSM)) return { ok: false, detail: `probe object ${PROBE_LSM} is missing (run the build)` };
  let obj: BpfObject | null = null;
  try {
    obj = BpfObject.open(PROBE_LSM);
    withLibbpfQuiet(() => obj!.load());
    return { ok: true, detail: "BPF LSM programs load" };
  } catch (e) {
    const reason = (e as Error).message.split("\n")[0]!;
    return { ok: false, detail: `this kernel refuses BPF LSM programs (${reason}; lockdown: ${lockdown()})` };
  } finally {
    obj?.close();
  }
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = kernelRelease().split(".").map((x) => parseInt(x, 10));
  return a > major || (a === major && b >= minor);
}

let cached: Capabilities | null = null;

export function probeCapabilities(): Capabilities {
  if (cached) return cached;
  const mount = cgroup2Mount();
  const noCgroup: Capability = { ok: false, detail: "no cgroup v2 hierarchy is mounted" };
  const ll = landlockAbi();
  cached = {
    landlock: "abi" in ll ? { ok: true, detail: `Landlock ABI ${ll.abi}`, abi: ll.abi } : { ok: false, detail: ll.error, abi: 0 },
    bpfLsm: probeLsm(),
    connectGuard: mount ? { ok: true, detail: "cgroup/connect4 and connect6 programs on Vigil's cgroups" } : noCgroup,
    cgroupFreeze: !mount ? noCgroup : kernelAtLeast(5, 2) ? { ok: true, detail: "cgroup.freeze" } : { ok: false, detail: "cgroup.freeze needs Linux 5.2" },
    cgroupKill: !mount ? noCgroup : kernelAtLeast(5, 14) ? { ok: true, detail: "cgroup.kill" } : { ok: false, detail: "cgroup.kill needs Linux 5.14 (Vigil falls back to signalling every pid)" },
  };
  return cached;
}
