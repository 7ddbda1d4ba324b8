/** Pure logic: decoders' helpers, argument parsing, syscall names. No kernel needed. */
import { describe, expect, test } from "bun:test";
import { formatAddress, splitArgs, splitWaitStatus } from "../src/events/decoder";
import { parseArgs, parseSize, UsageError } from "../src/cli/args";
import { syscallName, syscallNumber } from "../src/events/syscall-names";
import { ringSize } from "../src/observer/observer";

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
    expect(parseSize("s", "4096")).toBe(4096);
    expect(parseSize("s", "64K")).toBe(65536);
    expect(parseSize("s", "16MiB")).toBe(16 << 20);
    expect(() => parseSize("s", "lots")).toThrow(/not a size/);
    expect(ringSize(5000)).toBe(8192);
    expect(ringSize(1)).toBe(4096);
  });
});

describe("syscall names", () => {
  test("from the UAPI header of this architecture", () => {
    expect(syscallName(syscallNumber("openat")!)).toBe("openat");
    expect(syscallNumber("getppid")).toBeGreaterThan(0);
    expect(syscallName(100000)).toBe("syscall_100000");
  });
});
