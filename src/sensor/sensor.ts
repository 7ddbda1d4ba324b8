/**
 * The BPF object's one owner: opens build/vigil.bpf.o, sets its knobs and
 * sizes its maps for the options, loads it, scopes it, attaches the programs
 * (and the exit hook the capture needs), and hands out what the layers above
 * use: the maps the consumers read, the kernel enforcer's maps, the cgroup
 * scope, the kernel's drop counters and program stats. Detach and close end
 * it. The observer above only drains and decodes.
 */
import { resolve } from "node:path";
import { BpfLink, BpfObject, possibleCpus, type BpfMap } from "../kernel/bpf-object";
import { DROP_SLOTS, DropSlot, EVENT_TYPE_NAMES, FirehoseClock, LAYOUTS, SyscallMode } from "../abi/layout";
import type { KernelEnforcer } from "../enforce/kernel-enforcer";
import { attachExitHook, chooseExitHook, classifiedSyscalls, exitHookSyscalls, PROGRAMS, selectExitHook, syscallClassTable, type ExitHookForm } from "./programs";
import type { CaptureKind } from "./capture";
import { TLS_PROGRAMS, type TlsProbes } from "./tls-probes";
import { TLS_CHUNK, TLS_CHUNKS_MAX } from "../abi/layout";
import { CgroupScope } from "./cgroup-scope";
import type { PinDir } from "../kernel/bpffs";

export const DEFAULT_OBJECT_PATH = resolve(import.meta.dir, "../../build/vigil.bpf.o");

export type SyscallModeName = keyof typeof SyscallMode;
export type FirehoseClockName = keyof typeof FirehoseClock;

export interface SensorOptions {
  objectPath?: string;
  mode: SyscallModeName;
  firehoseClock?: FirehoseClockName;
  /** Aggregate mode: where a way's counts are carried to userspace (tests lower it). */
  tallyCarryAt?: number;
  ringBytes?: number;
  /** Each CPU's firehose ring is 2^this chunks of the `firehose` array. */
  firehoseChunkShift: number;
  capture: readonly CaptureKind[];
  /** Force an exit hook form (tests); default: the preferred one this machine allows. */
  exitHook?: ExitHookForm;
  /** Observe only these cgroups; none: the whole machine. */
  cgroupIds?: readonly number[];
  /** Bound to this object's enforcement maps once loaded (before attach), unbound at close. */
  enforcer?: KernelEnforcer;
  /** Bound to this object's TLS programs once loaded when `tls` is captured; unbound at close. */
  tls?: TlsProbes;
  /** Bytes of one TLS read or write copied at most (rounded up to whole chunks; default 256 KiB). */
  tlsCallBytes?: number;
  /**
   * Fail-closed (the service): the enforcement maps and the links of the enforcing programs are pinned
   * here, so that rules stay in force while no daemon runs; a later sensor with the same directory
   * adopts them (the maps as they are, the links switched to its programs).
   */
  pins?: PinDir;
}

/** The maps the enforcing programs read: pinned for fail-closed, reused by the next daemon. */
export const PINNED_MAPS = ["policy_gen", "exec_rules", "connect_rules", "connect_rule_count", "cidr_sets", "domain_sets", "dns_learned", "dns_queries", "agent_by_tgid", "agent_by_cgroup", "agent_kinds"] as const;
/** The pin of the exec hook's link: it kills at exec while no daemon runs. */
const EXEC_LINK_PIN = "link-exec";

/** The default cap on the plaintext of one TLS call. */
export const TLS_CALL_BYTES = 256 * 1024;

/** The kernel's own drop counters (the per-CPU `drops` array) and the programs' recursion misses. */
export interface KernelDrops {
  byType: Record<string, number>;
  perCpu: number[];
  firehoseFull: number;
  aggregateFull: number;
  agentFull: number;
  dnsFull: number;
  recursionMisses: number;
}

export class Sensor {
  private attachedPrograms = 0;
  private exitHookInUse: { form: ExitHookForm; reason?: string } | null = null;

  private constructor(
    private readonly obj: BpfObject,
    private readonly options: SensorOptions,
    /** The observed cgroups (empty when the whole machine is observed). */
    readonly scope: CgroupScope,
  ) {}

