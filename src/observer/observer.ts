/**
 * The eBPF observer: has the sensor (src/sensor) load, scope and attach
 * build/vigil.bpf.o, then drains both rings on a timer and hands decoded
 * events upward. Every place an event can be lost has a counter in stats().
 */
import { possibleCpus, type BpfMap } from "../kernel/bpf-object";
import { bootToWallOffsetNs } from "../kernel/libc";
import { DecodeError, EventDecoder, tallyPid } from "../events/decoder";
import { FIREHOSE_CHUNK_SLOTS, EventType, LAYOUTS, type EventTypeName } from "../abi/layout";
import type { ProcessEvent, TlsChunk } from "../events/types";
import { RingBufferConsumer } from "../ring/ring-buffer-consumer";
import { FirehoseConsumer, type SyscallSink } from "../ring/firehose-consumer";
import type { ExitHookForm } from "../sensor/programs";
import { CAPTURE_KINDS, captureKinds, type CaptureKind } from "../sensor/capture";
import { SyscallTally, type SyscallCounts } from "./syscall-tally";
import { firehoseChunkShift, Sensor, type FirehoseClockName, type SensorOptions, type SyscallModeName } from "../sensor/sensor";

export type { FirehoseClockName, SyscallModeName };

const TYPE_OFFSET = LAYOUTS.vigil_header.fields.type[0];
/*
 * Drain cadence. Every wakeup of the observer costs CPU whether or not it
 * finds records (docs/benchmarks.md, "what a wakeup costs"), while a 16 MiB
 * ring holds seconds of an agent's events: so the default waits 20 ms and
 * only a filling ring (or a small one) is drained sooner. Firehose rings are
 * per-CPU and small, and a syscall storm fills them in milliseconds.
 */
const DRAIN_WAIT_MS = 20;
const FIREHOSE_DRAIN_WAIT_MS = 1;
const DRAIN_WAIT_MIN_MS = 1;
/** A ring found fuller than this at a drain halves the wait; one found emptier than DRAIN_RELAX doubles it back. */
const DRAIN_HURRY = 1 / 8;
const DRAIN_RELAX = 1 / 64;
/** The wait after a drain that found the fullest ring at `found` (0-1): halved while the rings fill, doubled back to `maxMs` once they run empty. */
export function nextDrainWait(waitMs: number, found: number, maxMs: number): number {
  if (found > DRAIN_HURRY) return Math.max(DRAIN_WAIT_MIN_MS, waitMs / 2);
  if (found < DRAIN_RELAX) return Math.min(maxMs, waitMs * 2);
  return waitMs;
}

/* How often event times are re-anchored to the wall clock: at 5 ms a second of slew, 0.5 ms of error at most. */
const RECALIBRATE_MS = 100;
const TALLY_HEAD = LAYOUTS.vigil_tally_event.fields.tally[0];


