/**
 * Rule matchers in userspace: globs over paths and binaries, CIDR sets over
 * addresses, exact sets over ports, uids and names. One matcher per rule,
 * all its conditions required.
 */
import type { OpenEvent, VigilEvent } from "../events/types";
import { cidrContains, parseAddress, parseCidr, type Cidr } from "../enforce/cidr";
import { domainMatcher, parseDomainPattern } from "../enforce/domains";
import { ACCESS_KINDS, type AccessKind, type Match } from "./schema";

/** What an open asks for, from its flags: read (O_RDONLY, O_RDWR), write (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC). */
export function openAccess(flags: number): ("read" | "write")[] {
  const mode = flags & 3;
  const out: ("read" | "write")[] = [];
  if (mode === 0 || mode === 2) out.push("read");
  if (mode === 1 || mode === 2 || flags & 0o100 || flags & 0o1000) out.push("write");
  return out;
}

/** A rule's `access`, as a list (one kind, several, or none given: all of them). */
export function accessKinds(access: Match["access"]): readonly AccessKind[] {
  return access === undefined ? ACCESS_KINDS : typeof access === "string" ? [access] : access;
}

export const GLOB_CHARS = /[*?[\]{}]/;

/** What a matcher may ask about the process behind an event. */
export interface MatchContext {
  /** The program the process runs now (from the process tree), if known. */
  exe(pid: number): string | undefined;
}

/**
 * Exact strings by set lookup; globs through Bun.Glob, each behind a cheap
 * necessary condition (its literal prefix, or for `** /x` its literal suffix)
 * so that most non-matching strings never reach the glob engine.
 */
export function globMatcher(patterns: readonly string[]): (s: string) => boolean {
  const exact = new Set(patterns.filter((p) => !GLOB_CHARS.test(p)));
  const globs = patterns
    .filter((p) => GLOB_CHARS.test(p))
    .map((p) => {
      const prefix = p.slice(0, p.search(GLOB_CHARS));
      const tail = p.startsWith("**/") && !GLOB_CHARS.test(p.slice(3)) ? p.slice(2) : "";
      return { glob: new Bun.Glob(p), prefix, tail };
    });
  return (s) => {
    if (exact.has(s)) return true;
    for (const g of globs) if (s.startsWith(g.prefix) && (g.tail === "" || s.endsWith(g.tail) || s === g.tail.slice(1)) && g.glob.match(s)) return true;
    return false;
  };
}

/** Connect rules of one event share one parse of its address. */
let lastAddress = "";
let lastBytes: Uint8Array | null = null;
function addressBytes(a: string): Uint8Array | null {
  if (a !== lastAddress) {
    lastAddress = a;
    lastBytes = parseAddress(a);
  }
  return lastBytes;
}

export function compileMatcher(m: Match): (e: VigilEvent, ctx: MatchContext) => boolean {
  const checks: ((e: VigilEvent, ctx: MatchContext) => boolean)[] = [];
  // exec: the new program; other events: the program the process runs now.
  const programOf = (e: VigilEvent, ctx: MatchContext) => (e.type === "exec" ? e.filename : ctx.exe(e.pid));
  if (m.binary) {
    const test = globMatcher(m.binary);
    checks.push((e, ctx) => {
      const bin = programOf(e, ctx);
      return bin !== undefined && test(bin);
    });
  }
  if (m.notBinary) {
    const test = globMatcher(m.notBinary);
    checks.push((e, ctx) => {
      const bin = programOf(e, ctx);
      return bin !== undefined && !test(bin);
    });
  }
  if (m.argv) {
    const needles = m.argv;
    checks.push((e) => e.type === "exec" && e.argv.some((a) => needles.some((n) => a.includes(n))));
  }
  // A relative path is judged where it pointed, when the pipeline could tell (OpenEvent.absolutePath).
  const absolute = (e: OpenEvent) => e.absolutePath ?? e.path;
  if (m.path) {
    const test = globMatcher(m.path);
    checks.push((e) => e.type === "open" && test(absolute(e)));
  }
  if (m.notPath) {
    const test = globMatcher(m.notPath);
    checks.push((e) => e.type === "open" && !test(absolute(e)));
  }
  if (m.access) {
    const want = new Set<string>(accessKinds(m.access));
    checks.push((e) => e.type === "open" && openAccess(e.flags).some((a) => want.has(a)));
  }
  if (m.cidr || m.notCidr) {
    const inAny = (list: Cidr[], a: Uint8Array) => list.some((c) => cidrContains(c, a));
    const yes = (m.cidr ?? []).map(parseCidr);
    const no = (m.notCidr ?? []).map(parseCidr);
    checks.push((e) => {
      if (e.type !== "connect") return false;
      const a = addressBytes(e.address);
      if (!a) return false;
      return (yes.length === 0 || inAny(yes, a)) && !inAny(no, a);
    });
  }
  if (m.domain || m.notDomain) {
    // Judged by the name the kernel learned the address from (on the event), as the connect hook judges it.
    const yes = m.domain ? domainMatcher(m.domain.map(parseDomainPattern)) : null;
    const no = m.notDomain ? domainMatcher(m.notDomain.map(parseDomainPattern)) : null;
    checks.push((e) => {
      if (e.type !== "connect") return false;
      const name = e.domain;
      return (yes === null || (name !== undefined && yes(name))) && (no === null || name === undefined || !no(name));
    });
  }
  if (m.port) {
    const ports = new Set(m.port);
    checks.push((e) => e.type === "connect" && ports.has(e.port));
  }
  if (m.uid) {
    const uids = new Set(m.uid);
    checks.push((e) => "uid" in e && uids.has(e.uid));
  }
  if (m.comm) {
    const test = globMatcher(m.comm);
    checks.push((e) => "comm" in e && test(e.comm));
  }
  // A tool call is judged when the model asks for it (before it runs), never again when it ends.
  if (m.event === "tool_call") checks.push((e) => e.type === "tool_call" && e.phase === "started");
  if (m.tool) {
    const test = globMatcher(m.tool);
    checks.push((e) => e.type === "tool_call" && test(e.name));
  }
  if (m.argumentsContain) {
    const needles = m.argumentsContain;
    checks.push((e) => e.type === "tool_call" && e.arguments !== undefined && needles.some((n) => e.arguments!.includes(n)));
  }
  if (m.host) {
    const test = globMatcher(m.host);
    checks.push((e) => e.type === "llm_call" && test(e.host));
  }
  if (m.model) {
    const test = globMatcher(m.model);
    checks.push((e) => e.type === "llm_call" && e.model !== null && test(e.model));
  }
  return (e, ctx) => {
    for (const c of checks) if (!c(e, ctx)) return false;
    return true;
  };
}