  /** Opens, sizes and loads the object, and scopes it. Throws a BpfError naming the failed step. */
  static load(options: SensorOptions, retried = false): Sensor {
    const obj = BpfObject.open(options.objectPath ?? DEFAULT_OBJECT_PATH);
    try {
      const firehose = options.mode === "firehose";
      obj.setConstant("observer_tgid", process.pid);
      obj.setConstant("filter_cgroups", options.cgroupIds ? 1 : 0);
      obj.setConstant("syscall_mode", SyscallMode[options.mode]);
      obj.setConstant("firehose_clock", FirehoseClock[options.firehoseClock ?? "tick"]);
      obj.setConstant("tally_carry_at", tallyCarryAt(options.tallyCarryAt));
      obj.setConstant("nr_cpus", possibleCpus());
      obj.map("events").setMaxEntries(ringSize(options.ringBytes ?? 16 * 1024 * 1024));
      // Unused maps shrink to one entry so they cost no memory.
      obj.setConstant("firehose_chunk_shift", options.firehoseChunkShift);
      obj.map("firehose_ctl").setMaxEntries(firehose ? possibleCpus() : 1);
      obj.map("firehose").setMaxEntries(firehose ? possibleCpus() << options.firehoseChunkShift : 1);
      if (options.mode !== "aggregate") obj.map("tally_cache").setMaxEntries(1);
      const exitHook = exitHookSyscalls(options.capture).length ? (options.exitHook ? { form: options.exitHook } : chooseExitHook(options.capture)) : null;
      selectExitHook(obj, exitHook?.form ?? "generic");
      obj.setConstantBytes("syscall_classes", syscallClassTable(classifiedSyscalls(options.capture)));
      const tls = options.capture.includes("tls");
      if (tls) obj.setConstant("tls_call_chunks", tlsCallChunks(options.tlsCallBytes));
      else for (const name of TLS_PROGRAMS) obj.program(name).setAutoload(false);
      if (options.pins) {
        try {
          options.pins.prepare();
        } catch (e) {
          throw new Error(`fail-closed enforcement (failClosed) pins in bpffs, and ${(e as Error).message}: mount bpffs at /sys/fs/bpf (on Kubernetes, the host's, as a hostPath volume) or set failClosed: false`);
        }
        for (const name of PINNED_MAPS) obj.map(name).setPinPath(options.pins.path(`map-${name}`));
      }
      obj.load();
      const sensor = new Sensor(obj, options, new CgroupScope(obj.map("observed_cgroups"), obj.map("observed_scope")));
      sensor.exitHookInUse = exitHook;
      for (const id of options.cgroupIds ?? []) sensor.scope.add(id);
      options.enforcer?.bind(obj, options.pins);
      if (tls) options.tls?.bind(obj);
      return sensor;
    } catch (err) {
      options.enforcer?.unbind();
      options.tls?.unbind();
      obj.close();
      // Pinned maps of an earlier Vigil that no longer fit (their definition changed): unpinned, and the load
      // tried once more with fresh maps. The old programs keep their old maps until their links are switched.
      const pins = options.pins;
      if (pins && !retried && PINNED_MAPS.some((n) => pins.list().includes(`map-${n}`))) {
        for (const n of PINNED_MAPS) pins.remove(`map-${n}`);
        return Sensor.load(options, true);
      }
      throw err;
    }
  }

  /** A map of the object, for the consumers that read it (events, firehose_ctl, firehose, tally_cache). */
  map(name: "events" | "firehose_ctl" | "firehose" | "tally_cache"): BpfMap {
    return this.obj.map(name);
  }

  /** Attaches the programs the options need, then the exit hook the capture needs. */
  attach(): void {
    for (const name of PROGRAMS) {
      // Without counts or records, syscall entry has work only for a credential change.
      if (name === "vigil_sys_enter" && this.options.mode === "off" && !this.options.capture.includes("cred")) continue;
      const link = this.obj.program(name).attach();
      this.attachedPrograms++;
      if (name === "vigil_exec" && this.options.pins) this.pinExecLink(link, this.options.pins);
    }
    if (this.exitHookInUse) {
      attachExitHook(this.obj, this.exitHookInUse.form, this.options.capture);
      this.attachedPrograms++;
    }
  }

  /**
   * The exec hook kills at exec: its link is pinned so it goes on while no daemon runs. A tracing link
   * cannot switch programs, so the new one is attached first and the old one let go after: an exec in
   * between meets both (a second SIGKILL changes nothing), never neither.
   */
  private pinExecLink(link: BpfLink, pins: PinDir): void {
    const old = BpfLink.openPinned(pins.path(EXEC_LINK_PIN), "vigil_exec (pinned)");
    if (old) {
      old.unpin();
      old.detach();
    }
    link.pin(pins.path(EXEC_LINK_PIN));
  }

  /** Stopping on purpose: every pin goes, the guards' links with the rest (all then end with this object). */
  releasePins(): void {
    this.options.pins?.removeAll();
  }

