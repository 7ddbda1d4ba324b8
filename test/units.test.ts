/** Pure logic: decoders' helpers, argument parsing, syscall names. No kernel needed. */
import { describe, expect, test } from "bun:test";
import { IngestWindow, lossCounts } from "../src/service/readiness";
import { Redactor } from "../src/events/redact";
import type { ProcessEvent } from "../src/events/types";
import { commString, formatAddress, splitArgs, splitWaitStatus } from "../src/events/decoder";
import { StringCache, text } from "../src/events/string-cache";
import { parseArgs, parseSize, UsageError } from "../src/cli/args";
import { syscallName, syscallNumber } from "../src/events/syscall-names";
import { ringSize } from "../src/sensor/sensor";

describe("decoder helpers", () => {
  test("IPv6 addresses are formatted per RFC 5952", () => {
    const a = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => Number.parseInt(h, 16)));
    expect(formatAddress(10, a("00000000000000000000000000000001"), 0)).toBe("::1");
    expect(formatAddress(10, a("20010db8000000000000000000000001"), 0)).toBe("2001:db8::1");
    expect(formatAddress(10, a("20010db8000100000001000000000001"), 0)).toBe("2001:db8:1:0:1::1");
    expect(formatAddress(10, a("00000000000000000000ffff7f000001"), 0)).toBe("::ffff:127.0.0.1");
    expect(formatAddress(2, Uint8Array.from([10, 0, 0, 7]), 0)).toBe("10.0.0.7");
  });
  test("argv blocks split on NUL, a cut last argument is kept", () => {
    const b = new TextEncoder().encode("ls\0-la\0/tmp\0");
    expect(splitArgs(b, 0, b.length)).toEqual(["ls", "-la", "/tmp"]);
    expect(splitArgs(b, 0, 8)).toEqual(["ls", "-la", "/"]);
  });
  test("strings from record bytes: UTF-8, invalid bytes, offsets, and more than one backing array", () => {
    const a = Uint8Array.from([0x78, ...new TextEncoder().encode("/tmp/ünï-😀"), 0, 0xff, 0x41]);
    expect(text(a, 1, a.indexOf(0))).toBe("/tmp/ünï-😀");
    expect(text(a, a.length - 2, a.length)).toBe("\ufffdA"); // an invalid byte is U+FFFD, as TextDecoder would give
    const b = new TextEncoder().encode("other array");
    expect(text(b, 6, 11)).toBe("array");
    expect(text(a, 0, 1)).toBe("x"); // back to the first array: its own bytes, not the second's
    expect(text(a.subarray(1), 0, 4)).toBe("/tmp"); // a view at an offset into its buffer
  });
  test("comm strings: cached by their 16 bytes, never confused with one another", () => {
    const comm = (name: string, tail = 0) => {
      const b = new Uint8Array(16);
      b.set(new TextEncoder().encode(name));
      if (tail) b[15] = tail; // bytes after the NUL: part of the cache key, not of the name
      return { v: new DataView(b.buffer), b };
    };
    // Families of names that differ in one 4-byte word only, each far larger than the cache: every word must be compared.
    const base = "abcdefghijklmnop";
    const code = (i: number) => i.toString(36).padStart(4, "0");
    const names = [0, 4, 8, 12].flatMap((at) => Array.from({ length: 600 }, (_, i) => base.slice(0, at) + code(i) + base.slice(at + 4)));
    names.push(...Array.from({ length: 600 }, (_, i) => `tool-${i}`));
    for (let round = 0; round < 2; round++)
      for (const n of names) {
        const c = comm(n);
        expect(commString(c.v, c.b, 0)).toBe(n);
      }
    const stale = comm("sh", 0x41);
    expect(commString(stale.v, stale.b, 0)).toBe("sh");
    const full = comm("exactly16bytes!!");
    expect(commString(full.v, full.b, 0)).toBe("exactly16bytes!!"); // no NUL within 16 bytes: all 16 are the name
    const shifted = new Uint8Array(20);
    shifted.set(new TextEncoder().encode("grep"), 4);
    expect(commString(new DataView(shifted.buffer), shifted, 4)).toBe("grep");
  });
  test("cached strings: equal bytes give the cached string, any other bytes their own, whatever they hash to", () => {
    const cache = new StringCache(4, 32); // far fewer slots than strings: every lookup below meets collisions
    const enc = new TextEncoder();
    const at = (s: string, pad = 3) => {
      const b = new Uint8Array(pad + enc.encode(s).length + 5).fill(0x5a); // bytes either side are not part of it
      b.set(enc.encode(s), pad);
      return { v: new DataView(b.buffer), b, start: pad, end: pad + enc.encode(s).length };
    };
    // Strings that differ in one byte, at each position of a word and in the tail, and by length only.
    const strings = ["/etc/ld.so.cache", "/etc/ld.so.cachf", "/etc/ld.sO.cache", "/etc/ld.so.cach", "/etc/ld.so.cache2", "", "ü", "/tmp/x😀"];
    for (let round = 0; round < 3; round++)
      for (const s of strings) {
        const r = at(s, round);
        expect(cache.get(r.v, r.b, r.start, r.end)).toBe(s);
      }
    const long = "/a".repeat(40); // longer than the cache keeps: decoded every time
    const r = at(long);
    expect(cache.get(r.v, r.b, r.start, r.end)).toBe(long);
    expect(() => new StringCache(3, 8)).toThrow(/power of two/);
  });
  test("wait statuses", () => {
    expect(splitWaitStatus(3 << 8)).toEqual({ exitCode: 3, signal: null, coreDumped: false });
    expect(splitWaitStatus(9)).toEqual({ exitCode: null, signal: 9, coreDumped: false });
    expect(splitWaitStatus(0x80 | 11)).toEqual({ exitCode: null, signal: 11, coreDumped: true });
  });
});

