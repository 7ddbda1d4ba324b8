/** A finding: a policy rule hit or a deviation from an agent's baseline, with what was done about it. */
import type { ActionName } from "../abi/layout";
import type { VigilEvent } from "../events/types";
import type { Enforcement } from "./compile";
import type { Severity } from "./schema";

export interface Finding {
  id: string;
  /** Wall-clock ms. */
  ts: number;
  kind: "rule" | "deviation";
  /** `policy/rule` for rule hits, `deviation/<what>` for deviations. */
  rule: string;
  policy?: string;
  action: ActionName;
  severity: Severity;
  agent: string | null;
  pid: number;
  comm: string;
  /** The event that hit the rule (for kernel decisions: the kernel's record). */
  event: VigilEvent;
  enforcement: Enforcement;
  /** What happened, in words: "connect refused in the kernel (EPERM)", "SIGKILL before the new program ran" ... */
  outcome: string;
  span?: { traceId: string; spanId: string; name: string };
}

let seq = 0;
const boot = Date.now().toString(36);

export function findingId(): string {
  return `f-${boot}-${(++seq).toString(36)}`;
}