export interface ObserverOptions {
  objectPath?: string;
  syscalls?: SyscallModeName;
  /** Ring buffer data size in bytes (rounded up to a power of two, at least one page). */
  ringBytes?: number;
  /** Observe only these cgroup v2 ids; omit to observe the whole machine. */
  cgroupIds?: readonly number[];
  /** How many exited processes' syscall counts are kept (aggregate mode; oldest let go first). */
  exitedCountsKept?: number;
  /**
   * Where a thread's count of one syscall is sent on its own and restarts
   * from zero (aggregate mode), 1 to 65536. Default: when the 16-bit count
   * would wrap (65536). Tests set it low to exercise the path.
   */
  tallyCarryAt?: number;
  /**
   * The optional event kinds to report (default all: opens, connects and
   * credential changes); process events always are. With neither opens nor
   * connects no syscall exit is hooked, and with none of the three an `off`
   * observer hooks no syscall at all (see capture.ts for what each costs).
   */
  capture?: readonly CaptureKind[];
  /** Force a form of the syscall exit hook (default: per-syscall where tracefs has the events). */
  exitHook?: ExitHookForm;
  /**
   * How firehose records are stamped: "tick" (default) reads the clock once
   * per scheduler tick and every 32 records on each CPU, so a record's time
   * is at most one tick after its stamp; "exact" reads it for every record,
   * which costs about as much as the rest of the record (docs/benchmarks.md).
   */
  firehoseClock?: FirehoseClockName;
  /**
   * Bytes of firehose records each CPU's ring holds (16 bytes a record),
   * rounded up to a power of two from 2 MiB to 256 MiB. Default 8 MiB
   * (524288 records, as Falco's default per-CPU buffer): a drain that comes
   * late by less than the time a syscall storm takes to fill it loses nothing
   * (docs/benchmarks.md has that time).
   */
  firehoseRingBytes?: number;
  /**
   * The longest wait between drains, in ms (default 20; firehose mode 1).
   * While a drain finds a ring more than an eighth full the wait halves, down
   * to 1 ms, and it grows back once the rings run near empty.
   */
  drainIntervalMs?: number;
  onEvent: (event: ProcessEvent) => void;
  /** Receives TLS plaintext chunks (uprobes attached by TlsProbes). */
  onTls?: (chunk: TlsChunk) => void;
  /** Receives firehose records (syscall mode `firehose`). */
  syscallSink?: SyscallSink;
  /** Called when a handler throws: the observer counts it and keeps going. */
  onError?: (error: Error) => void;
  /** Bound to the loaded object's enforcement maps (see KernelEnforcer). */
  enforcer?: SensorOptions["enforcer"];
  /** Fail-closed: where the enforcement maps and links are pinned (see SensorOptions.pins). */
  pins?: SensorOptions["pins"];
  /** Bound to the loaded object's TLS programs when `tls` is captured (see TlsProbes). */
  tls?: SensorOptions["tls"];
  tlsCallBytes?: number;
}

export interface DropCounts {
  /** bpf_ringbuf_reserve failed in the kernel (ring full), by event type. */
  kernelRingFull: Record<string, number>;
  /** The same failures, all types together. */
  kernelRingFullTotal: number;
  /** The same failures, by CPU. */
  kernelRingFullPerCpu: number[];
  /** Firehose per-CPU ring full. */
  firehoseFull: number;
  /** In-kernel syscall count map full: counts for new (pid, syscall) pairs lost. */
  aggregateFull: number;
  /** In-kernel agent identity map full: a new process could not inherit its agent. */
  agentFull: number;
  /** Learned-name map full: an address a DNS answer gave an agent was not learned (a connect to it is judged unnamed). */
  dnsFull: number;
  /** Program runs the kernel skipped because one was already running on that CPU. */
  recursionMisses: number;
  /** Records userspace could not decode. */
  decodeErrors: number;
  /** Events whose handler threw. */
  handlerErrors: number;
}

/**
 * Every stage where the observer can lose an event, with the name the service's metrics and API use
 * (`vigil_events_dropped_total{stage}`) and the key of `vigil run --summary-json`: one table, so the two
 * cannot differ.
 */
export const OBSERVER_DROP_STAGES = [
  { stage: "kernel_ring_full", summaryKey: "kernelRingFull", count: (d: DropCounts) => d.kernelRingFullTotal },
  { stage: "kernel_firehose_full", summaryKey: "firehoseFull", count: (d: DropCounts) => d.firehoseFull },
  { stage: "kernel_aggregate_full", summaryKey: "aggregateFull", count: (d: DropCounts) => d.aggregateFull },
  { stage: "kernel_agent_full", summaryKey: "agentFull", count: (d: DropCounts) => d.agentFull },
  { stage: "kernel_dns_full", summaryKey: "dnsFull", count: (d: DropCounts) => d.dnsFull },
  { stage: "kernel_recursion_miss", summaryKey: "recursionMisses", count: (d: DropCounts) => d.recursionMisses },
  { stage: "decode_error", summaryKey: "decodeErrors", count: (d: DropCounts) => d.decodeErrors },
  { stage: "handler_error", summaryKey: "handlerErrors", count: (d: DropCounts) => d.handlerErrors },
] as const;