describe("argument parsing", () => {
  const spec = { name: { value: true }, mode: { value: true, choices: ["a", "b"] }, flag: {}, policy: { value: true, repeat: true } };
  test("options, --, and the command", () => {
    const p = parseArgs("t", ["--name", "x", "--mode=a", "--flag", "--policy", "p1", "--policy", "p2", "--", "ls", "--name"], spec);
    expect(p.options).toEqual({ name: "x", mode: "a", flag: true, policy: ["p1", "p2"] });
    expect(p.rest).toEqual(["ls", "--name"]);
    expect(parseArgs("t", ["ls", "-la"], spec).rest).toEqual(["ls", "-la"]);
  });
  test("errors name the option", () => {
    expect(() => parseArgs("t", ["--bogus"], spec)).toThrow("t: unknown option --bogus");
    expect(() => parseArgs("t", ["--name"], spec)).toThrow("t: --name needs a value");
    expect(() => parseArgs("t", ["--mode", "c"], spec)).toThrow(UsageError);
    expect(() => parseArgs("t", ["--name", "a", "--name", "b"], spec)).toThrow("given twice");
    expect(() => parseArgs("t", ["-x"], spec)).toThrow(/unknown option -x/);
  });
  test("sizes", () => {
    expect(parseSize("vigil run", "s", "4096")).toBe(4096);
    expect(parseSize("vigil run", "s", "64K")).toBe(65536);
    expect(parseSize("vigil run", "s", "16MiB")).toBe(16 << 20);
    expect(() => parseSize("vigil run", "s", "lots")).toThrow(/^vigil run: --s: "lots" is not a size/);
    expect(ringSize(5000)).toBe(8192);
    expect(ringSize(1)).toBe(4096);
  });
});

describe("syscall names", () => {
  test("from the UAPI header of this architecture", () => {
    expect(syscallName(syscallNumber("openat")!)).toBe("openat");
    expect(syscallNumber("getppid")).toBeGreaterThan(0);
    expect(syscallName(100000)).toBe("syscall_100000");
    expect(syscallName(-1)).toBe("unknown"); // a number a firehose record cannot hold
  });
});

import { restoreStamp, splitReference } from "../src/ring/firehose-consumer";
import { firehoseChunkShift } from "../src/sensor/sensor";

