/**
 * Where TLS plaintext is read: uprobes on OpenSSL's SSL_write, SSL_write_ex,
 * SSL_read and SSL_read_ex (bpf/tls.bpf.c), attached once per file that
 * defines them (the system libssl, node's own copy ...), for every process
 * that maps it: the programs keep out what is not in scope before copying.
 *
 * Files are judged once each (by device and inode): hooked, a TLS stack that
 * cannot be hooked (said plainly, with why), or none of its own. Like the
 * KernelEnforcer, one TlsProbes lives as long as the runtime and the sensor
 * binds it to each object it loads.
 */
import { execFileSync } from "node:child_process";
import { realpathSync, statSync } from "node:fs";
import type { BpfObject, BpfLink } from "../kernel/bpf-object";
import { ElfFile } from "../util/elf";

/** The functions hooked, and the entry program of each (one return program serves all four). */
export const TLS_FUNCTIONS = { SSL_write: "vigil_tls_write", SSL_write_ex: "vigil_tls_write_ex", SSL_read: "vigil_tls_read", SSL_read_ex: "vigil_tls_read_ex" } as const;
export const TLS_RETURN_PROGRAM = "vigil_tls_return";
export const TLS_PROGRAMS = [...Object.values(TLS_FUNCTIONS), TLS_RETURN_PROGRAM] as const;

export type TlsSupport =
  | { file: string; status: "hooked"; functions: string[] }
  | { file: string; status: "unsupported"; why: string }
  /** No TLS library of its own (a dynamically linked program gets libssl's, hooked as a file of its own). */
  | { file: string; status: "none" };

/** Stacks recognised in files that define no SSL_read/SSL_write, and why each cannot be read. */
const UNHOOKABLE = [
  { marker: "boringssl", why: "BoringSSL linked in statically with its SSL_read/SSL_write symbols stripped (Bun)" },
  { marker: "rustls", why: "rustls (Rust) has no stable symbols to hook" },
] as const;

export class TlsProbes {
  private obj: BpfObject | null = null;
  private readonly judged = new Map<string, TlsSupport>();
  private readonly links = new Map<string, BpfLink[]>();
  private readonly byAgent = new Map<string, Map<string, TlsSupport>>();
  /** Attachments that failed (the file stays unhooked; said in its support). */
  attachFailures = 0;

  /** Called by the sensor once the object is loaded (with the TLS programs): hooks the system's libssl at once. */
  bind(obj: BpfObject): void {
    this.obj = obj;
    this.judged.clear();
    this.links.clear();
    for (const lib of systemTlsLibraries()) this.consider(lib);
  }

  /** Called by the sensor before it closes the object (the links go with it). */
  unbind(): void {
    this.obj = null;
    this.links.clear();
  }

  get bound(): boolean {
    return this.obj !== null;
  }

  /** Judges `path` (once per file) and hooks it when it defines the functions. */
  consider(path: string): TlsSupport {
    let key: string;
    let real: string;
    try {
      real = realpathSync(path);
      const st = statSync(real);
      if (!st.isFile()) return { file: path, status: "none" };
      key = `${st.dev}:${st.ino}`;
    } catch {
      return { file: path, status: "none" };
    }
    const known = this.judged.get(key);
    if (known) return known;
    const support = this.judge(real);
    this.judged.set(key, support);
    return support;
  }

  /**
   * A process of `agent` ran or loaded `path`: judged (and hooked) if new, and remembered for the agent
   * when it carries TLS, so that what cannot be read is said per agent.
   */
  used(agent: string | null, path: string): TlsSupport {
    const support = this.consider(path);
    if (agent !== null && support.status !== "none") {
      let files = this.byAgent.get(agent);
      if (!files) this.byAgent.set(agent, (files = new Map()));
      files.set(support.file, support);
    }
    return support;
  }

  /** What TLS an agent's processes used: the files hooked, and those that cannot be (with why). */
  agentSupport(agent: string): { hooked: string[]; unsupported: { file: string; why: string }[] } {
    const out = { hooked: [] as string[], unsupported: [] as { file: string; why: string }[] };
    for (const s of this.byAgent.get(agent)?.values() ?? []) {
      if (s.status === "hooked") out.hooked.push(s.file);
      else if (s.status === "unsupported") out.unsupported.push({ file: s.file, why: s.why });
    }
    return out;
  }

  forgetAgent(agent: string): void {
    this.byAgent.delete(agent);
  }

  /** Every file judged to carry TLS: hooked or not. */
  files(): TlsSupport[] {
    return [...this.judged.values()].filter((s) => s.status !== "none");
  }

  private judge(file: string): TlsSupport {
    const elf = ElfFile.open(file);
    if (!elf) return { file, status: "none" };
    try {
      const offsets = elf.definedFunctions(".dynsym", Object.keys(TLS_FUNCTIONS));
      if (offsets.size === 0) for (const [name, at] of elf.definedFunctions(".symtab", Object.keys(TLS_FUNCTIONS))) offsets.set(name, at);
      if (offsets.has("SSL_write") || offsets.has("SSL_write_ex")) return this.hook(file, offsets);
      if (elf.section(".go.buildinfo") || elf.section(".note.go.buildid")) {
        const symbols = elf.section(".symtab") ? "with symbols" : "stripped";
        return { file, status: "unsupported", why: `Go crypto/tls (${symbols}): its Read/Write are not hooked` };
      }
      const marker = elf.sectionContains(".rodata", UNHOOKABLE.map((u) => u.marker));
      const stack = UNHOOKABLE.find((u) => u.marker === marker);
      return stack ? { file, status: "unsupported", why: stack.why } : { file, status: "none" };
    } finally {
      elf.close();
    }
  }

  private hook(file: string, offsets: Map<string, number>): TlsSupport {
    const obj = this.obj;
    if (!obj) return { file, status: "unsupported", why: "TLS capture is off (capture without tls)" };
    const links: BpfLink[] = [];
    try {
      for (const [fn, program] of Object.entries(TLS_FUNCTIONS)) {
        const at = offsets.get(fn);
        if (at === undefined) continue;
        links.push(obj.program(program).attachUprobe(file, at, false, fn));
        links.push(obj.program(TLS_RETURN_PROGRAM).attachUprobe(file, at, true, fn));
      }
    } catch (e) {
      for (const l of links) l.detach();
      this.attachFailures++;
      return { file, status: "unsupported", why: `attaching uprobes failed: ${(e as Error).message}` };
    }
    this.links.set(file, links);
    return { file, status: "hooked", functions: [...offsets.keys()].sort() };
  }
}

/** The libssl files the dynamic linker knows (ldconfig's cache), each once. */
function systemTlsLibraries(): string[] {
  let cache = "";
  try {
    cache = execFileSync("/sbin/ldconfig", ["-p"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of cache.split("\n")) {
    const m = /^\s*libssl\.so[.\d]*\s.*=>\s*(\S+)$/.exec(line);
    if (!m) continue;
    try {
      out.add(realpathSync(m[1]!));
    } catch {
      /* a stale cache entry */
    }
  }
  return [...out];
}
