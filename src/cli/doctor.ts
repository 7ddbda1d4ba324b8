/** `vigil doctor`: what eBPF observation needs here, and whether a real load works. */
import { checkRequirements } from "../sensor/requirements";
import { Observer } from "../observer/observer";
import { DEFAULT_OBJECT_PATH } from "../sensor/sensor";

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
    return 0;
  } catch (e) {
    console.log(`FAIL load        ${(e as Error).message}`);
    return 1;
  } finally {
    o.stop();
  }
}