describe("firehose records (userspace side)", () => {
  const SPAN = 2 ** 48;
  const restore = (stamp: number, reference: number) => {
    const { refLow, refBase } = splitReference(reference);
    return restoreStamp(stamp % SPAN, refLow, refBase);
  };

  test("a 48-bit stamp is restored to the full one from a newer reference, across a wrap of the low bits", () => {
    expect(restore(123_456, 123_999)).toBe(123_456);
    expect(restore(123_999, 123_999)).toBe(123_999); // the reference's own reading
    const wrap = 5 * SPAN; // the low 48 bits wrap here (after 78 hours of boot time per wrap)
    expect(restore(wrap - 10, wrap + 7)).toBe(wrap - 10);
    expect(restore(wrap + 3, wrap + 7)).toBe(wrap + 3);
    expect(restore(wrap + 7 - (SPAN - 1), wrap + 7)).toBe(wrap + 7 - (SPAN - 1)); // the oldest a reference can restore
    // Past 2^53 ns (104 days) stamps round, but their order holds.
    const late = 2 ** 53 + 2 ** 50;
    expect(restore(late - 4096, late)).toBeLessThan(restore(late - 2048, late));
  });

  test("ring sizes round up to a power of two of 2 MiB chunks, and bad ones name the option", () => {
    expect(firehoseChunkShift(1)).toBe(0);
    expect(firehoseChunkShift(2 << 20)).toBe(0);
    expect(firehoseChunkShift((2 << 20) + 1)).toBe(1);
    expect(firehoseChunkShift()).toBe(2); // 8 MiB
    expect(firehoseChunkShift(256 << 20)).toBe(7);
    expect(() => firehoseChunkShift((256 << 20) + 1)).toThrow(/firehoseRingBytes must be an integer from 1 to/);
    expect(() => firehoseChunkShift(1.5)).toThrow(/firehoseRingBytes/);
  });
});

import { cidrContains, parseAddress, parseCidr } from "../src/enforce/cidr";
import { compilePolicies } from "../src/policy/compile";
import { globMatcher } from "../src/policy/match";
import { parsePolicySource, PolicyError, type PolicyProblem } from "../src/policy/loader";
import { parseCaptureList } from "../src/sensor/capture";
import { parseTraceparent } from "../src/agents/spans";