export interface ObserverStats {
  received: Record<string, number>;
  dropped: DropCounts;
  droppedTotal: number;
  ringFill: number;
  firehoseFill: number;
  /** Records each CPU's firehose ring holds (0 outside firehose mode). */
  firehoseSlots: number;
  attachedPrograms: number;
  /** The current wait between drains, in ms: drainIntervalMs, or less while the rings fill. */
  drainWaitMs: number;
  /** How syscall exits are hooked: per classified syscall (preferred) or generic; null when not hooked. */
  exitHook: ExitHookForm | null;
  /** The optional event kinds reported (process events always are). */
  capture: CaptureKind[];
  /** Why the preferred per-syscall exit hook is not used, when it is not. */
  exitHookReason?: string;
  /** Exited processes whose syscall counts were let go to keep the bound (aggregate mode). */
  syscallCountsForgotten: number;
}

export class Observer {
  /** The loaded BPF object and everything of it the observer reads; null until started. */
  private sensor: Sensor | null = null;
  private ring: RingBufferConsumer | null = null;
  private firehose: FirehoseConsumer | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The longest wait between drains, and the current one (ms). */
  private readonly drainWaitMaxMs: number;
  private drainWaitMs: number;
  private decoder: EventDecoder;
  private readonly received: Record<string, number> = {};
  private decodeErrors = 0;
  private handlerErrors = 0;
  /** The optional event kinds reported, in CAPTURE_KINDS order. */
  readonly capture: readonly CaptureKind[];
  private readonly mode: SyscallModeName;
  /** Each CPU's firehose ring is 2^this chunks of the `firehose` array. */
  private readonly firehoseChunkShift: number;
  private tally: SyscallTally | null = null;
  private readonly handleRecord = (view: DataView, bytes: Uint8Array, off: number, len: number): void => {
    let e: ProcessEvent;
    try {
      if (len >= TALLY_HEAD && view.getUint32(off + TYPE_OFFSET, true) === EventType.tally) {
        // A thread's syscall counts: aggregate data, not an event of its own.
        const body = off + TALLY_HEAD;
        const named = this.tally ? this.tally.received(view, body, len - TALLY_HEAD) : tallyPid(view, body, len - TALLY_HEAD) !== null;
        if (!named) throw new DecodeError("tally record of no thread");
        this.received.tally = (this.received.tally ?? 0) + 1;
        return;
      }
      if (view.getUint32(off + TYPE_OFFSET, true) === EventType.tls) {
        // TLS plaintext: for the intent layer only.
        const chunk = this.decoder.decodeTls(view, bytes, off, len);
        this.received.tls = (this.received.tls ?? 0) + 1;
        this.deliver(this.options.onTls, chunk);
        return;
      }
      e = this.decoder.decode(view, bytes, off, len);
    } catch (err) {
      if (err instanceof DecodeError) {
        this.decodeErrors++;
        return;
      }
      throw err;
    }
    this.received[e.type] = (this.received[e.type] ?? 0) + 1;
    if (e.type === "exit") this.tally?.processExited(e.pid);
    else if (e.type === "fork") this.tally?.processStarted(e.childPid);
    this.deliver(this.options.onEvent, e);
  };

  private deliver<T>(handler: ((x: T) => void) | undefined, x: T): void {
    try {
      handler?.(x);
    } catch (err) {
      this.handlerErrors++;
      this.options.onError?.(err as Error);
    }
  }
  private firehoseCount = 0;
  /** When the decoder's boot-to-wall offset was last measured (performance.now()). */
  private calibratedAt: number;
  private readonly countingSink: SyscallSink;

  constructor(private readonly options: ObserverOptions) {
    this.mode = options.syscalls ?? "aggregate";
    this.capture = captureKinds("capture", options.capture ?? CAPTURE_KINDS);
    const wait = options.drainIntervalMs ?? (this.mode === "firehose" ? FIREHOSE_DRAIN_WAIT_MS : DRAIN_WAIT_MS);
    if (!(wait >= DRAIN_WAIT_MIN_MS && wait <= 60_000)) throw new RangeError(`drainIntervalMs must be from ${DRAIN_WAIT_MIN_MS} to 60000 ms, got ${wait}`);
    this.drainWaitMaxMs = this.drainWaitMs = wait;
    this.firehoseChunkShift = this.mode === "firehose" ? firehoseChunkShift(options.firehoseRingBytes) : 0;
    this.decoder = new EventDecoder(Number(bootToWallOffsetNs()));
    this.calibratedAt = performance.now();
    const sink = options.syscallSink;
    this.countingSink = {
      onSyscall: (pid, tid, nr, ts, exact) => {
        this.firehoseCount++;
        sink?.onSyscall(pid, tid, nr, ts, exact);
      },
    };
  }

