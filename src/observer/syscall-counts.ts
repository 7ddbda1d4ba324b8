/**
 * Keeps the in-kernel per-process syscall counts (aggregate mode) from
 * filling up: harvests the map in batches into userspace totals and deletes
 * the entries of processes that have exited. A dead process makes no more
 * syscalls, so deleting its entries cannot race an increment; live entries
 * stay in the kernel and are read again at the next harvest.
 */
import { existsSync } from "node:fs";
import type { BpfMap } from "../kernel/bpf-object";
import { possibleCpus } from "../kernel/bpf-object";

const KEY_SIZE = 8;

export class SyscallCountHarvester {
  /** Final counts of exited processes: pid -> nr -> count. */
  private readonly finished = new Map<number, Map<number, number>>();
  private readonly exited = new Set<number>();
  private readonly cpus = possibleCpus();
  harvests = 0;
  deleted = 0;

  constructor(
    private readonly map: BpfMap,
    /** How many finished processes to remember (oldest forgotten first). */
    private readonly maxFinished = 4096,
  ) {}

  /** Note that a process exited; its entries are moved out at the next harvest. */
  processExited(pid: number): void {
    this.exited.add(pid);
  }

  /**
   * Read everything; move exited processes' counts to userspace. Returns the live counts.
   * A process whose exit event was lost (ring full) is recognised by its absence from /proc,
   * so its entries cannot fill the map for good.
   */
  harvest(): Map<number, Map<number, number>> {
    this.harvests++;
    const gone = new Map<number, boolean>();
    const isDone = (pid: number): boolean => {
      if (this.exited.has(pid)) return true;
      let g = gone.get(pid);
      if (g === undefined) gone.set(pid, (g = !existsSync(`/proc/${pid}`)));
      return g;
    };
    const live = new Map<number, Map<number, number>>();
    const toDelete: Uint8Array[] = [];
    const stride = 8; // u64 values, one slot per possible CPU
    this.map.forEachBatch((keys, values, n) => {
      const kv = new DataView(keys.buffer);
      const vv = new DataView(values.buffer);
      for (let i = 0; i < n; i++) {
        const pid = kv.getUint32(i * KEY_SIZE, true);
        const nr = kv.getUint32(i * KEY_SIZE + 4, true);
        let total = 0;
        const base = i * stride * this.cpus;
        for (let c = 0; c < this.cpus; c++) total += Number(vv.getBigUint64(base + c * stride, true));
        const done = isDone(pid);
        const into = done ? this.finished : live;
        let per = into.get(pid);
        if (!per) into.set(pid, (per = new Map()));
        per.set(nr, (per.get(nr) ?? 0) + total);
        if (done) toDelete.push(keys.slice(i * KEY_SIZE, (i + 1) * KEY_SIZE));
      }
    });
    if (toDelete.length) {
      const all = new Uint8Array(toDelete.length * KEY_SIZE);
      toDelete.forEach((k, i) => all.set(k, i * KEY_SIZE));
      this.deleted += this.map.deleteBatch(all);
    }
    this.exited.clear();
    while (this.finished.size > this.maxFinished) this.finished.delete(this.finished.keys().next().value as number);
    return live;
  }

  /** All counts known now: live ones read from the kernel plus those of exited processes. */
  counts(): Map<number, Map<number, number>> {
    const live = this.harvest();
    const out = new Map<number, Map<number, number>>();
    for (const src of [this.finished, live])
      for (const [pid, per] of src) {
        let o = out.get(pid);
        if (!o) out.set(pid, (o = new Map()));
        for (const [nr, c] of per) o.set(nr, (o.get(nr) ?? 0) + c);
      }
    return out;
  }
}