describe("policy building blocks", () => {
  test("CIDR parsing and matching, IPv4 mapped into IPv6", () => {
    const lo = parseCidr("127.0.0.0/8");
    expect(cidrContains(lo, parseAddress("127.1.2.3")!)).toBe(true);
    expect(cidrContains(lo, parseAddress("::ffff:127.0.0.1")!)).toBe(true);
    expect(cidrContains(lo, parseAddress("128.0.0.1")!)).toBe(false);
    expect(cidrContains(parseCidr("10.1.2.3/8"), parseAddress("10.200.0.1")!)).toBe(true); // host bits cleared
    expect(cidrContains(parseCidr("::1/128"), parseAddress("::1")!)).toBe(true);
    expect(cidrContains(parseCidr("fd00::/8"), parseAddress("fd12:3456::1")!)).toBe(true);
    expect(cidrContains(parseCidr("fd00::/8"), parseAddress("fe80::1")!)).toBe(false);
    expect(() => parseCidr("10.0.0.0/33")).toThrow(/prefix length must be 0..32/);
    expect(() => parseCidr("example.com/8")).toThrow(/not an IPv4 or IPv6 network/);
  });
  test("glob matcher agrees with Bun.Glob, with its prefilters", () => {
    const cases: [string, string][] = [
      ["/root/.ssh/**", "/root/.ssh/id_rsa"],
      ["/root/.ssh/*", "/root/.ssh/a/b"],
      ["**/.env", "/home/u/p/.env"],
      ["**/.env", "/home/u/p/.envx"],
      ["/usr/bin/*", "/usr/bin/curl"],
      ["/usr/*/curl", "/usr/local/curl"],
      ["/usr/*/curl", "/opt/local/curl"],
    ];
    for (const [p, s] of cases) expect(globMatcher([p])(s)).toBe(new Bun.Glob(p).match(s));
  });
  test("policy YAML problems carry line, column and field path", () => {
    const r = parsePolicySource({ file: "p.yaml", text: "apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: x }\nspec:\n  rules:\n    - name: r\n      match: { event: exec }\n      action: maybe\n" });
    expect(r.problems).toEqual([{ file: "p.yaml", line: 8, column: 15, path: "spec.rules[0].action", message: 'must be one of alert, deny, kill, freeze, kill-tree (got "maybe")' }]);
    const syntax = parsePolicySource({ file: "s.yaml", text: "apiVersion: [\n" });
    expect(syntax.problems[0]!.message).toMatch(/^YAML syntax/);
    expect(syntax.problems[0]!.line).toBeGreaterThan(0);
  });
  test("a rule on an event kind the observer does not capture is refused, unless the kernel enforces it", () => {
    const ok = { ok: true, detail: "" };
    const caps = { bpfLsm: { ok: false, detail: "lockdown" }, connectGuard: ok, cgroupFreeze: ok, cgroupKill: ok, landlock: { ...ok, abi: 7 } };
    const policy = (rule: string) => ({ file: "p.yaml", text: `apiVersion: vigil/v1\nkind: Policy\nmetadata: { name: p }\nspec:\n  rules:\n    - ${rule}\n` });
    const openAlert = policy("{ name: secrets, match: { event: open, path: [/etc/shadow] }, action: alert }");
    expect(compilePolicies([openAlert], caps).rules).toHaveLength(1);
    let problems: PolicyProblem[] = [];
    try {
      compilePolicies([openAlert], caps, ["connect", "cred"]);
    } catch (e) {
      problems = (e as PolicyError).problems;
    }
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toBe("spec.rules[0].match.event");
    expect(problems[0]!.message).toBe("open events are not captured here (capture: connect, cred): add open to the capture list, or drop the rule");
    // A connect deny on the destination alone is carried out by the kernel's cgroup hook, captured or not.
    const deny = policy("{ name: no-meta, match: { event: connect, cidr: [169.254.169.254/32] }, action: deny }");
    expect(compilePolicies([deny], caps, []).rules[0]!.enforcement).toBe("kernel");
    expect(() => compilePolicies([policy("{ name: c, match: { event: connect, port: [22] }, action: alert }")], caps, [])).toThrow(PolicyError);
  });
  test("capture lists", () => {
    expect(parseCaptureList("--capture", "open, cred,open")).toEqual(["open", "cred"]);
    expect(parseCaptureList("--capture", "none")).toEqual([]);
    expect(() => parseCaptureList("--capture", "none,open")).toThrow('--capture: unknown event kind "none"');
    expect(() => parseCaptureList("--capture", " , ")).toThrow("--capture: empty");
  });
  test("W3C traceparent", () => {
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" });
    expect(() => parseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01")).toThrow(/all zeros/);
    expect(() => parseTraceparent("garbage")).toThrow(/W3C/);
  });
});

import { evaluate, percentile } from "../loadtests/engine/thresholds";

describe("load thresholds (k6 syntax)", () => {
  test("trends, rates and counters pass and fail as k6 would", () => {
    const trend = { kind: "trend" as const, values: Array.from({ length: 100 }, (_, i) => i + 1) };
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(evaluate("d", "p(95)<100", trend).ok).toBe(true);
    expect(evaluate("d", "p(99)<99", trend).ok).toBe(false);
    expect(evaluate("d", "avg<=50.5", trend).ok).toBe(true);
    expect(evaluate("f", "rate<0.01", { kind: "rate", passes: 1, total: 50 }).ok).toBe(false);
    expect(evaluate("x", "count==0", { kind: "counter", count: 0 }).ok).toBe(true);
    expect(evaluate("x", "count==0", { kind: "counter", count: 2 }).ok).toBe(false);
    // No samples is a failure, never a pass by absence.
    expect(evaluate("d", "p(95)<100", { kind: "trend", values: [] }).ok).toBe(false);
    expect(evaluate("missing", "count>0", undefined).ok).toBe(false);
    expect(() => evaluate("d", "p95 < 3", trend)).toThrow(/cannot parse/);
  });
});

import { measureAgain } from "../loadtests/engine/run";

describe("load: a run is measured again only when a stalled host can explain its failure", () => {
  const latency = (ok: boolean) => ({ metric: "http_req_duration{scenario:policy_validate}", expression: "p(95)<100", actual: ok ? 20 : 113, ok });
  const errors = (ok: boolean) => ({ metric: "http_req_failed", expression: "rate<0.01", actual: ok ? 0 : 0.05, ok });
  test("latency failures on a noisy host, attempts left: again", () => {
    expect(measureAgain([latency(false), errors(true)], true, 1, 3)).toBe(true);
    expect(measureAgain([latency(false)], true, 2, 3)).toBe(true);
  });
  test("a pass, a quiet host, a failure that is not a latency, or no attempts left: final", () => {
    expect(measureAgain([latency(true), errors(true)], true, 1, 3)).toBe(false);
    expect(measureAgain([latency(false)], false, 1, 3)).toBe(false);
    expect(measureAgain([latency(false), errors(false)], true, 1, 3)).toBe(false);
    expect(measureAgain([latency(false)], true, 3, 3)).toBe(false);
  });
});

import { SyscallTally } from "../src/observer/syscall-tally";
import { LAYOUTS, TALLY_BUSY, TALLY_SLOTS } from "../src/abi/layout";

/** A struct vigil_tally as the kernel writes it: owner tid | tgid << 32, 16-bit counts, `other` past the slots. */
function tallyBytes(owner: bigint, counts: [nr: number, count: number][]): DataView {
  const T = LAYOUTS.vigil_tally;
  const C = LAYOUTS.vigil_syscall_tally.fields;
  const v = new DataView(new ArrayBuffer(T.size));
  v.setBigUint64(T.fields.owner[0], owner, true);
  for (const [nr, c] of counts) v.setUint16(T.fields.counts[0] + (nr < TALLY_SLOTS ? C.counts[0] + 2 * nr : C.other[0]), c, true);
  return v;
}
const thread = (pid: number, tid: number, counts: [number, number][]) => tallyBytes(BigInt(tid) | (BigInt(pid) << 32n), counts);

describe("syscall tally (userspace side)", () => {
  const size = LAYOUTS.vigil_tally.size;
  test("keeps exited processes' counts within its bound, counts what it lets go, and forgets a reused pid's old counts", () => {
    const t = new SyscallTally(() => new Uint8Array(0), 2);
    for (const pid of [1, 2, 3]) {
      expect(t.received(thread(pid, pid, [[0, pid]]), 0, size)).toBe(true);
      t.processExited(pid);
    }
    expect([...t.counts().keys()].sort()).toEqual([2, 3]);
    expect(t.forgotten).toBe(1);
    t.received(thread(4, 40, [[1, 5]]), 0, size); // a thread of a live process
    t.received(thread(4, 41, [[1, 7], [2, 1]]), 0, size);
    expect(t.counts().get(4)).toEqual(new Map([[1, 12], [2, 1]]));
    t.processStarted(3); // pid 3 taken by a new process
    expect(t.counts().has(3)).toBe(false);
    t.processStarted(4); // not an exited pid: its live counts stay
    expect(t.counts().get(4)?.get(1)).toBe(12);
  });
  test("adds every slot (even and odd numbers, the last slot, numbers past the slots) and a thread that outlives its process's exit", () => {
    const t = new SyscallTally(() => new Uint8Array(0));
    t.received(thread(7, 7, [[0, 1], [1, 65535], [510, 3], [511, 4], [TALLY_SLOTS, 9]]), 0, size);
    t.received(thread(7, 8, [[1, 65535], [TALLY_SLOTS, 1]]), 0, size);
    expect(t.counts().get(7)).toEqual(new Map([[0, 1], [1, 131070], [510, 3], [511, 4], [TALLY_SLOTS, 10]]));
    t.processExited(7);
    t.received(thread(7, 9, [[1, 2], [60, 1]]), 0, size);
    expect(t.counts().get(7)).toEqual(new Map([[0, 1], [1, 131072], [510, 3], [511, 4], [TALLY_SLOTS, 10], [60, 1]]));
  });
  test("free and busy ways name no thread; a short tally is a decode error; live ways are read from the cache", () => {
    const t = new SyscallTally(() => {
      const ways = new Uint8Array(3 * size);
      ways.set(new Uint8Array(thread(5, 5, [[3, 2]]).buffer), 0);
      ways.set(new Uint8Array(tallyBytes(TALLY_BUSY, [[3, 100]]).buffer), size); // being sent: its counts are on their way
      return ways; // the third way is free
    });
    expect(t.received(tallyBytes(0n, [[3, 1]]), 0, size)).toBe(false);
    expect(t.received(tallyBytes(TALLY_BUSY, [[3, 1]]), 0, size)).toBe(false);
    expect(() => t.received(thread(5, 5, []), 0, size - 1)).toThrow(/shorter/);
    t.received(thread(5, 6, [[3, 1]]), 0, size);
    expect(t.counts()).toEqual(new Map([[5, new Map([[3, 3]])]]));
  });
});

describe("Redactor: secrets cut from command lines", () => {
  const r = new Redactor();
  const cut = (argv: string[]) => r.redactArgv(argv);
  test("credential flags, both forms", () => {
    expect(cut(["mytool", "--password", "hunter2", "--token=abc123", "--api-key", "k", "--user-name", "bob"]).argv).toEqual(["mytool", "--password", "[REDACTED]", "--token=[REDACTED]", "--api-key", "[REDACTED]", "--user-name", "bob"]);
    expect(cut(["curl", "-u", "alice:pw", "https://x"]).argv).toEqual(["curl", "-u", "alice:[REDACTED]", "https://x"]);
    expect(cut(["curl", "-u", "alice", "https://x"]).argv).toEqual(["curl", "-u", "alice", "https://x"]);
  });
  test("-p is a password only where it is one", () => {
    expect(cut(["mysql", "-psecret", "-u", "root"]).argv).toEqual(["mysql", "-p[REDACTED]", "-u", "root"]);
    expect(cut(["sshpass", "-p", "secret", "ssh", "host"]).argv).toEqual(["sshpass", "-p", "[REDACTED]", "ssh", "host"]);
    expect(cut(["mkdir", "-p", "/tmp/x"]).count).toBe(0);
    expect(cut(["ssh", "-p", "2222", "host"]).count).toBe(0);
  });
  test("header lines keep their scheme, wherever they stand", () => {
    expect(cut(["curl", "-H", "Authorization: Bearer abcdefgh12345678", "-H", "Accept: */*"]).argv).toEqual(["curl", "-H", "Authorization: Bearer [REDACTED]", "-H", "Accept: */*"]);
    expect(cut(["curl", "--header=X-Api-Key: 12345"]).argv).toEqual(["curl", "--header=X-Api-Key: [REDACTED]"]);
    expect(cut(["sh", "-c", "curl -H 'authorization: token ghx' https://api && echo ok"]).argv[2]).toBe("curl -H 'authorization: token [REDACTED]' https://api && echo ok");
    expect(cut(["wget", "--header", "Cookie: session=abc; other=def"]).argv).toEqual(["wget", "--header", "Cookie: [REDACTED]"]);
  });
  test("KEY=VALUE with a secret key, in argv and inside scripts", () => {
    expect(cut(["env", "GITHUB_TOKEN=abc", "AWS_SECRET_ACCESS_KEY=xyz", "DB_PASSWORD='p w'", "PATH=/bin", "SSH_KEY=k", "KEYBOARD=us"]).argv).toEqual(["env", "GITHUB_TOKEN=[REDACTED]", "AWS_SECRET_ACCESS_KEY=[REDACTED]", "DB_PASSWORD=[REDACTED]", "PATH=/bin", "SSH_KEY=[REDACTED]", "KEYBOARD=us"]);
    expect(cut(["sh", "-c", "OPENAI_API_KEY=sk1 python agent.py"]).argv[2]).toBe("OPENAI_API_KEY=[REDACTED] python agent.py");
  });
  test("URL passwords and well-known token shapes", () => {
    expect(cut(["git", "clone", "https://me:pa55@github.com/x.git"]).argv[2]).toBe("https://me:[REDACTED]@github.com/x.git");
    expect(cut(["git", "clone", "https://github.com/x.git"]).count).toBe(0);
    const shapes = ["sk-proj-abcdefghijklmnopqrstuvwx", "sk-ant-api03-abcdefghijklmnopqrstuvwx", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz", "xoxb-1234567890-abcdef", "AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"];
    for (const s of shapes) expect(cut(["tool", `--x=${s}`]).argv[1]).toBe("--x=[REDACTED]");
    expect(cut(["echo", "sk-short"]).count).toBe(0);
  });
  test("extra patterns, the count, and off", () => {
    const custom = new Redactor({ enabled: true, patterns: ["tenant-[0-9]+"] });
    expect(custom.redactArgv(["x", "tenant-42", "tenant-x"]).argv).toEqual(["x", "[REDACTED]", "tenant-x"]);
    expect(Redactor.compile(["(", "ok"])).toHaveLength(1);
    const e = { type: "exec", argv: ["curl", "--token", "t", "https://u:p@h/"], filename: "/usr/bin/curl" } as unknown as ProcessEvent;
    r.apply(e);
    expect((e as unknown as { redacted: number }).redacted).toBe(2);
    const off = { type: "exec", argv: ["curl", "--token", "t"], filename: "/usr/bin/curl" } as unknown as ProcessEvent;
    new Redactor({ enabled: false, patterns: [] }).apply(off);
    expect((off as unknown as { argv: string[] }).argv).toEqual(["curl", "--token", "t"]);
    expect((off as unknown as { redacted?: number }).redacted).toBeUndefined();
  });
});

describe("IngestWindow: rates and losses from samples, judged by readiness", () => {
  const s = (t: number, caused: number, lost: number, events = caused, stored = caused) => ({ t: t * 1000, events, stored, caused, lost });
  test("losses over the window, judged only past minEvents, bounded by maxDropRatio", () => {
    const w = new IngestWindow({ maxDropRatio: 0.2, dropWindowSeconds: 3, minEvents: 100 });
    expect(w.losses().ratio).toBeNull();
    for (let t = 0; t <= 5; t++) w.sample(s(t, t * 1000, t < 3 ? 0 : (t - 2) * 300));
    // The last 3 s: caused 3000, lost 900 -> 30%.
    expect(w.losses()).toEqual({ windowSeconds: 3, caused: 3000, lost: 900, ratio: 0.3 });
    expect(w.lossReason()).toBe("lost 30.0% of 3000 events in the last 3 s (bound 20.0%; see vigil_events_dropped_total by stage)");
    const quiet = new IngestWindow({ maxDropRatio: 0.2, dropWindowSeconds: 3, minEvents: 100 });
    for (let t = 0; t <= 5; t++) quiet.sample(s(t, t * 10, t * 5));
    expect(quiet.losses().ratio).toBeNull(); // 30 caused: too few to judge
    expect(quiet.lossReason()).toBeNull();
    const never = new IngestWindow({ maxDropRatio: 1, dropWindowSeconds: 3, minEvents: 1 });
    for (let t = 0; t <= 5; t++) never.sample(s(t, t * 10, t * 10));
    expect(never.lossReason()).toBeNull();
  });
  test("rates over the last 10 s; loss counts from stages", () => {
    const w = new IngestWindow({ maxDropRatio: 0.2, dropWindowSeconds: 10, minEvents: 1 });
    for (let t = 0; t <= 20; t++) w.sample(s(t, t * 500, 0, t * 600, t * 400));
    expect(w.rates()).toEqual({ windowSeconds: 10, eventsPerSecond: 600, storedPerSecond: 400 });
    expect(lossCounts({ kernel_ring_full: 5, kernel_firehose_full: 2, store_queue_full: 3, stream_subscriber: 100 }, { exec: 10, open: 20 })).toEqual({ caused: 37, lost: 10 });
  });
});

import { domainHash, domainMatcher, parseDomainPattern } from "../src/enforce/domains";

describe("domain patterns (the kernel's names)", () => {
  test("a name, or *.name for any depth below it (not the name itself); case and a final dot do not count", () => {
    const m = domainMatcher(["API.openai.com.", "*.github.com"].map(parseDomainPattern));
    expect(["api.openai.com", "x.github.com", "a.b.github.com"].map(m)).toEqual([true, true, true]);
    expect(["openai.com", "github.com", "evilgithub.com", "api.openai.com.evil.net"].map(m)).toEqual([false, false, false, false]);
  });

  test("a parent's hash is a step of its child's: the hash runs from the last byte back", () => {
    // FNV-1a 64 of the empty string is the offset basis; of "a", a published value.
    expect(domainHash("")).toBe(0xcbf29ce484222325n);
    expect(domainHash("a")).toBe(0xaf63dc4c8601ec8cn);
    expect(domainHash("ab")).not.toBe(domainHash("ba"));
  });

  test("patterns the kernel cannot judge are refused with the reason", () => {
    expect(() => parseDomainPattern("api.*.com")).toThrow("a wildcard is allowed only as the first label");
    expect(() => parseDomainPattern("bad domain")).toThrow("not a domain name");
    expect(() => parseDomainPattern("*.a.b.c.d.e.f.g.h.i")).toThrow("at most 8 labels deep");
  });
});

import { suggestPolicy } from "../src/profiles/suggest";
import { ProfileBook } from "../src/profiles/profile-book";

describe("suggested allowlists", () => {
  test("from a profile: write areas, reached names and unnamed addresses, programs; refused connects left out; nothing learned is an error", () => {
    const book = new ProfileBook({ sensitivePaths: [], onFinding: () => {} });
    const base = { tid: 1, ppid: 1, uid: 0, gid: 0, cgroupId: 1, agentId: 1, ktimeNs: 0, agent: "a", comm: "x", pid: 7, ts: 1 };
    book.write({ ...base, type: "exec", filename: "/usr/bin/git", argv: ["git"], argvTruncated: false, filenameTruncated: false, oldPid: 7, ino: 1, dev: 1 });
    book.write({ ...base, type: "open", path: "/work/repo/src/a.ts", flags: 0o1101, mode: 0, dfd: -100, ret: 3, pathTruncated: false });
    book.write({ ...base, type: "open", path: "/etc/passwd", flags: 0, mode: 0, dfd: -100, ret: 3, pathTruncated: false });
    book.write({ ...base, type: "connect", family: "ipv4", address: "140.82.112.3", port: 443, fd: 3, ret: -115, domain: "github.com" });
    book.write({ ...base, type: "connect", family: "ipv4", address: "127.0.0.53", port: 53, fd: 3, ret: 0 });
    book.write({ ...base, type: "connect", family: "ipv4", address: "1.2.3.4", port: 443, fd: 3, ret: -1, domain: "evil.test" });
    const p = Bun.YAML.parse(suggestPolicy(book.get("a")!)) as { spec: { mode: string; rules: { name: string; match: Record<string, unknown> }[] } };
    expect(p.spec.mode).toBe("shadow");
    expect(Object.fromEntries(p.spec.rules.map((r) => [r.name, r.match]))).toEqual({
      writes: { event: "open", access: "write", notPath: ["/work/repo/src/**", "/dev/null"] },
      egress: { event: "connect", notDomain: ["github.com"], notCidr: ["127.0.0.53/32"] },
      programs: { event: "exec", notBinary: ["/usr/bin/git"] },
    });
    const empty = new ProfileBook({ sensitivePaths: [], onFinding: () => {} });
    empty.write({ ...base, agent: "b", type: "fork", childPid: 8 });
    expect(() => suggestPolicy(empty.get("b")!)).toThrow("has done nothing to learn an allowlist from yet");
  });
});

import { absoluteOpenPath } from "../src/proc/open-path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProcessTree as Tree } from "../src/proc/process-tree";

describe("relative open paths", () => {
  test("resolved against the process's working directory; absolute ones as they are; a process gone: null", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "vigil-cwd-"));
    const p = Bun.spawn(["sleep", "5"], { cwd });
    try {
      const tree = new Tree();
      expect(absoluteOpenPath(p.pid, -100, "src/a.ts", tree)).toBe(`${cwd}/src/a.ts`);
      expect(absoluteOpenPath(p.pid, -100, "./b", tree)).toBe(`${cwd}/b`);
      expect(absoluteOpenPath(p.pid, -100, "/etc/hosts", tree)).toBe("/etc/hosts");
      expect(absoluteOpenPath(2 ** 22 + 12345, -100, "gone", tree)).toBeNull();
    } finally {
      p.kill();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
