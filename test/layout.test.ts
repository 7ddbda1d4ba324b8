/**
 * The C event structs (bpf/vigil.h) and the TypeScript layouts
 * (src/abi/layout.ts) must agree: compare every struct field by field with
 * the BTF clang emitted into the compiled object.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { AGENT_KINDS, AgentKind, DNS_STATS, DROP_SLOTS, DropSlot, EventType, FirehoseClock, LAYOUTS, SyscallRecordBits, TALLY_BUSY, TlsDir } from "../src/abi/layout";
import { ROOT } from "./helpers";

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
}

const dump = Bun.spawnSync(["bpftool", "-j", "btf", "dump", "file", `${ROOT}/build/vigil.bpf.o`]);
if (dump.exitCode !== 0) throw new Error(`bpftool btf dump failed: ${dump.stderr.toString()}`);
const types: BtfType[] = JSON.parse(dump.stdout.toString()).types;
const byId = new Map(types.map((t) => [t.id, t]));

function sizeOf(id: number): number {
  const t = byId.get(id)!;
  switch (t.kind) {
    case "INT":
    case "STRUCT":
    case "UNION":
    case "ENUM":
      return t.size!;
    case "ARRAY":
      return t.nr_elems! * sizeOf(t.type_id!);
    case "TYPEDEF":
    case "VOLATILE":
    case "CONST":
      return sizeOf(t.type_id!);
    case "PTR":
      return 8;
  }
  throw new Error(`size of BTF kind ${t.kind}`);
}

describe("event layouts: C (BTF) == TypeScript", () => {
  for (const [name, layout] of Object.entries(LAYOUTS)) {
    test(name, () => {
      const structs = types.filter((t) => t.kind === "STRUCT" && t.name === name);
      expect(structs.length).toBeGreaterThan(0); // the struct must be in the object's BTF
      const s = structs[0]!;
      expect(s.size).toBe(layout.size);
      const fromBtf = Object.fromEntries(s.members!.map((m) => [m.name, [m.bits_offset / 8, sizeOf(m.type_id)]]));
      expect(fromBtf).toEqual(layout.fields as unknown as Record<string, [number, number]>);
    });
  }

  test("the tally cache's busy owner matches (all ones)", () => {
    expect(readFileSync(`${ROOT}/bpf/vigil.h`, "utf8")).toContain("#define VIGIL_TALLY_BUSY (~0ULL) ");
    expect(TALLY_BUSY).toBe(BigInt.asUintN(64, ~0n));
  });

  const enumValues = (name: string): Record<string, number> => {
    const e = types.find((t) => t.kind === "ENUM" && t.name === name) as BtfType & { values: { name: string; val: number }[] };
    return Object.fromEntries(e.values.map((v) => [v.name, v.val]));
  };

  test("the firehose clock knob and the record's packing match", () => {
    expect(enumValues("vigil_firehose_clock")).toEqual({ VIGIL_CLOCK_TICK: FirehoseClock.tick, VIGIL_CLOCK_EXACT: FirehoseClock.exact });
    expect(enumValues("vigil_syscall_record_bits")).toEqual({
      VIGIL_SYSCALL_TS_BITS: SyscallRecordBits.tsBits,
      VIGIL_SYSCALL_NR_SHIFT: SyscallRecordBits.nrShift,
      VIGIL_SYSCALL_NR_OTHER: SyscallRecordBits.nrOther,
      VIGIL_SYSCALL_EXACT_SHIFT: SyscallRecordBits.exactShift,
    });
  });

  test("event types match", () => {
    const expected: Record<string, number> = { VIGIL_EV_MAX: Math.max(...Object.values(EventType)) + 1 };
    for (const [name, v] of Object.entries(EventType)) expected[`VIGIL_EV_${name.toUpperCase()}`] = v;
    expect(enumValues("vigil_event_type")).toEqual(expected);
  });

  test("agent kinds match", () => {
    expect(enumValues("vigil_agent_kind")).toEqual({ VIGIL_AGENTS_BY_TGID: AgentKind.byTgid, VIGIL_AGENTS_BY_CGROUP: AgentKind.byCgroup, VIGIL_AGENT_KINDS: AGENT_KINDS });
  });

  test("TLS directions match", () => {
    expect(enumValues("vigil_tls_dir")).toEqual({ VIGIL_TLS_SENT: TlsDir.sent, VIGIL_TLS_RECEIVED: TlsDir.received });
  });

  test("drop counter slots match", () => {
    expect(enumValues("vigil_drop_reason")).toEqual({
      VIGIL_DROP_FIREHOSE_FULL: DropSlot.firehoseFull,
      VIGIL_DROP_AGGREGATE_FULL: DropSlot.aggregateFull,
      VIGIL_DROP_AGENT_FULL: DropSlot.agentFull,
      VIGIL_DROP_DNS_FULL: DropSlot.dnsFull,
      VIGIL_DROP_MAX: DROP_SLOTS,
    });
  });

  test("DNS statistics match", () => {
    const upper = (n: string) => `VIGIL_DNS_${n.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const expected: Record<string, number> = Object.fromEntries(DNS_STATS.map((n, i) => [upper(n), i]));
    expected.VIGIL_DNS_STATS = DNS_STATS.length;
    expect(enumValues("vigil_dns_stat")).toEqual(expected);
  });
});
