/**
 * bpffs, where Vigil keeps what must outlive the daemon: the enforcement maps
 * and the links of the programs that enforce (fail-closed). Mounted at its
 * standard place when missing, as bpftool and Cilium do.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { lastErrno, libc, strerror } from "./libc";

export const BPFFS = "/sys/fs/bpf";
const BPF_FS_MAGIC = 0xcafe4a11;

/** Mounts bpffs at /sys/fs/bpf if nothing is mounted there yet; throws with the reason when it cannot. */
export function ensureBpffs(): void {
  if (statfsSync(BPFFS).type === BPF_FS_MAGIC) return;
  const rc = libc.mount(Buffer.from("bpf\0"), Buffer.from(`${BPFFS}\0`), Buffer.from("bpf\0"), 0, null);
  if (rc !== 0) throw new Error(`bpffs is not mounted at ${BPFFS} and mounting it failed: ${strerror(lastErrno())}`);
}

/** A directory of pins of one Vigil instance. */
export class PinDir {
  constructor(readonly dir: string) {}

  /** Creates the directory (and mounts bpffs) before anything is pinned. */
  prepare(): void {
    ensureBpffs();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /** What is pinned here now (names), empty when nothing or no directory. */
  list(): string[] {
    return existsSync(this.dir) ? readdirSync(this.dir).sort() : [];
  }

  /** Removes a pin (the object lives on while something else holds it). */
  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  /** Removes every pin and the directory: what was kept only by its pin ends. */
  removeAll(): void {
    for (const name of this.list()) this.remove(name);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
