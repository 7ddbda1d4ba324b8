/** IPv4/IPv6 networks: parsing (with errors that say what is wrong) and matching. IPv4 is held as ::ffff:a.b.c.d. */
import { isIP } from "node:net";

export interface Cidr {
  /** 16 bytes, IPv4 mapped into ::ffff:0:0/96 */
  addr: Uint8Array;
  /** prefix length over the 16 bytes (IPv4 /n becomes 96 + n) */
  bits: number;
  text: string;
}

export function parseAddress(text: string): Uint8Array | null {
  const kind = isIP(text);
  const out = new Uint8Array(16);
  if (kind === 4) {
    out[10] = 0xff;
    out[11] = 0xff;
    text.split(".").forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  if (kind !== 6) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped) return parseAddress(mapped[1]!);
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const host = slash < 0 ? text : text.slice(0, slash);
  const addr = parseAddress(host);
  if (!addr) throw new Error(`${JSON.stringify(text)} is not an IPv4 or IPv6 network (expected e.g. 10.0.0.0/8 or fd00::/8)`);
  const v4 = isIP(host) === 4;
  const max = v4 ? 32 : 128;
  const len = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(len) || len < 0 || len > max || (slash >= 0 && text.slice(slash + 1).trim() === ""))
    throw new Error(`${JSON.stringify(text)}: prefix length must be 0..${max}`);
  const bits = v4 ? 96 + len : len;
  // Clear host bits so that 10.1.2.3/8 means 10.0.0.0/8.
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    addr[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { addr, bits, text };
}

export function cidrContains(c: Cidr, addr: Uint8Array): boolean {
  let bits = c.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i]! & mask) !== c.addr[i]) return false;
  }
  return true;
}