  get running(): boolean {
    return this.sensor !== null && this.timer !== null;
  }
  get eventDecoder(): EventDecoder {
    return this.decoder;
  }

  /** Load, scope, attach and start draining. Throws a BpfError naming the failed step. */
  start(): void {
    if (this.sensor) throw new Error("observer already started");
    const sensor = Sensor.load({
      objectPath: this.options.objectPath,
      mode: this.mode,
      firehoseClock: this.options.firehoseClock,
      tallyCarryAt: this.options.tallyCarryAt,
      ringBytes: this.options.ringBytes,
      firehoseChunkShift: this.firehoseChunkShift,
      capture: this.capture,
      exitHook: this.options.exitHook,
      cgroupIds: this.options.cgroupIds,
      enforcer: this.options.enforcer,
      tls: this.options.tls,
      tlsCallBytes: this.options.tlsCallBytes,
      pins: this.options.pins,
    });
    this.sensor = sensor;
    try {
      const events = sensor.map("events");
      this.ring = new RingBufferConsumer(events.fd(), events.maxEntries);
      if (this.mode === "firehose") this.firehose = new FirehoseConsumer(sensor.map("firehose_ctl").fd(), sensor.map("firehose").fd(), possibleCpus(), this.firehoseChunkShift);
      if (this.mode === "aggregate") this.tally = new SyscallTally(readTallyCache(sensor.map("tally_cache")), this.options.exitedCountsKept);
      sensor.attach();
    } catch (err) {
      this.stop();
      throw err;
    }
    this.startTimers();
  }

  private startTimers(): void {
    if (this.timer) return;
    this.drainWaitMs = this.drainWaitMaxMs;
    this.timer = setInterval(this.tick, this.drainWaitMs);
  }

  /** Observe one more cgroup (scoped observers only). */
  addCgroup(id: number): void {
    if (!this.sensor) throw new Error("observer not started");
    this.sensor.scope.add(id);
  }

  removeCgroup(id: number): void {
    this.sensor?.scope.remove(id);
  }

  /**
   * Drain both rings now; returns the number of records handled. Firehose
   * records newer than the previous drain wait for the next one (they are
   * merged across CPUs by stamp), unless `flush`.
   */
  drain(flush = false): number {
    const now = performance.now();
    if (now - this.calibratedAt >= RECALIBRATE_MS) {
      this.decoder.recalibrate(Number(bootToWallOffsetNs()));
      this.calibratedAt = now;
    }
    let n = 0;
    // The ring first: a process's exec and fork come through it, so the firehose records drained after
    // them find their process (and its agent) already in the tree.
    if (this.ring) n += this.ring.drain(this.handleRecord);
    if (this.firehose) n += this.firehose.drain(this.countingSink, flush);
    return n;
  }

  /**
   * Timer tick: drain, and keep draining while a backlog remains (a burst
   * must not wait for the next tick); then set the next wait from how full
   * the rings were found.
   */
  private readonly tick = (): void => {
    this.drainTick();
  };

  /** One round of the drain timer, run now (tests drive the cadence through it with the timer paused); returns the next wait. */
  drainTick(): number {
    const found = this.fullest();
    for (let rounds = 0; rounds < 8; rounds++) {
      this.drain();
      if (this.fullest() <= 0.25) break;
    }
    const wait = nextDrainWait(this.drainWaitMs, found, this.drainWaitMaxMs);
    // A fixed-rate interval, replaced only when the wait changes (a timeout set after each drain would add the
    // drain's own time to every period). A handler may have paused or stopped the observer meanwhile.
    if (wait !== this.drainWaitMs && this.timer) {
      clearInterval(this.timer);
      this.timer = setInterval(this.tick, wait);
    }
    this.drainWaitMs = wait;
    return wait;
  }

  /** The fill level of the fuller of the two rings, in [0, 1]. */
  private fullest(): number {
    return Math.max(this.firehose?.fillRatio() ?? 0, this.ring?.fillRatio() ?? 0);
  }

