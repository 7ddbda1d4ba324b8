/**
 * Domain names as the kernel compares them (bpf/vigil.h, struct
 * vigil_dns_entry): FNV-1a 64 over the name's bytes, lowercase, from the last
 * byte to the first. A parent domain's hash is then a step of its child's,
 * which is how the kernel finds `*.github.com` for `api.github.com` with a
 * lookup per label and no string handling.
 */
import { DNS_NAME, DNS_PARENTS, DomainKind } from "../abi/layout";

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffff_ffff_ffff_ffffn;

/** The kernel's hash of a (lowercase) name. */
export function domainHash(name: string): bigint {
  let h = FNV_OFFSET;
  const bytes = new TextEncoder().encode(name);
  for (let i = bytes.length - 1; i >= 0; i--) h = ((h ^ BigInt(bytes[i]!)) * FNV_PRIME) & MASK;
  return h;
}

/** A domain pattern of a rule: `name` (the name itself) or `*.name` (any name below it, at any depth). */
export interface DomainPattern {
  name: string;
  kind: number;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Parses a rule's domain pattern; throws an Error naming what is wrong. */
export function parseDomainPattern(pattern: string): DomainPattern {
  const lower = pattern.toLowerCase().replace(/\.$/, "");
  const wildcard = lower.startsWith("*.");
  const name = wildcard ? lower.slice(2) : lower;
  if (name.includes("*")) throw new Error(`domain ${pattern}: a wildcard is allowed only as the first label (*.example.com)`);
  const labels = name.split(".");
  if (!labels.every((l) => LABEL.test(l))) throw new Error(`domain ${pattern}: not a domain name (labels of letters, digits, - and _, 63 at most)`);
  if (name.length > DNS_NAME - 1) throw new Error(`domain ${pattern}: longer than ${DNS_NAME - 1} characters, which the kernel does not learn`);
  // The kernel keeps the hashes of a learned name's DNS_PARENTS nearest-the-root parents.
  if (wildcard && labels.length > DNS_PARENTS) throw new Error(`domain ${pattern}: *. applies to names at most ${DNS_PARENTS} labels deep`);
  return { name, kind: wildcard ? DomainKind.subdomains : DomainKind.exact };
}

/** The kernel entries of a set of patterns: hash -> kinds (a name may be listed both ways). */
export function domainSetEntries(patterns: readonly DomainPattern[]): Map<bigint, number> {
  const out = new Map<bigint, number>();
  for (const p of patterns) {
    const h = domainHash(p.name);
    out.set(h, (out.get(h) ?? 0) | p.kind);
  }
  return out;
}

/** Whether `name` (as learned, lowercase) is in a set of patterns: the userspace twin of the kernel's test. */
export function domainMatcher(patterns: readonly DomainPattern[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => p.kind & DomainKind.exact).map((p) => p.name));
  const below = patterns.filter((p) => p.kind & DomainKind.subdomains).map((p) => `.${p.name}`);
  return (name) => exact.has(name) || below.some((suffix) => name.endsWith(suffix));
}
