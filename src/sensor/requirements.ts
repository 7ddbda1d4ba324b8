/**
 * What eBPF observation needs on this machine, checked up front so that a
 * user is told plainly which requirement is missing instead of an errno.
 */
import { kernelRelease } from "../kernel/release";
import { existsSync, readFileSync } from "node:fs";

export interface Requirement {
  name: string;
  ok: boolean;
  detail: string;
  /** True when the fix is to run with more privileges (sudo / capabilities). */
  privilege?: boolean;
}

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;
/**
 * The oldest kernel the programs load on, and what it brought that they use last:
 * the kfunc bpf_rdonly_cast (6.2; before it, bpf_task_pt_regs 5.15, the BPF ring buffer 5.8).
 */
export const MIN_KERNEL: readonly [number, number] = [6, 2];
const MIN_KERNEL_FOR = "the kfunc bpf_rdonly_cast";

function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

function hasCap(caps: bigint, cap: bigint): boolean {
  return (caps & (1n << cap)) !== 0n;
}


export function checkRequirements(objectPath: string): Requirement[] {
  const caps = effectiveCaps();
  const privileged = hasCap(caps, CAP_SYS_ADMIN) || (hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON));
  const release = kernelRelease();
  const [maj = 0, min = 0] = release.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  const kernelOk = maj > MIN_KERNEL[0] || (maj === MIN_KERNEL[0] && min >= MIN_KERNEL[1]);
  return [
    {
      name: "privileges",
      ok: privileged,
      privilege: true,
      detail: privileged ? "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) held" : "needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_ADMIN for cgroups)",
    },
    {
      name: "kernel",
      ok: kernelOk,
      detail: kernelOk ? `Linux ${release}` : `Linux ${release} is older than ${MIN_KERNEL.join(".")} (${MIN_KERNEL_FOR})`,
    },
    {
      name: "btf",
      ok: existsSync("/sys/kernel/btf/vmlinux"),
      detail: existsSync("/sys/kernel/btf/vmlinux") ? "/sys/kernel/btf/vmlinux" : "/sys/kernel/btf/vmlinux missing: kernel built without CONFIG_DEBUG_INFO_BTF",
    },
    {
      name: "bpf-object",
      ok: existsSync(objectPath),
      detail: existsSync(objectPath) ? objectPath : `${objectPath} not built: run \`npm run build\``,
    },
  ];
}

export function missing(reqs: Requirement[]): Requirement[] {
  return reqs.filter((r) => !r.ok);
}