  /** Fill levels of the kernel ring and of the fullest firehose ring, in [0, 1]; cheap (no syscall). */
  fill(): { ring: number; firehose: number } {
    return { ring: this.ring?.fillRatio() ?? 0, firehose: this.firehose?.fillRatio() ?? 0 };
  }

  /** Per-process syscall counts (aggregate mode): pid -> nr -> count, for live and exited processes. */
  syscallCounts(): SyscallCounts {
    if (!this.tally) return new Map();
    this.drain(); // threads that exited so far have sent their counts
    return this.tally.counts();
  }

  stats(): ObserverStats {
    const k = this.sensor?.kernelDrops() ?? { byType: {}, perCpu: [], firehoseFull: 0, aggregateFull: 0, agentFull: 0, dnsFull: 0, recursionMisses: 0 };
    const { byType: kernelRingFull, perCpu, firehoseFull, aggregateFull, agentFull, dnsFull, recursionMisses } = k;
    const kernelRingFullTotal = Object.values(kernelRingFull).reduce((a, b) => a + b, 0);
    const dropped: DropCounts = {
      kernelRingFull,
      kernelRingFullTotal,
      kernelRingFullPerCpu: perCpu,
      firehoseFull,
      aggregateFull,
      agentFull,
      dnsFull,
      recursionMisses,
      decodeErrors: this.decodeErrors,
      handlerErrors: this.handlerErrors,
    };
    const droppedTotal = kernelRingFullTotal + firehoseFull + aggregateFull + agentFull + dnsFull + recursionMisses + this.decodeErrors + this.handlerErrors;
    const received: Record<string, number> = { ...this.received };
    if (this.mode === "firehose") received.syscall = this.firehoseCount;
    const fill = this.fill();
    return {
      received,
      dropped,
      droppedTotal,
      ringFill: fill.ring,
      firehoseFill: fill.firehose,
      firehoseSlots: this.mode === "firehose" ? FIREHOSE_CHUNK_SLOTS * 2 ** this.firehoseChunkShift : 0,
      attachedPrograms: this.sensor?.attached ?? 0,
      drainWaitMs: this.drainWaitMs,
      exitHook: this.sensor?.exitHook?.form ?? null,
      capture: [...this.capture],
      ...(this.sensor?.exitHook?.reason ? { exitHookReason: this.sensor.exitHook.reason } : {}),
      syscallCountsForgotten: this.tally?.forgotten ?? 0,
    };
  }

  /** Runs and run time of each loaded program (run time counts only while enableRunTimeStats is on). */
  programRunStats(): Record<string, { runs: number; runTimeNs: number }> {
    return this.sensor?.programRunStats() ?? {};
  }

  /** Stop draining (the rings keep filling in the kernel): used to test counted drops. */
  pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  resume(): void {
    if (this.sensor) this.startTimers();
  }

  /**
   * Detach every program, final drain (nothing written after it), unmap, close. Idempotent. Stopping is
   * on purpose, so pinned enforcement is released too (only a daemon that dies leaves its pins in force).
   */
  stop(): Error[] {
    this.pause();
    const sensor = this.sensor;
    const errors: Error[] = [];
    try {
      sensor?.releasePins();
    } catch (e) {
      errors.push(e as Error);
    }
    errors.push(...(sensor?.detach() ?? []));
    try {
      if (sensor) this.drain(true);
    } catch {
      /* the object may be half-initialised */
    }
    this.ring?.close();
    this.firehose?.close();
    this.ring = null;
    this.firehose = null;
    errors.push(...(sensor?.close() ?? []));
    this.sensor = null;
    this.tally = null;
    return errors;
  }
}

/** Reads every way of the per-CPU tally cache in one batch: each key's value for every possible CPU, back to back. */
function readTallyCache(map: BpfMap): () => Uint8Array {
  // The kernel pads each CPU's value to 8 bytes; a way is a whole number of them, so ways stay back to back.
  if (map.valueSize !== LAYOUTS.vigil_tally.size || map.valueSize % 8 !== 0) throw new Error(`tally_cache values are ${map.valueSize} bytes, expected ${LAYOUTS.vigil_tally.size}`);
  return () => {
    const parts: Uint8Array[] = [];
    map.forEachBatch((_keys, values, n) => parts.push(values.slice(0, n * map.valueBytes)), map.maxEntries);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };
}

export type { EventTypeName };
