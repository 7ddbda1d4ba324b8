/** `vigil doctor`: what eBPF observation needs here, and whether a real load works. */
import { checkRequirements } from "../observer/requirements";
import { DEFAULT_OBJECT_PATH, Observer } from "../observer/observer";

export function doctor(): number {
  const reqs = checkRequirements(DEFAULT_OBJECT_PATH);
  for (const r of reqs) console.log(`${r.ok ? "ok  " : "FAIL"} ${r.name.padEnd(11)} ${r.detail}`);
  if (reqs.some((r) => !r.ok)) return 1;
  const o = new Observer({ onEvent: () => {}, syscalls: "aggregate" });
  try {
    o.start();
    console.log(`ok   load        ${o.stats().attachedPrograms} programs attached and detached`);
    return 0;
  } catch (e) {
    console.log(`FAIL load        ${(e as Error).message}`);
    return 1;
  } finally {
    o.stop();
  }
}
