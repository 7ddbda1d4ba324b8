/** `vigil doctor`: what eBPF observation needs here, and whether a real load works. */
import { checkRequirements } from "../sensor/requirements";
import { Observer } from "../observer/observer";
import { DEFAULT_OBJECT_PATH } from "../sensor/sensor";
import { existsSync, readdirSync } from "node:fs";
import { BPFFS } from "../kernel/bpffs";
import { probeCapabilities } from "../sensor/capabilities";

export function doctor(): number {
  const reqs = checkRequirements(DEFAULT_OBJECT_PATH);
  for (const r of reqs) console.log(`${r.ok ? "ok  " : "FAIL"} ${r.name.padEnd(11)} ${r.detail}`);
  if (reqs.some((r) => !r.ok)) return 1;
  const o = new Observer({ onEvent: () => {}, syscalls: "aggregate" });
  try {
    o.start();
    const st = o.stats();
    console.log(`ok   load        ${st.attachedPrograms} programs attached and detached`);
    // The generic form works everywhere but costs every syscall a BPF run at exit: say why it was chosen.
    if (st.exitHook === "perSyscall") console.log("ok   exit hook   one trace event per open and connect syscall (syscalls:sys_exit_*)");
    else console.log(`warn exit hook   generic sys_exit (every syscall pays it): ${st.exitHookReason ?? "forced"}`);
    const ll = probeCapabilities().landlock;
    console.log(`${ll.ok ? "ok  " : "warn"} landlock    ${ll.ok ? `${ll.detail}: deny on open (workspace allowlists) for vigil run` : ll.detail}`);
    printPins();
    return 0;
  } catch (e) {
    console.log(`FAIL load        ${(e as Error).message}`);
    return 1;
  } finally {
    o.stop();
  }
}

/**
 * What daemons pinned (fail-closed): enforcement in force with no daemon running after a crash, taken back
 * by the next daemon on the same data directory; a clean stop removes it.
 */
function printPins(): void {
  const root = `${BPFFS}/vigil`;
  const instances = existsSync(root) ? readdirSync(root) : [];
  if (!instances.some((i) => readdirSync(`${root}/${i}`).length)) {
    console.log("ok   pinned      nothing (no daemon's enforcement outlives it now)");
    return;
  }
  for (const i of instances) {
    const pins = readdirSync(`${root}/${i}`);
    if (!pins.length) continue;
    const links = pins.filter((p) => p.startsWith("link-"));
    console.log(`info pinned      ${root}/${i}: ${links.length} links (${links.join(", ")}), ${pins.length - links.length} maps; kept in force until that daemon restarts or stops`);
  }
}
