/**
 * A small typed API over a BPF object file: open, set knobs and map sizes,
 * load (verifier log captured), attach, use maps, close. Shaped after
 * cilium/ebpf's Collection/Map/Program/Link. Callers never see a raw pointer
 * or errno: every failure is a BpfError naming the operation.
 */
import { existsSync } from "node:fs";
import { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { BpfError } from "./errors";
import { closeFd, lastErrno, openDirectory, withSignalsHeld } from "./libc";
import { libbpf } from "./libbpf";
import { str, toPtr } from "./ffi-values";
import { callInParallel, nativeFunction } from "./native-threads";

/* struct bpf_object_open_opts in libbpf 1.1 (x86-64 offsets). */
const OPEN_OPTS_SIZE = 80;
const OPTS_KERNEL_LOG_BUF = 56;
const OPTS_KERNEL_LOG_SIZE = 64;
const OPTS_KERNEL_LOG_LEVEL = 72;
const VERIFIER_LOG_SIZE = 4 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function cstr(s: string): Uint8Array {
  return encoder.encode(`${s}\0`);
}

/** libbpf returns -errno from int calls, NULL + errno from pointer calls. */
function check(op: string, rc: number, detail?: string): void {
  if (rc < 0) throw new BpfError(op, -rc, detail);
}

function checkPtr(op: string, raw: Pointer | bigint | null, detail?: string): Pointer {
  const p = toPtr(raw);
  if (!p) throw new BpfError(op, lastErrno(), detail);
  return p;
}

export const possibleCpus = (): number => {
  const n = libbpf.libbpf_num_possible_cpus();
  check("libbpf_num_possible_cpus", n);
  return n;
};

export enum MapType {
  Hash = 1,
  Array = 2,
  PerCpuHash = 5,
  PerCpuArray = 6,
  RingBuf = 27,
}

/** sizeof(struct bpf_uprobe_opts) in libbpf 1.1. */
const UPROBE_OPTS_SIZE = 40;

export class BpfMap {
  readonly name: string;
  /** Scratch for lookups; reused so that a lookup allocates only its returned copy. */
  private valueBuf: Uint8Array;

  constructor(
    private readonly handle: Pointer,
    private readonly owner: BpfObject,
  ) {
    this.name = str(libbpf.bpf_map__name(handle));
    this.valueBuf = new Uint8Array(0);
  }

  get type(): MapType {
    return libbpf.bpf_map__type(this.handle);
  }
  get keySize(): number {
    return libbpf.bpf_map__key_size(this.handle);
  }
  get valueSize(): number {
    return libbpf.bpf_map__value_size(this.handle);
  }
  get maxEntries(): number {
    return libbpf.bpf_map__max_entries(this.handle);
  }
  get isPerCpu(): boolean {
    return this.type === MapType.PerCpuArray || this.type === MapType.PerCpuHash;
  }
  /** Bytes of a value as the kernel returns it (per-CPU maps: one 8-aligned slot per possible CPU). */
  get valueBytes(): number {
    return this.isPerCpu ? Math.ceil(this.valueSize / 8) * 8 * possibleCpus() : this.valueSize;
  }

  /** Only before load. */
  setMaxEntries(n: number): void {
    this.owner.assertNotLoaded(`resize map ${this.name}`);
    check(`bpf_map__set_max_entries(${this.name}, ${n})`, libbpf.bpf_map__set_max_entries(this.handle, n));
  }

  /** File descriptor of a loaded map, for mmap by the ring readers. */
  fd(): number {
    this.owner.assertLoaded(`use map ${this.name}`);
    const fd = libbpf.bpf_map__fd(this.handle);
    check(`bpf_map__fd(${this.name})`, fd);
    return fd;
  }

  private scratch(): void {
    if (this.valueBuf.length !== this.valueBytes) this.valueBuf = new Uint8Array(this.valueBytes);
  }

  /** The value for key, or null when absent. The returned bytes are a fresh copy. */
  lookup(key: Uint8Array): Uint8Array | null {
    this.scratch();
    const rc = libbpf.bpf_map_lookup_elem(this.fd(), ptr(key), ptr(this.valueBuf));
    if (rc === -2) return null; // ENOENT
    check(`bpf_map_lookup_elem(${this.name})`, rc);
    return this.valueBuf.slice();
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    if (value.length !== this.valueBytes)
      throw new BpfError(`bpf_map_update_elem(${this.name})`, 22, `value is ${value.length} bytes, map wants ${this.valueBytes}`);
    check(`bpf_map_update_elem(${this.name})`, libbpf.bpf_map_update_elem(this.fd(), ptr(key), ptr(value), flags));
  }

  /** Delete key; returns false when it was not there. */
  delete(key: Uint8Array): boolean {
    const rc = libbpf.bpf_map_delete_elem(this.fd(), ptr(key));
    if (rc === -2) return false;
    check(`bpf_map_delete_elem(${this.name})`, rc);
    return true;
  }

  /**
   * Every entry in batches (one syscall per `batchSize` entries instead of two
   * per entry). Calls `visit(keys, values, n)` per batch; `values` holds n
   * values of valueBytes each (per-CPU maps: one 8-aligned slot per CPU).
   */
  forEachBatch(visit: (keys: Uint8Array, values: Uint8Array, n: number) => void, batchSize = 4096): void {
    const fd = this.fd();
    const keys = new Uint8Array(this.keySize * batchSize);
    const values = new Uint8Array(this.valueBytes * batchSize);
    const inTok = new Uint8Array(8);
    const outTok = new Uint8Array(8);
    const count = new Uint32Array(1);
    let first = true;
    for (;;) {
      count[0] = batchSize;
      const rc = libbpf.bpf_map_lookup_batch(fd, first ? null : ptr(inTok), ptr(outTok), ptr(keys), ptr(values), ptr(count), null);
      if (rc < 0 && rc !== -2) check(`bpf_map_lookup_batch(${this.name})`, rc);
      if (count[0]! > 0) visit(keys, values, count[0]!);
      if (rc === -2) break; // ENOENT: that was the last batch
      inTok.set(outTok);
      first = false;
    }
  }

  /**
   * Before load: keep this map at `path` in bpffs. A map already pinned there (by an earlier Vigil) is
   * reused at load, its contents and all, when it has the same definition; otherwise this one is pinned.
   */
  setPinPath(path: string): void {
    this.owner.assertNotLoaded(`pin ${this.name}`);
    check(`bpf_map__set_pin_path(${this.name})`, libbpf.bpf_map__set_pin_path(this.handle, ptr(cstr(path))));
  }

  /** Every key, one syscall each (for maps without batch operations, such as LPM tries). */
  keys(): Uint8Array[] {
    const fd = this.fd();
    const out: Uint8Array[] = [];
    let prev: Uint8Array | null = null;
    for (;;) {
      const next = new Uint8Array(this.keySize);
      const rc = libbpf.bpf_map_get_next_key(fd, prev ? ptr(prev) : null, ptr(next));
      if (rc === -2) return out; // ENOENT: no more
      check(`bpf_map_get_next_key(${this.name})`, rc);
      out.push(next);
      prev = next;
    }
  }

  /** Delete many keys (concatenated) in one call; returns how many were deleted. */
  deleteBatch(keys: Uint8Array): number {
    const n = keys.length / this.keySize;
    if (n === 0) return 0;
    const count = new Uint32Array([n]);
    const rc = libbpf.bpf_map_delete_batch(this.fd(), ptr(keys), ptr(count), null);
    if (rc < 0 && rc !== -2) check(`bpf_map_delete_batch(${this.name})`, rc);
    return count[0]!;
  }

  /** For per-CPU maps of u64 values: the value summed over CPUs, and each CPU's share. */
  lookupPerCpuU64(key: Uint8Array): { total: bigint; perCpu: bigint[] } | null {
    const raw = this.lookup(key);
    if (!raw) return null;
    const stride = Math.ceil(this.valueSize / 8) * 8;
    const view = new DataView(raw.buffer);
    const perCpu: bigint[] = [];
    let total = 0n;
    for (let off = 0; off < raw.length; off += stride) {
      const v = view.getBigUint64(off, true);
      perCpu.push(v);
      total += v;
    }
    return { total, perCpu };
  }
}

export class BpfProgram {
  readonly name: string;
  readonly section: string;
  constructor(
    private readonly handle: Pointer,
    private readonly owner: BpfObject,
  ) {
    this.name = str(libbpf.bpf_program__name(handle));
    this.section = str(libbpf.bpf_program__section_name(handle));
  }

  /** Before load: whether this program is loaded at all (unused programs cost nothing). */
  setAutoload(on: boolean): void {
    this.owner.assertNotLoaded(`set autoload of ${this.name}`);
    check(`bpf_program__set_autoload(${this.name})`, libbpf.bpf_program__set_autoload(this.handle, on));
  }

  /** Attach by its section name (tp_btf/, fexit/, raw_tp/, lsm/ ...). */
  attach(): BpfLink {
    this.owner.assertLoaded(`attach ${this.name}`);
    const link = checkPtr(`attach ${this.name} (${this.section})`, libbpf.bpf_program__attach(this.handle));
    const l = new BpfLink(link, this.name);
    this.owner.track(l);
    return l;
  }

  /**
   * Attach a `SEC("tracepoint")` program to the trace event category:name
   * (e.g. syscalls:sys_exit_openat); one program may be attached to many.
   * Needs tracefs (libbpf reads the event's id there).
   */
  attachTracepoint(category: string, event: string): BpfLink {
    this.owner.assertLoaded(`attach ${this.name} to ${category}:${event}`);
    const link = checkPtr(
      `attach ${this.name} to trace event ${category}:${event}`,
      libbpf.bpf_program__attach_tracepoint(this.handle, Buffer.from(`${category}\0`), Buffer.from(`${event}\0`)),
    );
    const l = new BpfLink(link, `${this.name}@${category}:${event}`);
    this.owner.track(l);
    return l;
  }

  /**
   * Attach a `SEC("uprobe")` / `SEC("uretprobe")` program at `offset` of the file `path` (the function's
   * place in the file), for every process that maps it, now or later.
   */
  attachUprobe(path: string, offset: number, retprobe: boolean, label: string): BpfLink {
    this.owner.assertLoaded(`attach ${this.name} to ${path}`);
    // struct bpf_uprobe_opts (libbpf 1.1): sz, ref_ctr_offset, bpf_cookie, retprobe, func_name.
    const opts = new Uint8Array(UPROBE_OPTS_SIZE);
    const o = new DataView(opts.buffer);
    o.setBigUint64(0, BigInt(UPROBE_OPTS_SIZE), true);
    o.setUint8(24, retprobe ? 1 : 0);
    const file = Buffer.from(`${path}\0`);
    const link = checkPtr(`attach ${this.name} to ${label} in ${path}`, libbpf.bpf_program__attach_uprobe_opts(this.handle, -1, ptr(file), BigInt(offset), ptr(opts)));
    const l = new BpfLink(link, `${this.name}@${path}:${label}`);
    this.owner.track(l);
    return l;
  }

  /**
   * Attach a cgroup program (cgroup/connect4 ...) to the cgroup v2 directory
   * `dir`; it then runs for every process in that cgroup and its descendants.
   */
  attachCgroup(dir: string): BpfLink {
    this.owner.assertLoaded(`attach ${this.name} to ${dir}`);
    const fd = openDirectory(dir);
    try {
      const link = checkPtr(`attach ${this.name} (${this.section}) to cgroup ${dir}`, libbpf.bpf_program__attach_cgroup(this.handle, fd));
      const l = new BpfLink(link, `${this.name}@${dir}`);
      this.owner.track(l);
      return l;
    } finally {
      closeFd(fd); // the link holds its own reference to the cgroup
    }
  }

  /** Makes the pinned `link` run this program instead of its own (cgroup links): no moment without one. */
  replaceIn(link: BpfLink): void {
    this.owner.assertLoaded(`update link to ${this.name}`);
    check(`bpf_link__update_program(${link.programName} -> ${this.name})`, link.update(this.handle));
    this.owner.track(link);
  }

  /** Whether this program is (to be) loaded: false after setAutoload(false). */
  get autoload(): boolean {
    return libbpf.bpf_program__autoload(this.handle);
  }

  /** Runs the kernel skipped because the program was already running on that CPU. */
  recursionMisses(): number {
    return Number(this.info().getBigUint64(PROG_INFO_RECURSION_MISSES, true));
  }

  /** Runs and the time spent in them; the time counts only while run-time stats are on (enableRunTimeStats). */
  runStats(): { runs: number; runTimeNs: number } {
    const info = this.info();
    return { runs: Number(info.getBigUint64(PROG_INFO_RUN_CNT, true)), runTimeNs: Number(info.getBigUint64(PROG_INFO_RUN_TIME_NS, true)) };
  }

  private info(): DataView {
    const info = new Uint8Array(BPF_PROG_INFO_SIZE);
    const len = new Uint32Array([BPF_PROG_INFO_SIZE]);
    const fd = libbpf.bpf_program__fd(this.handle);
    check(`bpf_program__fd(${this.name})`, fd);
    check(`bpf_obj_get_info_by_fd(${this.name})`, libbpf.bpf_obj_get_info_by_fd(fd, ptr(info), ptr(len)));
    return new DataView(info.buffer);
  }
}

/**
 * Turn on the kernel's per-program run-time accounting (BPF_ENABLE_STATS) until
 * the returned handle is closed; the kernel turns it off by itself when this
 * process exits. It adds two clock reads to every program run: for attributing
 * cost in benchmarks, not for timed runs.
 */
export function enableRunTimeStats(): { close(): void } {
  const BPF_STATS_RUN_TIME = 0;
  const fd = libbpf.bpf_enable_stats(BPF_STATS_RUN_TIME);
  check("bpf_enable_stats(BPF_STATS_RUN_TIME)", fd);
  return { close: () => closeFd(fd) };
}

/* struct bpf_prog_info: run_time_ns, run_cnt, recursion_misses at 192, 200, 208 (uapi since 5.8 and 5.12). */
const PROG_INFO_RUN_TIME_NS = 192;
const PROG_INFO_RUN_CNT = 200;
const BPF_PROG_INFO_SIZE = 232;
const PROG_INFO_RECURSION_MISSES = 208;

export class BpfLink {
  protected handle: Pointer | null;
  constructor(
    handle: Pointer,
    readonly programName: string,
  ) {
    this.handle = handle;
  }
  get attached(): boolean {
    return this.handle !== null;
  }

  /** A link pinned at `path` in bpffs (null: none there). */
  static openPinned(path: string, label: string): BpfLink | null {
    if (!existsSync(path)) return null;
    const h = toPtr(libbpf.bpf_link__open(ptr(cstr(path))));
    return h ? new BpfLink(h, label) : null;
  }

  /** Keeps the link (and its program) in the kernel at `path` in bpffs, beyond this process. */
  pin(path: string): void {
    if (!this.handle) throw new BpfError(`pin ${this.programName}`, 9, "link is detached");
    check(`bpf_link__pin(${this.programName}, ${path})`, libbpf.bpf_link__pin(this.handle, ptr(cstr(path))));
  }

  /** Removes the link's pin: it then ends with its last holder. */
  unpin(): void {
    if (this.handle) check(`bpf_link__unpin(${this.programName})`, libbpf.bpf_link__unpin(this.handle));
  }

  /** @internal BPF_LINK_UPDATE to `prog` (a program handle). */
  update(prog: Pointer): number {
    if (!this.handle) return -9;
    return libbpf.bpf_link__update_program(this.handle, prog);
  }
  detach(): void {
    if (!this.handle) return;
    const rc = libbpf.bpf_link__destroy(this.handle);
    this.handle = null;
    check(`detach ${this.programName}`, rc);
  }

  /**
   * Detach many links at once, each on a native thread of its own: a
   * perf-event tracepoint link waits out a grace period when it goes, and
   * parallel waiters share one. Returns the failures.
   */
  static detachAll(links: readonly BpfLink[]): Error[] {
    const live = links.filter((l) => l.handle !== null);
    if (live.length < 2) return detachEach(live);
    const handles = live.map((l) => l.handle!);
    for (const l of live) l.handle = null;
    const rcs = callInParallel(linkDestroy(), handles, (h) => libbpf.bpf_link__destroy(h));
    const errors: Error[] = [];
    rcs.forEach((rc, i) => {
      try {
        check(`detach ${live[i]!.programName}`, rc);
      } catch (e) {
        errors.push(e as Error);
      }
    });
    return errors;
  }
}

function detachEach(links: readonly BpfLink[]): Error[] {
  const errors: Error[] = [];
  for (const l of links) {
    try {
      l.detach();
    } catch (e) {
      errors.push(e as Error);
    }
  }
  return errors;
}

let linkDestroyFn: Pointer | null = null;
function linkDestroy(): Pointer {
  return (linkDestroyFn ??= nativeFunction("libbpf.so.1", "bpf_link__destroy"));
}

export interface OpenOptions {
  /** Capture the verifier log at this level on every load (0: only retried on failure). */
  verifierLogLevel?: number;
}

export class BpfObject {
  private handle: Pointer | null;
  private loaded = false;
  private readonly links: BpfLink[] = [];
  private readonly maps = new Map<string, BpfMap>();
  private readonly programs = new Map<string, BpfProgram>();
  /* Kept referenced: libbpf writes into these during load. */
  private readonly logBuf: Uint8Array;
  private readonly opts: Uint8Array;
  private readonly pathBytes: Uint8Array;

  private constructor(
    readonly path: string,
    handle: Pointer,
    logBuf: Uint8Array,
    opts: Uint8Array,
    pathBytes: Uint8Array,
  ) {
    this.handle = handle;
    this.logBuf = logBuf;
    this.opts = opts;
    this.pathBytes = pathBytes;
    for (let p = toPtr(libbpf.bpf_object__next_program(handle, null)); p; p = toPtr(libbpf.bpf_object__next_program(handle, p))) {
      const prog = new BpfProgram(p, this);
      this.programs.set(prog.name, prog);
    }
    for (let m = toPtr(libbpf.bpf_object__next_map(handle, null)); m; m = toPtr(libbpf.bpf_object__next_map(handle, m))) {
      const map = new BpfMap(m, this);
      this.maps.set(map.name, map);
    }
  }

  static open(path: string, options: OpenOptions = {}): BpfObject {
    const logBuf = new Uint8Array(VERIFIER_LOG_SIZE);
    const opts = new Uint8Array(OPEN_OPTS_SIZE);
    const v = new DataView(opts.buffer);
    v.setBigUint64(0, BigInt(OPEN_OPTS_SIZE), true);
    v.setBigUint64(OPTS_KERNEL_LOG_BUF, BigInt(ptr(logBuf)), true);
    v.setBigUint64(OPTS_KERNEL_LOG_SIZE, BigInt(VERIFIER_LOG_SIZE), true);
    v.setUint32(OPTS_KERNEL_LOG_LEVEL, options.verifierLogLevel ?? 0, true);
    const pathBytes = cstr(path);
    const handle = checkPtr(`open BPF object ${path}`, libbpf.bpf_object__open_file(ptr(pathBytes), ptr(opts)));
    return new BpfObject(path, handle, logBuf, opts, pathBytes);
  }

  assertLoaded(what: string): void {
    if (!this.handle) throw new BpfError(what, 9, "object is closed");
    if (!this.loaded) throw new BpfError(what, 22, "object is not loaded yet");
  }
  assertNotLoaded(what: string): void {
    if (!this.handle) throw new BpfError(what, 9, "object is closed");
    if (this.loaded) throw new BpfError(what, 22, "only possible before load");
  }
  track(link: BpfLink): void {
    this.links.push(link);
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new BpfError(`find map ${name}`, 2, `not in ${this.path}`);
    return m;
  }
  program(name: string): BpfProgram {
    const p = this.programs.get(name);
    if (!p) throw new BpfError(`find program ${name}`, 2, `not in ${this.path}`);
    return p;
  }
  programNames(): string[] {
    return [...this.programs.keys()];
  }

  /**
   * Set a `const volatile` global (in .rodata) before load, found by name
   * through the object's BTF, as a libbpf skeleton would. Integers of 1, 2, 4
   * or 8 bytes.
   */
  setConstant(name: string, value: number | bigint): void {
    this.assertNotLoaded(`set ${name}`);
    const { offset, size } = this.rodataVariable(name);
    const image = this.rodataImage();
    switch (size) {
      case 1:
        image.setUint8(offset, Number(value));
        break;
      case 2:
        image.setUint16(offset, Number(value), true);
        break;
      case 4:
        image.setUint32(offset, Number(value), true);
        break;
      case 8:
        image.setBigUint64(offset, BigInt(value), true);
        break;
      default:
        throw new BpfError(`set ${name}`, 22, `${size}-byte variable is not an integer`);
    }
  }

  /** Set a `const volatile` array (in .rodata) before load: `bytes` must be its exact size. */
  setConstantBytes(name: string, bytes: Uint8Array): void {
    this.assertNotLoaded(`set ${name}`);
    const { offset, size } = this.rodataVariable(name);
    if (bytes.length !== size) throw new BpfError(`set ${name}`, 22, `${bytes.length} bytes given for a ${size}-byte variable`);
    const image = this.rodataImage();
    new Uint8Array(image.buffer, image.byteOffset + offset, size).set(bytes);
  }

  private rodataImage(): DataView {
    const m = this.findInternalMap(".rodata");
    const size = new BigUint64Array(1);
    const p = checkPtr("bpf_map__initial_value(.rodata)", libbpf.bpf_map__initial_value(m, ptr(size)));
    return new DataView(toArrayBuffer(p, 0, Number(size[0])));
  }

  /** Offset and size of a variable in the .rodata DATASEC (BTF_KIND_DATASEC = 15). */
  private rodataVariable(name: string): { offset: number; size: number } {
    const btf = checkPtr("bpf_object__btf", libbpf.bpf_object__btf(this.handle), "object has no BTF");
    const sec = cstr(".rodata");
    const id = libbpf.btf__find_by_name_kind(btf, ptr(sec), 15);
    check("find .rodata in BTF", id);
    const t = checkPtr("btf__type_by_id", libbpf.btf__type_by_id(btf, id));
    const head = new DataView(toArrayBuffer(t, 0, 12));
    const vlen = head.getUint32(4, true) & 0xffff;
    const vars = new DataView(toArrayBuffer(t, 12, 12 * vlen));
    for (let i = 0; i < vlen; i++) {
      const varType = checkPtr("btf__type_by_id", libbpf.btf__type_by_id(btf, vars.getUint32(i * 12, true)));
      const varName = str(libbpf.btf__name_by_offset(btf, new DataView(toArrayBuffer(varType, 0, 4)).getUint32(0, true)));
      if (varName === name) return { offset: vars.getUint32(i * 12 + 4, true), size: vars.getUint32(i * 12 + 8, true) };
    }
    throw new BpfError(`set ${name}`, 2, `no const volatile variable named ${name} in ${this.path}`);
  }

  private findInternalMap(suffix: string): Pointer {
    for (let m = toPtr(libbpf.bpf_object__next_map(this.handle, null)); m; m = toPtr(libbpf.bpf_object__next_map(this.handle, m))) {
      if (str(libbpf.bpf_map__name(m)).endsWith(suffix)) return m;
    }
    throw new BpfError(`find map ${suffix}`, 2, `not in ${this.path}`);
  }

  load(): void {
    this.assertNotLoaded("load BPF object");
    this.logBuf[0] = 0;
    // Held signals: a signal arriving mid-verification would fail the load with EAGAIN.
    const rc = withSignalsHeld("load BPF object", () => libbpf.bpf_object__load(this.handle));
    if (rc < 0) {
      const end = this.logBuf.indexOf(0);
      const log = decoder.decode(this.logBuf.subarray(0, end < 0 ? this.logBuf.length : end));
      throw new BpfError(`load BPF object ${this.path}`, -rc, undefined, log || undefined);
    }
    this.loaded = true;
  }

  /** Detach every link, keeping the maps (a final read of them sees everything the programs wrote). */
  detach(): Error[] {
    return BpfLink.detachAll(this.links.splice(0));
  }

  /** Detach every link and close the object; safe to call twice. Returns the detach errors, if any. */
  close(): Error[] {
    const errors = this.detach();
    if (this.handle) {
      libbpf.bpf_object__close(this.handle);
      this.handle = null;
    }
    // Drop references only now: libbpf may read them until close.
    void this.opts;
    void this.pathBytes;
    return errors;
  }
}