  get attached(): number {
    return this.attachedPrograms;
  }

  /** The exit hook form in use (null: none needed), and why not the preferred one. */
  get exitHook(): { form: ExitHookForm; reason?: string } | null {
    return this.exitHookInUse;
  }

  kernelDrops(): KernelDrops {
    const out: KernelDrops = { byType: {}, perCpu: [], firehoseFull: 0, aggregateFull: 0, agentFull: 0, dnsFull: 0, recursionMisses: 0 };
    const drops = this.obj.map("drops");
    const key = new Uint8Array(4);
    for (let slot = 1; slot < DROP_SLOTS; slot++) {
      new DataView(key.buffer).setUint32(0, slot, true);
      const v = drops.lookupPerCpuU64(key);
      if (!v) continue;
      const total = Number(v.total);
      // Every event type's slot, the tally's included (its records can find the ring full too).
      if (slot < DropSlot.firehoseFull) {
        out.byType[EVENT_TYPE_NAMES[slot]!] = total;
        v.perCpu.forEach((c, cpu) => (out.perCpu[cpu] = (out.perCpu[cpu] ?? 0) + Number(c)));
      } else if (slot === DropSlot.firehoseFull) out.firehoseFull = total;
      else if (slot === DropSlot.aggregateFull) out.aggregateFull = total;
      else if (slot === DropSlot.agentFull) out.agentFull = total;
      else if (slot === DropSlot.dnsFull) out.dnsFull = total;
    }
    for (const name of this.obj.programNames()) {
      const prog = this.obj.program(name);
      if (prog.autoload) out.recursionMisses += prog.recursionMisses();
    }
    return out;
  }

  /** Runs and run time of each loaded program (run time counts only while enableRunTimeStats is on). */
  programRunStats(): Record<string, { runs: number; runTimeNs: number }> {
    const out: Record<string, { runs: number; runTimeNs: number }> = {};
    for (const name of this.obj.programNames()) {
      const prog = this.obj.program(name);
      if (prog.autoload) out[name] = prog.runStats();
    }
    return out;
  }

  /** Detaches every program (nothing is written after this returns). */
  detach(): Error[] {
    return this.obj.detach();
  }

  /** Unmaps the scope and closes the object. */
  close(): Error[] {
    this.options.enforcer?.unbind();
    this.options.tls?.unbind();
    this.scope.close();
    this.attachedPrograms = 0;
    return this.obj.close();
  }
}

/** The kernel wants a power-of-two multiple of the page size. */
export function ringSize(bytes: number): number {
  let n = 4096;
  while (n < bytes) n *= 2;
  return n;
}

/** Where a tally count would wrap: 2^(bits of a count), from the tally's layout (16-bit counts: 65536). */
const TALLY_WRAP = 2 ** (8 * LAYOUTS.vigil_syscall_tally.fields.other[1]);

const FIREHOSE_CHUNK_BYTES = LAYOUTS.vigil_firehose_chunk.size;
export const FIREHOSE_RING_DEFAULT = 8 << 20;
export const FIREHOSE_RING_MAX = 256 << 20;

/** log2 of the chunks in each CPU's firehose ring of at least `bytes` (power of two, one chunk at least). */
export function firehoseChunkShift(bytes = FIREHOSE_RING_DEFAULT): number {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > FIREHOSE_RING_MAX) throw new RangeError(`firehoseRingBytes must be an integer from 1 to ${FIREHOSE_RING_MAX} (256 MiB), got ${bytes}`);
  let shift = 0;
  while (FIREHOSE_CHUNK_BYTES * 2 ** shift < bytes) shift++;
  return shift;
}

/** The tally's carry point as the kernel knob takes it (0: where a count would wrap); anything else is a caller's error. */
function tallyCarryAt(at: number | undefined): number {
  if (at === undefined) return 0;
  if (!Number.isInteger(at) || at < 1 || at > TALLY_WRAP) throw new RangeError(`tallyCarryAt must be an integer from 1 to ${TALLY_WRAP}, got ${at}`);
  return at;
}

/** Whole chunks of one TLS call copied at most: `bytes` rounded up, from one chunk to TLS_CHUNKS_MAX. */
export function tlsCallChunks(bytes = TLS_CALL_BYTES): number {
  if (!(Number.isInteger(bytes) && bytes >= 1 && bytes <= TLS_CHUNK * TLS_CHUNKS_MAX)) throw new RangeError(`tlsCallBytes must be from 1 to ${TLS_CHUNK * TLS_CHUNKS_MAX}, got ${bytes}`);
  return Math.ceil(bytes / TLS_CHUNK);
}
