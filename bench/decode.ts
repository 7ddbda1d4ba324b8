/**
 * Userspace decode throughput on recorded ring data: records captured from a
 * real workload (raw bytes, as the ring holds them), then decoded repeatedly.
 */
import { OwnedCgroup } from "../src/cgroup/cgroup";
import { EventDecoder } from "../src/events/decoder";
import { BpfObject } from "../src/kernel/bpf-object";
import { bootToWallOffsetNs } from "../src/kernel/libc";
import { RingBufferConsumer } from "../src/ring/ring-buffer-consumer";
import { CgroupScope } from "../src/sensor/cgroup-scope";
import { runIn, table, writeReport } from "./lib";
import { DEFAULT_OBJECT_PATH } from "../src/sensor/sensor";
import { attachExitHook, chooseExitHook, classifiedSyscalls, PROGRAMS, selectExitHook, syscallClassTable } from "../src/sensor/programs";

export async function benchDecode(quick: boolean): Promise<Record<string, unknown>> {
  const cg = OwnedCgroup.create(`bench-decode-${process.pid}`);
  const obj = BpfObject.open(DEFAULT_OBJECT_PATH);
  const records: Uint8Array[] = [];
  let scope: CgroupScope | null = null;
  try {
    obj.setConstant("observer_tgid", process.pid);
    obj.setConstant("filter_cgroups", 1);
    obj.setConstant("syscall_mode", 0);
    obj.map("events").setMaxEntries(64 << 20);
    const exitHook = chooseExitHook().form;
    selectExitHook(obj, exitHook);
    // Classify openat so that opens are recorded too (as the observer does).
    obj.setConstantBytes("syscall_classes", syscallClassTable(classifiedSyscalls().filter(({ name }) => name === "openat")));
    obj.load();
    // The scope as the observer sets it (the kernel reads the inline set first).
    scope = new CgroupScope(obj.map("observed_cgroups"), obj.map("observed_scope"));
    scope.add(cg.id);
    for (const p of PROGRAMS) obj.program(p).attach();
    attachExitHook(obj, exitHook);
    const ring = new RingBufferConsumer(obj.map("events").fd(), obj.map("events").maxEntries);
    await runIn(cg, ["/bin/sh", "-c", `i=0; while [ $i -lt ${quick ? 200 : 1000} ]; do cat /etc/hostname > /dev/null; i=$((i+1)); done`]);
    ring.drain((_v, bytes, off, len) => void records.push(bytes.slice(off, off + len)));
    ring.close();
  } finally {
    scope?.close();
    obj.close();
    await cg.remove();
  }
  // A figure over no records would be no figure at all.
  if (records.length === 0) throw new Error("bench decode: the workload produced no records to decode (scope or hooks broken?)");
  // Laid out back to back in one array, as the ring's mapping holds them (the decoder's string
  // views are made once per backing array).
  const total = records.reduce((a, r) => a + r.length, 0);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  const offsets: number[] = [];
  for (let i = 0, at = 0; i < records.length; at += records[i]!.length, i++) {
    bytes.set(records[i]!, at);
    offsets.push(at);
  }
  const decoder = new EventDecoder(Number(bootToWallOffsetNs()));
  const byType: Record<string, number> = {};
  for (let i = 0; i < records.length; i++) {
    const t = decoder.decode(view, bytes, offsets[i]!, records[i]!.length).type;
    byType[t] = (byType[t] ?? 0) + 1;
  }
  const rounds = quick ? 20 : 100;
  const t0 = performance.now();
  let sink = 0;
  for (let r = 0; r < rounds; r++) for (let i = 0; i < records.length; i++) sink += decoder.decode(view, bytes, offsets[i]!, records[i]!.length).pid;
  const ms = performance.now() - t0;
  const perSec = (records.length * rounds) / (ms / 1000);
  console.log(`\n## decode throughput: ${records.length} recorded records (${Object.entries(byType).map(([k, v]) => `${k} ${v}`).join(", ")}) x ${rounds} rounds\n`);
  console.log(table(["what", "events/s", "ns/event"], [["EventDecoder.decode (ring record -> event object)", perSec, 1e9 / perSec]]));
  const result = { records: records.length, byType, rounds, eventsPerSecond: perSec, nsPerEvent: 1e9 / perSec, checksum: sink };
  writeReport("decode", result);
  return result;
}
