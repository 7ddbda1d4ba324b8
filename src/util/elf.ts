/**
 * Just enough of ELF64 (little-endian) to ask a file what TLS stack it
 * carries: its section names, the functions its symbol tables define, and
 * whether a section holds some bytes. Reads the parts it needs with
 * positioned reads, never the whole file (node is 100 MB).
 */
import { closeSync, openSync, readSync } from "node:fs";

const SHT_NOBITS = 8;
const STT_FUNC = 2;
const SHN_UNDEF = 0;
const SYM_SIZE = 24;
/** Sections are scanned for bytes this much at a time. */
const SCAN_SLICE = 1 << 20;

export interface ElfSection {
  name: string;
  type: number;
  /** Where the section is in memory (sh_addr). */
  addr: number;
  offset: number;
  size: number;
  /** The section this one's names are in (a symbol table's string table). */
  link: number;
}

export class ElfFile {
  private constructor(
    private readonly fd: number,
    readonly sections: ElfSection[],
  ) {}

  /** Opens `path`; null when it is not a 64-bit little-endian ELF file (or cannot be read). */
  static open(path: string): ElfFile | null {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return null;
    }
    try {
      const head = read(fd, 0, 64);
      if (head.length < 64 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46 || head[4] !== 2 || head[5] !== 1) {
        closeSync(fd);
        return null;
      }
      const h = new DataView(head.buffer, head.byteOffset, head.byteLength);
      const shoff = Number(h.getBigUint64(0x28, true));
      const shentsize = h.getUint16(0x3a, true);
      const shnum = h.getUint16(0x3c, true);
      const shstrndx = h.getUint16(0x3e, true);
      if (shentsize < 64 || shnum === 0 || shstrndx >= shnum) {
        closeSync(fd);
        return null;
      }
      const table = read(fd, shoff, shentsize * shnum);
      const t = new DataView(table.buffer, table.byteOffset, table.byteLength);
      const raw = Array.from({ length: shnum }, (_, i) => {
        const at = i * shentsize;
        return { nameOff: t.getUint32(at, true), type: t.getUint32(at + 4, true), addr: Number(t.getBigUint64(at + 16, true)), offset: Number(t.getBigUint64(at + 24, true)), size: Number(t.getBigUint64(at + 32, true)), link: t.getUint32(at + 40, true) };
      });
      const names = raw[shstrndx]!;
      const strtab = read(fd, names.offset, names.size);
      const sections = raw.map((s) => ({ name: cString(strtab, s.nameOff), type: s.type, addr: s.addr, offset: s.offset, size: s.size, link: s.link }));
      return new ElfFile(fd, sections);
    } catch {
      closeSync(fd);
      return null;
    }
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /**
   * Which of `names` the symbol table `table` (.dynsym, .symtab) defines as functions, with the file
   * offset of each (where a uprobe goes: its address less its section's, plus the section's offset).
   * Exported symbols are looked up through the GNU hash table when there is one: a few small reads
   * instead of the whole table (node exports some 100,000 symbols).
   */
  definedFunctions(table: ".dynsym" | ".symtab", names: readonly string[]): Map<string, number> {
    if (table === ".dynsym" && this.section(".gnu.hash")) return this.hashedFunctions(names);
    return this.scannedFunctions(table, names);
  }

  private hashedFunctions(names: readonly string[]): Map<string, number> {
    const found = new Map<string, number>();
    const hash = this.section(".gnu.hash")!;
    const symtab = this.section(".dynsym");
    const strtab = symtab ? this.sections[symtab.link] : undefined;
    if (!symtab || !strtab) return found;
    const head = new DataView(read(this.fd, hash.offset, 16).buffer);
    const nbuckets = head.getUint32(0, true);
    const symoffset = head.getUint32(4, true);
    const bloomWords = head.getUint32(8, true);
    const bucketsAt = hash.offset + 16 + bloomWords * 8;
    const buckets = new DataView(read(this.fd, bucketsAt, nbuckets * 4).buffer);
    const chainAt = bucketsAt + nbuckets * 4;
    for (const name of names) {
      let h = 5381;
      for (let i = 0; i < name.length; i++) h = (Math.imul(h, 33) + name.charCodeAt(i)) >>> 0;
      let index = buckets.getUint32((h % nbuckets) * 4, true);
      if (index < symoffset) continue;
      for (;;) {
        const chained = new DataView(read(this.fd, chainAt + (index - symoffset) * 4, 4).buffer).getUint32(0, true);
        if ((chained | 1) === (h | 1)) {
          const sym = new DataView(read(this.fd, symtab.offset + index * SYM_SIZE, SYM_SIZE).buffer);
          const nameBytes = read(this.fd, strtab.offset + sym.getUint32(0, true), name.length + 1);
          if (cString(nameBytes, 0) === name && (sym.getUint8(4) & 0xf) === STT_FUNC && sym.getUint16(6, true) !== SHN_UNDEF) {
            const home = this.sections[sym.getUint16(6, true)];
            if (home) found.set(name, Number(sym.getBigUint64(8, true)) - home.addr + home.offset);
            break;
          }
        }
        if (chained & 1) break;
        index++;
      }
    }
    return found;
  }

  private scannedFunctions(table: ".dynsym" | ".symtab", names: readonly string[]): Map<string, number> {
    const found = new Map<string, number>();
    const symtab = this.section(table);
    const strtab = symtab ? this.sections[symtab.link] : undefined;
    if (!symtab || !strtab || symtab.type === SHT_NOBITS) return found;
    const wanted = new Set(names);
    const firstBytes = new Set(names.map((n) => n.charCodeAt(0)));
    const strings = read(this.fd, strtab.offset, strtab.size);
    const syms = read(this.fd, symtab.offset, symtab.size);
    const v = new DataView(syms.buffer, syms.byteOffset, syms.byteLength);
    for (let at = 0; at + SYM_SIZE <= syms.length; at += SYM_SIZE) {
      if ((v.getUint8(at + 4) & 0xf) !== STT_FUNC || v.getUint16(at + 6, true) === SHN_UNDEF) continue;
      const nameOff = v.getUint32(at, true);
      if (!firstBytes.has(strings[nameOff]!)) continue; // most symbols: no string decoded
      const name = cString(strings, nameOff);
      if (!wanted.has(name)) continue;
      const home = this.sections[v.getUint16(at + 6, true)];
      if (home) found.set(name, Number(v.getBigUint64(at + 8, true)) - home.addr + home.offset);
    }
    return found;
  }

  /** The first of `needles` found in section `name`, read a slice at a time (null: none, or no such section). */
  sectionContains(name: string, needles: readonly string[]): string | null {
    const s = this.section(name);
    if (!s || s.type === SHT_NOBITS) return null;
    const encoded = needles.map((n) => Buffer.from(n));
    const overlap = Math.max(...encoded.map((n) => n.length));
    for (let at = 0; at < s.size; at += SCAN_SLICE) {
      const slice = Buffer.from(read(this.fd, s.offset + at, Math.min(SCAN_SLICE + overlap, s.size - at)));
      for (let i = 0; i < encoded.length; i++) if (slice.includes(encoded[i]!)) return needles[i]!;
    }
    return null;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function read(fd: number, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? out : out.subarray(0, done);
}

function cString(bytes: Uint8Array, off: number): string {
  let end = off;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + off, end - off).toString("latin1");
}
